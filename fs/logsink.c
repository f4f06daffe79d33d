/* logsink.c - the process's log sink (see logsink.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "logsink.h"

enum sink_kind { SINK_STDERR, SINK_SYSLOG, SINK_FILE };

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* Written before the request threads start (logsink_open), read after. */
static struct {
	enum sink_kind kind;
	enum logsink_level level;
	int fd;                 /* SINK_FILE */
	char prog[32];
} sink = { SINK_STDERR, LOGSINK_INFO, -1, "lsmfs" };

int logsink_parse_level(const char *s, enum logsink_level *out)
{
	for (int i = 0; i <= LOGSINK_DEBUG; i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum logsink_level)i;
			return 0;
		}
	}
	if (!strcmp(s, "warning") || !strcmp(s, "err")) {
		*out = s[0] == 'w' ? LOGSINK_WARN : LOGSINK_ERR;
		return 0;
	}
	return -EINVAL;
}

const char *logsink_level_name(enum logsink_level lvl)
{
	return level_names[lvl <= LOGSINK_DEBUG ? lvl : LOGSINK_DEBUG];
}

int logsink_check_target(const char *target, struct lsm_err *err)
{
	if (!target || !*target)
		return lsm_err_set(err, -EINVAL, "empty log target (use syslog,"
				   " stderr or a file path)");
	return 0;
}

int logsink_open(const char *prog, const char *target,
		 enum logsink_level level, struct lsm_err *err)
{
	int fd = -1, rc = logsink_check_target(target, err);
	enum sink_kind kind = SINK_FILE;

	if (rc < 0)
		return rc;
	if (!strcmp(target, "stderr")) {
		kind = SINK_STDERR;
	} else if (!strcmp(target, "syslog")) {
		kind = SINK_SYSLOG;
	} else {
		fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0640);
		if (fd < 0)
			return lsm_err_set(err, -errno, "log file %s: %s",
					   target, strerror(errno));
	}
	logsink_close();
	snprintf(sink.prog, sizeof(sink.prog), "%s", prog);
	sink.kind = kind;
	sink.level = level;
	sink.fd = fd;
	if (kind == SINK_SYSLOG)
		openlog(sink.prog, LOG_PID, LOG_DAEMON);
	return 0;
}

bool logsink_syslog_missing(void)
{
	struct stat st;

	return sink.kind == SINK_SYSLOG &&
	       (stat("/dev/log", &st) < 0 || !S_ISSOCK(st.st_mode));
}

void logsink_close(void)
{
	if (sink.kind == SINK_FILE && sink.fd >= 0)
		close(sink.fd);
	if (sink.kind == SINK_SYSLOG)
		closelog();
	sink.fd = -1;
	sink.kind = SINK_STDERR;
}

bool logsink_enabled(enum logsink_level lvl)
{
	return lvl <= sink.level;
}

/* "2026-12-02T06:20:01.123Z" (UTC) into BUF (32 bytes). */
static void timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, size - n, ".%03dZ",
		 (int)(ts.tv_nsec / 1000000) % 1000);
}

void logsink_write(enum logsink_level lvl, const char *component,
		   const char *msg)
{
	char line[1280], ts[40];
	int n, fd;

	if (lvl > LOGSINK_DEBUG)
		lvl = LOGSINK_DEBUG;
	if (!logsink_enabled(lvl))
		return;
	if (sink.kind == SINK_SYSLOG) {
		syslog(syslog_prio[lvl], "%s %s: %s", level_names[lvl],
		       component, msg);
		return;
	}
	timestamp(ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "%s %s[%ld] %s %s: %s\n", ts,
		     sink.prog, (long)getpid(), level_names[lvl], component,
		     msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	fd = sink.kind == SINK_FILE ? sink.fd : STDERR_FILENO;
	if (write(fd, line, (size_t)n) < 0) { /* nowhere to report it */
	}
}

void logsink_printf(enum logsink_level lvl, const char *component,
		    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!logsink_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	logsink_write(lvl, component, msg);
}

void logsink_engine(void *ctx, enum lsm_log_level level, const char *msg)
{
	(void)ctx;
	logsink_write((enum logsink_level)level, "engine", msg);
}

/* rlog.c - lsmfs-replicate's log lines: "TIME LEVEL component: text" on
 * stderr or in a file, or through syslog (which stamps its own time). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "repl.h"

static FILE *out;        /* NULL: stderr */
static bool use_syslog;
static enum rlog_level max_level = RLOG_INFO;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *const names[] = { "error", "warn", "info", "debug" };

int rlog_parse_level(const char *s, enum rlog_level *out_level)
{
	for (int i = 0; i <= RLOG_DEBUG; i++)
		if (!strcmp(s, names[i])) {
			*out_level = (enum rlog_level)i;
			return 0;
		}
	return -EINVAL;
}

int rlog_init(const char *target, enum rlog_level level)
{
	max_level = level;
	if (!target || !strcmp(target, "stderr")) {
		out = NULL;
		use_syslog = false;
	} else if (!strcmp(target, "syslog")) {
		use_syslog = true;
		openlog("lsmfs-replicate", LOG_PID, LOG_DAEMON);
	} else {
		FILE *f = fopen(target, "ae");

		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
		out = f;
		use_syslog = false;
	}
	return 0;
}

void rlog(enum rlog_level lvl, const char *component, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	char line[1024], stamp[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (lvl > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (use_syslog) {
		syslog(prio[lvl], "%s: %s", component, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&mu);
	fprintf(out ? out : stderr, "%s.%03ldZ %s lsmfs-replicate[%ld] %s: %s\n",
		stamp, ts.tv_nsec / 1000000, names[lvl], (long)getpid(),
		component, line);
	pthread_mutex_unlock(&mu);
}

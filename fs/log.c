/* log.c - log lines of the daemon and of the engine: stderr in the
 * foreground (-f), syslog (daemon facility) otherwise. */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "fs.h"

static bool log_stderr = true;
static bool log_debug;

void fs_log_init(bool to_stderr, bool debug)
{
	log_stderr = to_stderr;
	log_debug = debug;
	if (!to_stderr)
		openlog("lsmfs", LOG_PID, LOG_DAEMON);
}

static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
static const char *const tag[] = { "error", "warning", "info", "debug" };

void fs_log(enum fs_log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (lvl == FS_LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_stderr)
		fprintf(stderr, "lsmfs: %s: %s\n", tag[lvl], line);
	else
		syslog(prio[lvl], "%s", line);
}

void fs_log_engine(void *ctx, enum lsm_log_level level, const char *msg)
{
	(void)ctx;
	fs_log(level <= LSM_LOG_DEBUG ? (enum fs_log_level)level : FS_LOG_DEBUG,
	       "engine: %s", msg);
}

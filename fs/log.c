/* log.c - the daemon's log lines, through the process's log sink
 * (logsink.h): -o log=syslog|stderr|FILE [stderr in the foreground,
 * syslog otherwise], -o log_level=error|warn|info|debug [info; debug
 * under -d]. */
#include <stdarg.h>
#include <stdio.h>

#include "fs.h"
#include "logsink.h"

int fs_log_init(const char *target, const char *level, bool foreground,
		bool debug)
{
	enum logsink_level lvl = debug ? LOGSINK_DEBUG : LOGSINK_INFO;
	struct lsm_err err = { 0 };

	if (level && logsink_parse_level(level, &lvl) < 0) {
		fprintf(stderr, "lsmfs: bad value '%s' for -o log_level: use "
			"error, warn, info or debug\n", level);
		return -1;
	}
	if (!target)
		target = foreground ? "stderr" : "syslog";
	if (logsink_open("lsmfs", target, lvl, &err) < 0) {
		fprintf(stderr, "lsmfs: -o log=%s: %s\n", target, err.msg);
		return -1;
	}
	if (logsink_syslog_missing())
		fprintf(stderr, "lsmfs: warning: no syslog daemon listens on "
			"/dev/log: log lines will be lost (use -o log=FILE, "
			"or -f for stderr)\n");
	return 0;
}

void fs_log_c(enum fs_log_level lvl, const char *component, const char *fmt,
	      ...)
{
	char line[1024];
	va_list ap;

	if (!logsink_enabled((enum logsink_level)lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	logsink_write((enum logsink_level)lvl, component, line);
}

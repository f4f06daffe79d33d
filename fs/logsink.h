/* logsink.h - where the log lines of lsmfs and lsmfs-ctl go: syslog,
 * stderr or a file, from a chosen level up.  Every line carries a
 * timestamp (syslog adds its own), the level and the component that
 * wrote it ("fs", "engine", "mount", ...):
 *   2026-12-02T06:20:01.123Z lsmfs[1234] info engine: flushed ...
 * One process-wide sink (a daemon or a tool has one log); lines are
 * written whole with one write(2), so threads never interleave them.
 * No FUSE here: lsmfs-ctl links it too. */
#ifndef LSMFS_LOGSINK_H
#define LSMFS_LOGSINK_H

#include <stdbool.h>

#include "lsm.h"

/* The same order as enum lsm_log_level. */
enum logsink_level {
	LOGSINK_ERR, LOGSINK_WARN, LOGSINK_INFO, LOGSINK_DEBUG
};

/* Parses "error", "warn", "info" or "debug" into *OUT; -EINVAL else. */
int logsink_parse_level(const char *s, enum logsink_level *out);
const char *logsink_level_name(enum logsink_level lvl);

/* Checks TARGET ("syslog", "stderr", or a file path) without opening
 * it; -EINVAL with ERR filled when it is empty. */
int logsink_check_target(const char *target, struct lsm_err *err);

/* Sends every later line of level LEVEL or more severe to TARGET, tagged
 * with PROG (e.g. "lsmfs"): a file is opened for appending (created
 * 0640) at once, so a later chdir or fork keeps it.  Returns 0, or a
 * negative errno with ERR filled (the previous sink stays).  Before any
 * call, lines go to stderr from level info up. */
int logsink_open(const char *prog, const char *target,
		 enum logsink_level level, struct lsm_err *err);
/* True when the sink is syslog and nothing listens at /dev/log (lines
 * would be lost). */
bool logsink_syslog_missing(void);
/* Closes a file sink (back to stderr). */
void logsink_close(void);
/* Whether a line of LVL would be written. */
bool logsink_enabled(enum logsink_level lvl);

/* Writes one line "COMPONENT: MSG" at LVL. */
void logsink_write(enum logsink_level lvl, const char *component,
		   const char *msg);
void logsink_printf(enum logsink_level lvl, const char *component,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* lsm_options.log_fn: the engine's messages, component "engine". */
void logsink_engine(void *ctx, enum lsm_log_level level, const char *msg);

#endif /* LSMFS_LOGSINK_H */

/* metrics.h - a mount's figures in the Prometheus text exposition format
 * (version 0.0.4): the filesystem's counters (lsmfs_*) and the engine's
 * (lsm_*, lsm_stats), each family once with its # HELP and # TYPE lines.
 * Read from MNT/.lsmfs/stats and, with -o metrics=[ADDR:]PORT, served
 * over HTTP (GET /metrics only, read-only) by libmicrohttpd. */
#ifndef LSMFS_METRICS_H
#define LSMFS_METRICS_H

#include <stddef.h>

#include "fs.h"

/* Renders FS's figures into a new NUL-terminated *TEXT (*LEN bytes
 * without the NUL), which the caller frees.  0 or -ENOMEM. */
int metrics_render(struct lsmfs *fs, char **text, size_t *len);

/* Parses -o metrics: "PORT", "ADDR:PORT" or "[ADDR6]:PORT" (numeric
 * addresses; 127.0.0.1 when none is given) into FS's metrics_addr and
 * metrics_port.  -1 after a one-line message on stderr. */
int metrics_parse(const char *spec, struct lsmfs *fs);

/* Starts the HTTP endpoint when -o metrics was given (a no-op else).
 * -1 after a one-line message on stderr (port in use, or lsmfs built
 * without libmicrohttpd). */
int metrics_http_start(struct lsmfs *fs);
/* Stops it (waits for a request being answered); accepts none running. */
void metrics_http_stop(struct lsmfs *fs);

#endif /* LSMFS_METRICS_H */

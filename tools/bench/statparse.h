/* statparse.h - reads the engine's lsm_stats() text ("name value" lines,
 * Prometheus exposition style) tolerantly: comments, blank lines, CRLF,
 * tabs, {labels}, a "_total" suffix, floats and exponents are accepted;
 * malformed lines are skipped, never fatal. */
#ifndef BENCH_STATPARSE_H
#define BENCH_STATPARSE_H

#include <stdint.h>

/* The value of the first line naming NAME (or NAME_total) in TEXT.
 * 0 on success, -ENOENT when no well-formed line has it. */
int statparse_get(const char *text, const char *name, double *out);

struct stat_wamp {
	double user;       /* lsm_user_written_bytes_total (or the older
			    * lsm_user_bytes_written) */
	double disk;       /* wal + flush + compaction (+ manifest) */
	double wamp;       /* disk / user, 0 when user is 0 */
};

/* Write amplification from TEXT.  Needs lsm_user_written_bytes(_total) (or lsm_user_bytes_written) and at least
 * one of the disk counters (a missing one counts as 0); -ENOENT otherwise. */
int statparse_write_amp(const char *text, struct stat_wamp *out);

#endif /* BENCH_STATPARSE_H */

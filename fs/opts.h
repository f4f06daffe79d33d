/* opts.h - lsmfs's command line: DATADIR MOUNTPOINT [-o opts], the -o
 * options that set engine and filesystem parameters, their validation,
 * and the --help text. */
#ifndef LSMFS_OPTS_H
#define LSMFS_OPTS_H

#include <fuse_lowlevel.h>

#include "fs.h"

struct lsmfs_conf {
	char *datadir;
	char *mountpoint;          /* as given, for an early check */
	int nonopts;                /* positional arguments seen */
	int ro, sync_writes, writeback, io_uring, help, version;
	char *io_uring_threads;     /* -o io_uring: threads per CPU */
	char *io_uring_s;           /* -o io_uring=0|1 (io_uring: the flag) */
	char *io_uring_idle;        /* -o io_uring_idle=0|1 */
	char *forget_wait_us;       /* -o forget_wait_us=N */
	char *memtable_size, *cache_size, *block_size, *table_size;
	char *value_log;
	char *map_tables;
	char *map_log;
	char *chunk_size, *compression, *zlib_level, *sync;
	char *sync_interval_ms, *bloom_bits, *max_open_tables, *reserve;
	char *tombstone_percent, *idle_compact_ms;
	char *attr_timeout, *entry_timeout;
	char *recover;              /* strict | point_in_time (with ro) */
	char *follow_ms;            /* ro: catch up every N ms (0: never) */
	char *log, *log_level;      /* log.c: where, and from which level */
	char *lock_timeout;         /* seconds to wait for an unmounted
				     * daemon to release the store */
	char *metrics;              /* [ADDR:]PORT of the HTTP endpoint */
	char *wal_archive, *wal_archive_age; /* log archive bounds */
	char *default_ttl;          /* seconds every new file lives */
	char *max_size, *on_full;   /* capacity bound, and what passing
				     * it does: error | evict */
	/* lsmfs-test only (-DLSMFS_TEST_POWERCUT): -o test_powercut[=SEED]
	 * (tests/fs/powercut.h); never set in the installed lsmfs */
	int test_powercut;
	char *test_powercut_seed;
};

/* Takes lsmfs's own options and DATADIR out of ARGS, leaving FUSE's
 * (mountpoint, -f, -d, -o allow_other, ro, ...).  -1 after printing a
 * one-line message. */
int opts_parse(struct fuse_args *args, struct lsmfs_conf *c);
/* Checks every value and fills the engine, namespace and daemon
 * settings; touches no file.  -1 after printing a one-line message naming
 * the option. */
int opts_apply(const struct lsmfs_conf *c, struct lsm_options *lo,
	       struct ns_options *no, struct lsmfs *fs);
void opts_usage(const char *prog);
void opts_free(struct lsmfs_conf *c);

#endif /* LSMFS_OPTS_H */

/* opts.c - parsing and checking lsmfs's -o options (see opts.h and
 * man/lsmfs.8).  Sizes take k, m or g suffixes (powers of 1024). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logsink.h"
#include "metrics.h"
#include "opts.h"

enum { KEY_HELP, KEY_VERSION, KEY_RO, KEY_DROP };

#define OPT(t, f) { t, offsetof(struct lsmfs_conf, f), 0 }

static const struct fuse_opt opt_spec[] = {
	OPT("memtable_size=%s", memtable_size),
	OPT("cache_size=%s", cache_size),
	OPT("value_log=%s", value_log),
	OPT("map_tables=%s", map_tables),
	OPT("map_log=%s", map_log),
	OPT("block_size=%s", block_size),
	OPT("table_size=%s", table_size),
	OPT("chunk_size=%s", chunk_size),
	OPT("compression=%s", compression),
	OPT("zlib_level=%s", zlib_level),
	OPT("sync=%s", sync),
	OPT("sync_interval_ms=%s", sync_interval_ms),
	OPT("bloom_bits=%s", bloom_bits),
	OPT("max_open_tables=%s", max_open_tables),
	OPT("reserve=%s", reserve),
	OPT("tombstone_percent=%s", tombstone_percent),
	OPT("idle_compact_ms=%s", idle_compact_ms),
	OPT("follow_ms=%s", follow_ms),
	OPT("wal_archive=%s", wal_archive),
	OPT("wal_archive_age=%s", wal_archive_age),
	OPT("attr_timeout=%s", attr_timeout),
	OPT("entry_timeout=%s", entry_timeout),
	OPT("recover=%s", recover),
	OPT("log=%s", log),
	OPT("log_level=%s", log_level),
	OPT("lock_timeout=%s", lock_timeout),
	OPT("metrics=%s", metrics),
	OPT("default_ttl=%s", default_ttl),
	OPT("max_size=%s", max_size),
	OPT("on_full=%s", on_full),
	OPT("io_uring_threads=%s", io_uring_threads),
	OPT("io_uring=%s", io_uring_s),
	OPT("io_uring_idle=%s", io_uring_idle),
	OPT("forget_wait_us=%s", forget_wait_us),
	{ "sync_writes", offsetof(struct lsmfs_conf, sync_writes), 1 },
	{ "writeback", offsetof(struct lsmfs_conf, writeback), 1 },
	{ "io_uring", offsetof(struct lsmfs_conf, io_uring), 1 },
#ifdef LSMFS_TEST_POWERCUT
	{ "test_powercut", offsetof(struct lsmfs_conf, test_powercut), 1 },
	OPT("test_powercut=%s", test_powercut_seed),
#endif
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("ro", KEY_RO),
	/* fstab words that mean nothing to FUSE */
	FUSE_OPT_KEY("defaults", KEY_DROP),
	FUSE_OPT_KEY("auto", KEY_DROP),
	FUSE_OPT_KEY("noauto", KEY_DROP),
	FUSE_OPT_KEY("nofail", KEY_DROP),
	FUSE_OPT_KEY("_netdev", KEY_DROP),
	FUSE_OPT_KEY("user", KEY_DROP),
	FUSE_OPT_KEY("users", KEY_DROP),
	FUSE_OPT_END
};

static int proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct lsmfs_conf *c = data;

	(void)out;
	switch (key) {
	case KEY_HELP:
		c->help = 1;
		return 0;
	case KEY_VERSION:
		c->version = 1;
		return 0;
	case KEY_RO:
		c->ro = 1;
		return 1; /* the kernel mounts read-only too */
	case KEY_DROP:
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (c->nonopts++ == 0) {
			c->datadir = strdup(arg);
			return 0;
		}
		if (c->nonopts == 2) {
			c->mountpoint = strdup(arg);
			return 1;
		} /* the mountpoint, for fuse_parse_cmdline */
		fprintf(stderr, "lsmfs: unexpected argument '%s'\n", arg);
		return -1;
	default:
		return 1;
	}
}

int opts_parse(struct fuse_args *args, struct lsmfs_conf *c)
{
	memset(c, 0, sizeof(*c));
	if (fuse_opt_parse(args, c, opt_spec, proc) < 0)
		return -1;
	return 0;
}

void opts_free(struct lsmfs_conf *c)
{
	char **f[] = { &c->datadir, &c->mountpoint, &c->memtable_size, &c->cache_size,
		       &c->value_log, &c->map_tables, &c->map_log,
		       &c->block_size, &c->table_size, &c->chunk_size,
		       &c->compression, &c->zlib_level, &c->sync,
		       &c->sync_interval_ms, &c->bloom_bits,
		       &c->max_open_tables, &c->reserve, &c->attr_timeout,
		       &c->entry_timeout, &c->recover, &c->follow_ms,
		       &c->log, &c->log_level, &c->lock_timeout, &c->metrics,
		       &c->wal_archive, &c->wal_archive_age,
		       &c->test_powercut_seed, &c->tombstone_percent,
		       &c->idle_compact_ms, &c->default_ttl, &c->max_size,
		       &c->on_full, &c->io_uring_threads, &c->io_uring_s,
		       &c->io_uring_idle, &c->forget_wait_us };

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		free(*f[i]);
		*f[i] = NULL;
	}
}

static int bad(const char *name, const char *val, const char *why)
{
	fprintf(stderr, "lsmfs: bad value '%s' for -o %s: %s\n", val, name,
		why);
	return -1;
}

/* Parses S ("64k", "8M", "1g", "4096") into *OUT within [MIN, MAX]. */
static int size_opt(const char *name, const char *s, unsigned long long min,
		    unsigned long long max, unsigned long long *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || s[0] == '-')
		return bad(name, s, "not a size");
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'b' || *end == 'B')
		end += (*end == 'i' && (end[1] == 'B' || end[1] == 'b')) ? 2 : 1;
	if (*end != '\0')
		return bad(name, s, "not a size (use e.g. 4096, 64k, 8M, 1G)");
	if (v > max / mul || v * mul < min || v * mul > max) {
		char why[96];

		snprintf(why, sizeof(why), "must be in [%llu, %llu] bytes",
			 min, max);
		return bad(name, s, why);
	}
	*out = v * mul;
	return 0;
}

static int num_opt(const char *name, const char *s, unsigned long min,
		   unsigned long max, unsigned long *out)
{
	unsigned long long v;
	char *end;

	if (!s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || *end || errno || s[0] == '-' || v < min || v > max) {
		char why[64];

		snprintf(why, sizeof(why), "an integer in [%lu, %lu]", min, max);
		return bad(name, s, why);
	}
	*out = (unsigned long)v;
	return 0;
}

static int secs_opt(const char *name, const char *s, double *out)
{
	char *end;
	double v;

	if (!s)
		return 0;
	v = strtod(s, &end);
	if (end == s || *end || !(v >= 0 && v <= 3600))
		return bad(name, s, "seconds in [0, 3600]");
	*out = v;
	return 0;
}

static int enum_opts(const struct lsmfs_conf *c, struct lsm_options *lo)
{
	enum logsink_level lvl;

	if (c->log_level && logsink_parse_level(c->log_level, &lvl) < 0)
		return bad("log_level", c->log_level,
			   "use error, warn, info or debug");
	if (c->log && !*c->log)
		return bad("log", c->log, "use syslog, stderr or a file path");
	if (c->compression) {
		if (!strcmp(c->compression, "none"))
			lo->compression = LSM_COMPRESS_NONE;
		else if (!strcmp(c->compression, "zlib"))
			lo->compression = LSM_COMPRESS_ZLIB;
		else
			return bad("compression", c->compression,
				   "use none or zlib");
	}
	if (c->sync) {
		if (!strcmp(c->sync, "always"))
			lo->sync = LSM_SYNC_ALWAYS;
		else if (!strcmp(c->sync, "manual") || !strcmp(c->sync, "fsync"))
			lo->sync = LSM_SYNC_MANUAL;
		else if (!strcmp(c->sync, "interval"))
			lo->sync = LSM_SYNC_INTERVAL;
		else
			return bad("sync", c->sync,
				   "use always, manual or interval");
	}
	if (c->sync_writes)
		lo->sync = LSM_SYNC_ALWAYS;
	if (c->recover) {
		if (!strcmp(c->recover, "strict"))
			lo->wal_recovery = LSM_WAL_STRICT;
		else if (!strcmp(c->recover, "point_in_time"))
			lo->wal_recovery = LSM_WAL_POINT_IN_TIME;
		else
			return bad("recover", c->recover,
				   "use strict or point_in_time");
		if (lo->wal_recovery != LSM_WAL_STRICT && !c->ro)
			return bad("recover", c->recover, "needs -o ro (to "
				   "repair the store, see lsmfs-ctl repair)");
	}
	return 0;
}

/* Expiry and capacity: -o default_ttl, max_size, on_full. */
static int cache_opts(const struct lsmfs_conf *c, struct ns_options *no)
{
	unsigned long long sz = 0;
	unsigned long n = 0;

	if (num_opt("default_ttl", c->default_ttl, 0, 100ul * 365 * 86400,
		    &n) < 0)
		return -1;
	no->default_ttl = n;
	if (size_opt("max_size", c->max_size, 0, 1ull << 60, &sz) < 0)
		return -1;
	no->max_size = sz;
	if (c->on_full) {
		if (!strcmp(c->on_full, "evict"))
			no->on_full_evict = true;
		else if (strcmp(c->on_full, "error") != 0)
			return bad("on_full", c->on_full, "use error or evict");
		if (!c->max_size)
			return bad("on_full", c->on_full, "needs -o max_size");
	}
	if (c->ro && (c->default_ttl || c->max_size))
		return bad(c->default_ttl ? "default_ttl" : "max_size",
			   c->default_ttl ? c->default_ttl : c->max_size,
			   "not with -o ro (a read-only mount creates and "
			   "writes nothing)");
	return 0;
}

int opts_apply(const struct lsmfs_conf *c, struct lsm_options *lo,
	       struct ns_options *no, struct lsmfs *fs)
{
	unsigned long long sz;
	unsigned long n;

#define SIZE(f, name, lo_, hi_, dst) \
	do { \
		sz = 0; \
		if (size_opt(name, c->f, lo_, hi_, &sz) < 0) \
			return -1; \
		if (c->f) \
			dst = sz; \
	} while (0)
#define NUM(f, name, lo_, hi_, dst) \
	do { \
		n = 0; \
		if (num_opt(name, c->f, lo_, hi_, &n) < 0) \
			return -1; \
		if (c->f) \
			dst = n; \
	} while (0)

	SIZE(memtable_size, "memtable_size", 64ull << 10, 1ull << 30,
	     lo->memtable_bytes);
	SIZE(cache_size, "cache_size", 0, 64ull << 30, lo->cache_bytes);
	SIZE(value_log, "value_log", 0, 1ull << 30, lo->value_log_min_bytes);
	NUM(map_tables, "map_tables", 0, 1, lo->map_tables);
	NUM(map_log, "map_log", 0, 1, lo->map_log);
	SIZE(block_size, "block_size", 512, 1ull << 20, lo->block_bytes);
	SIZE(table_size, "table_size", 64ull << 10, 1ull << 30,
	     lo->table_bytes);
	SIZE(chunk_size, "chunk_size", CODEC_MIN_CHUNK, CODEC_MAX_CHUNK,
	     no->chunk_size);
	if (no->chunk_size & (no->chunk_size - 1))
		return bad("chunk_size", c->chunk_size, "not a power of two");
	NUM(zlib_level, "zlib_level", 0, 9, lo->zlib_level);
	NUM(sync_interval_ms, "sync_interval_ms", 1, 60000,
	    lo->sync_interval_ms);
	NUM(bloom_bits, "bloom_bits", 0, 64, lo->bloom_bits_per_key);
	NUM(max_open_tables, "max_open_tables", 16, 1000000,
	    lo->max_open_tables);
	SIZE(reserve, "reserve", 0, 64ull << 30, lo->reserve_bytes);
	/* Log segments are kept a while after a flush, for replicas that
	 * are behind or restart (lsmfs-replicate). */
	lo->wal_archive_bytes = FS_WAL_ARCHIVE_BYTES;
	lo->wal_archive_seconds = FS_WAL_ARCHIVE_SECONDS;
	SIZE(wal_archive, "wal_archive", 0, 1ull << 50, lo->wal_archive_bytes);
	NUM(wal_archive_age, "wal_archive_age", 0, 10u * 365 * 86400,
	    lo->wal_archive_seconds);
	NUM(tombstone_percent, "tombstone_percent", 0, 100,
	    lo->tombstone_percent);
	NUM(idle_compact_ms, "idle_compact_ms", 0, 86400000,
	    lo->idle_compaction_ms);
	lo->follow_interval_ms = FS_FOLLOW_MS;
	NUM(follow_ms, "follow_ms", 0, 3600000, lo->follow_interval_ms);
	if (c->follow_ms && !c->ro)
		return bad("follow_ms", c->follow_ms, "only with -o ro");
	/* A read-only mount follows the store (another mount or a
	 * replicator may be writing it): the kernel keeps nothing it would
	 * have to be told about, unless asked to. */
	if (c->ro && lo->follow_interval_ms) {
		lo->follow = true;
		lo->follow_key_fn = fs_follow_key;
		lo->follow_ctx = fs;
		fs->follow = true;
		/* what changed is invalidated key by key (follow.c); names
		 * alone may wait for this after the writer flushed records
		 * the follower never saw */
		fs->entry_timeout = FS_FOLLOW_ENTRY_TIMEOUT;
		/* attributes are not cached at all: a lookup answered just
		 * before a catch-up can reach the kernel after that
		 * catch-up's invalidation of a new inode, and its stale size
		 * would then stand until the entry expires (seen: files read
		 * back empty for up to a second under a steady load) */
		fs->attr_timeout = 0;
	}
#undef SIZE
#undef NUM
	if (c->writeback && c->ro)
		return bad("writeback", "1", "not with -o ro");
	fs->writeback = c->writeback;
	/* on when the kernel offers it (its administrator turned it on) */
	fs->io_uring = true;
	fs->io_uring_asked = c->io_uring != 0;
	n = 1;
	if (num_opt("io_uring", c->io_uring_s, 0, 1, &n) < 0)
		return -1;
	if (c->io_uring_s) {
		fs->io_uring = n != 0;
		fs->io_uring_asked = n != 0;
	}
	fs->uring_threads = FS_URING_THREADS;
	n = 0;
	if (num_opt("io_uring_threads", c->io_uring_threads, 1, 64, &n) < 0)
		return -1;
	if (c->io_uring_threads)
		fs->uring_threads = (unsigned)n;
	n = 1;
	if (num_opt("io_uring_idle", c->io_uring_idle, 0, 1, &n) < 0)
		return -1;
	fs->uring_idle = n != 0;
	n = FS_FORGET_WAIT_US;
	if (num_opt("forget_wait_us", c->forget_wait_us, 0, 100000, &n) < 0)
		return -1;
	fs->forget_wait_us = (unsigned)n;
	fs->lock_timeout = FS_DEFAULT_LOCK_TIMEOUT;
	if (secs_opt("attr_timeout", c->attr_timeout, &fs->attr_timeout) < 0 ||
	    secs_opt("entry_timeout", c->entry_timeout, &fs->entry_timeout) < 0 ||
	    secs_opt("lock_timeout", c->lock_timeout, &fs->lock_timeout) < 0)
		return -1;
	if (c->metrics && metrics_parse(c->metrics, fs) < 0)
		return -1;
	if (cache_opts(c, no) < 0)
		return -1;
	return enum_opts(c, lo);
}

void opts_usage(const char *prog)
{
	printf("usage: %s DATADIR MOUNTPOINT [-f] [-d] [-s] [-o opt[,opt...]]\n"
	       "\n"
	       "Mounts the lsmfs store in DATADIR (formatted when empty) at\n"
	       "MOUNTPOINT.  Filesystem options (defaults in brackets):\n"
	       "    -o ro                   read-only mount and store\n"
	       "    -o recover=MODE         a damaged log: strict refuses\n"
	       "                            [strict]; point_in_time (with ro)\n"
	       "                            shows what precedes the damage\n"
	       "    -o sync=POLICY          when writes are durable [manual]:\n"
	       "                              always   before each write returns\n"
	       "                              manual   at fsync/fdatasync (and\n"
	       "                                       memtable flushes)\n"
	       "                              interval every sync_interval_ms\n"
	       "    -o sync_writes          same as sync=always\n"
	       "    -o writeback            the kernel's writeback cache: writes\n"
	       "                            return before lsmfs has them (a\n"
	       "                            crash of lsmfs loses them) [off]\n"
	       "    -o io_uring=0|1         requests over io_uring, a queue per\n"
	       "                            CPU, when the kernel offers it\n"
	       "                            (Linux 6.14+, fuse enable_uring=Y);\n"
	       "                            1 also says so when it does not [on]\n"
	       "    -o io_uring_threads=N   threads per CPU serving them, each\n"
	       "                            one request at a time, 1-64 [8]\n"
	       "    -o io_uring_idle=0|1    those threads in the idle scheduling\n"
	       "                            class, so a reply does not move the\n"
	       "                            program to another CPU [1]\n"
	       "    -o forget_wait_us=N     with those rings, wait N us after\n"
	       "                            the kernel's FORGETs before reading\n"
	       "                            more, so that it gathers the next\n"
	       "                            ones into one message; 0 at once\n"
	       "                            [1000]\n"
	       "    -o sync_interval_ms=N   [100]\n"
	       "    -o attr_timeout=SECS    kernel attribute cache [60]\n"
	       "    -o entry_timeout=SECS   kernel name cache [60]\n"
	       "    -o follow_ms=N          with ro: show what another process\n"
	       "                            writes, catching up every N ms,\n"
	       "                            0 never [100]; entry_timeout\n"
	       "                            then [1]\n"
	       "    -o chunk_size=SIZE      file data chunk, power of two in\n"
	       "                            [4k, 1M]; fixed when formatting\n"
	       "                            [4k]; another value is refused\n"
	       "    -o lock_timeout=SECS    wait this long for an unmounted\n"
	       "                            lsmfs to close the store [10]\n"
	       "Expiry and capacity (cache directories):\n"
	       "    -o default_ttl=SECS     every new file expires SECS after\n"
	       "                            its creation, 0 never [0]; per\n"
	       "                            file: setfattr -n user.lsmfs.ttl\n"
	       "    -o max_size=SIZE        bound on the bytes of file data\n"
	       "                            (st_blocks of all files), 0 none [0]\n"
	       "    -o on_full=error|evict  past max_size: the write fails with\n"
	       "                            ENOSPC, or evicts unopened files,\n"
	       "                            least recently used first [error]\n"
	       "Logs and metrics:\n"
	       "    -o log=WHERE            syslog, stderr or a file path\n"
	       "                            [stderr with -f, else syslog]\n"
	       "    -o log_level=LEVEL      error, warn, info or debug\n"
	       "                            [info; debug with -d]\n"
	       "    -o metrics=[ADDR:]PORT  serve GET /metrics over HTTP\n"
	       "                            (ADDR [127.0.0.1])\n"
	       "Engine options:\n"
	       "    -o memtable_size=SIZE   [64M; two may be in memory]\n"
	       "    -o cache_size=SIZE      block cache [32M]\n"
	       "    -o value_log=SIZE       file data of SIZE and more is written\n"
	       "                            once, kept in the log; marks the store\n"
	       "                            (older builds refuse it); 0 turns it\n"
	       "                            off [4k: every whole chunk]\n"
	       "    -o map_tables=0|1       read table blocks through a mapping\n"
	       "                            instead of pread [0]\n"
	       "    -o map_log=0|1          log small writes through a mapping\n"
	       "                            instead of pwrite [0]\n"
	       "    -o block_size=SIZE      table data block [4k]\n"
	       "    -o table_size=SIZE      compaction output table [16M]\n"
	       "    -o compression=none|zlib [none]\n"
	       "    -o zlib_level=N         0-9 [1]\n"
	       "    -o bloom_bits=N         bloom filter bits per key, 0 off [10]\n"
	       "    -o max_open_tables=N    [512]\n"
	       "    -o reserve=SIZE         disk space held back for a full\n"
	       "                            disk, 0 none [memtable + 4 tables]\n"
	       "    -o wal_archive=SIZE     log kept after flushes for replicas\n"
	       "                            (lsmfs-replicate), 0 none [64M]\n"
	       "    -o wal_archive_age=SECS and at most this old, 0 any [86400]\n"
	       "    -o tombstone_percent=N  compact a table once N%% of its\n"
	       "                            entries are deletions, 0 never [20]\n"
	       "    -o idle_compact_ms=N    after N ms without writes, push\n"
	       "                            deletions down until space is back,\n"
	       "                            0 never [5000]\n"
#ifdef LSMFS_TEST_POWERCUT
	       "Test build only:\n"
	       "    -o test_powercut[=SEED] SIGUSR1 cuts the power (unsynced\n"
	       "                            data lost, all or, with SEED, some)\n"
#endif
	       "Statistics: cat MOUNTPOINT/.lsmfs/stats\n"
	       "\n"
	       "FUSE options (default_permissions is always on):\n", prog);
	fflush(stdout);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

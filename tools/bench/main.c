/* main.c - lsmfs-bench: db_bench-style flags, the run header (machine,
 * settings of every engine), one forked child per engine and repetition
 * (so peak RSS is per engine), engines alternated across repetitions,
 * medians, and the outputs (table, CSV, JSON, SVG).  `lsmfs-bench fs
 * DIR...` runs the filesystem workloads instead (fsbench.c). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_version.h"
#include "workload.h"

#define MAX_LIST 64

const struct bench_engine *const bench_engines[] = {
	&eng_lsm,
	&eng_lsm_mmap,
#ifdef HAVE_LEVELDB
	&eng_leveldb,
	&eng_leveldb_verify,
#endif
#ifdef HAVE_ROCKSDB
	&eng_rocksdb,
#endif
#ifdef HAVE_LMDB
	&eng_lmdb,
#endif
	NULL,
};

const struct bench_engine *bench_engine_find(const char *name)
{
	for (int i = 0; bench_engines[i]; i++)
		if (strcmp(bench_engines[i]->name, name) == 0)
			return bench_engines[i];
	return NULL;
}

const char *eng_fmt_bytes(size_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (u < 4 && v >= 1024) {
		v /= 1024;
		u++;
	}
	if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%.0f %s", v, unit[u]);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static void usage(FILE *f)
{
	fputs("usage: lsmfs-bench [--benchmarks=LIST] [--engines=LIST] "
	      "[--num=N] [FLAGS]\n"
	      "       lsmfs-bench fs [LABEL=]DIR... [FLAGS]\n"
	      "engine workloads: fillseq fillrandom overwrite readrandom "
	      "readmissing\n"
	      "  readseq seekrandom deleterandom compact\n"
	      "fs workloads: create_1dir stat_1dir read_1dir list_1dir "
	      "overwrite_1dir\n"
	      "  delete_1dir create_tree ... delete_tree untar untar_read "
	      "rmtree\n  stream_write"
	      "  stream_read randwrite_4k randread_4k\n"
	      "flags: --num= --reads= --key_size= --value_size= --threads= "
	      "--sync=0|1\n"
	      "  --db=DIR --use_existing_db --cache_size= "
	      "--write_buffer_size=\n"
	      "  --bloom_bits= --compression=none|zlib --compression_ratio=\n"
	      "  --distribution=uniform|zipfian|latest --seed= --repeat=N\n"
	      "  --json=FILE --csv=FILE --svg=FILE --progress=0|1\n"
	      "  --file_size= --files_per_dir= --stream_size= --tar_source=DIR "
	      "--drop_caches=1\n  --rand_secs=N --cpu_pid=PID\n"
	      "see lsmfs-bench(1).\n", f);
}

/* "123", "8M", "4MiB", "1G" -> bytes/count; -EINVAL when malformed. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'G': case 'g':
		v <<= 10; /* fallthrough */
	case 'M': case 'm':
		v <<= 10; /* fallthrough */
	case 'K': case 'k':
		v <<= 10;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool parse_bool(const char *v)
{
	return !v || strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
	       strcmp(v, "yes") == 0;
}

struct flag_ctx {
	struct bench_args *a;
	bool num_set, reads_set;
};

static int flag_size(const char *name, const char *v, uint64_t *out)
{
	if (!v || parse_size(v, out) < 0) {
		fprintf(stderr, "lsmfs-bench: --%s needs a number\n", name);
		return -EINVAL;
	}
	return 0;
}

/* Flags with a numeric value. */
static int flag_numeric(struct flag_ctx *fc, const char *n, const char *v)
{
	struct bench_args *a = fc->a;
	struct bench_config *c = &a->cfg;
	uint64_t x;
	int rc = flag_size(n, v, &x);

	if (rc < 0)
		return rc;
	if (strcmp(n, "num") == 0)
		c->num = x, fc->num_set = true;
	else if (strcmp(n, "reads") == 0)
		c->reads = x, fc->reads_set = true;
	else if (strcmp(n, "key_size") == 0)
		c->key_size = (unsigned)x;
	else if (strcmp(n, "value_size") == 0)
		c->value_size = (unsigned)x;
	else if (strcmp(n, "threads") == 0)
		c->threads = (unsigned)x;
	else if (strcmp(n, "cache_size") == 0)
		c->cache_size = x;
	else if (strcmp(n, "write_buffer_size") == 0)
		c->write_buffer_size = x;
	else if (strcmp(n, "bloom_bits") == 0)
		c->bloom_bits = (unsigned)x;
	else if (strcmp(n, "seed") == 0)
		c->seed = x;
	else if (strcmp(n, "repeat") == 0)
		a->repeat = (unsigned)x;
	else if (strcmp(n, "file_size") == 0)
		a->file_size = x;
	else if (strcmp(n, "files_per_dir") == 0)
		a->files_per_dir = (unsigned)x;
	else if (strcmp(n, "stream_size") == 0)
		a->stream_bytes = x;
	else if (strcmp(n, "rand_secs") == 0)
		a->rand_secs = x;
	else if (strcmp(n, "cpu_pid") == 0)
		a->cpu_pid = (long)x;
	else
		return 1;
	return 0;
}

/* Flags with a text value. */
static int flag_text(struct flag_ctx *fc, const char *n, const char *v)
{
	struct bench_args *a = fc->a;
	enum key_dist d;

	if (strcmp(n, "sync") == 0)
		a->cfg.sync = parse_bool(v);
	else if (strcmp(n, "use_existing_db") == 0)
		a->cfg.use_existing_db = parse_bool(v);
	else if (strcmp(n, "progress") == 0)
		a->progress = parse_bool(v);
	else if (strcmp(n, "drop_caches") == 0)
		a->drop_caches = parse_bool(v);
	else if (!v)
		return 1;
	else if (strcmp(n, "benchmarks") == 0)
		a->benchmarks = v;
	else if (strcmp(n, "engines") == 0)
		a->engines = v;
	else if (strcmp(n, "db") == 0)
		a->db = v;
	else if (strcmp(n, "json") == 0)
		a->json = v;
	else if (strcmp(n, "csv") == 0)
		a->csv = v;
	else if (strcmp(n, "svg") == 0)
		a->svg = v;
	else if (strcmp(n, "tar_source") == 0)
		a->tar_source = v;
	else if (strcmp(n, "compression_ratio") == 0)
		a->cfg.compression_ratio = strtod(v, NULL);
	else if (strcmp(n, "compression") == 0)
		a->cfg.compression = strcmp(v, "none") != 0;
	else if (strcmp(n, "distribution") == 0) {
		if (wl_dist_parse(v, &d) < 0)
			return 1;
		a->cfg.distribution = d;
	} else
		return 1;
	if (strcmp(n, "compression") == 0 && strcmp(v, "none") &&
	    strcmp(v, "zlib"))
		return 1;
	return 0;
}

static int parse_flag(struct flag_ctx *fc, const char *arg)
{
	const char *eq = strchr(arg + 2, '='), *val = eq ? eq + 1 : NULL;
	size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	char name[64];
	int rc = 1;

	if (len < sizeof(name)) {
		memcpy(name, arg + 2, len);
		name[len] = 0;
		rc = flag_text(fc, name, val);
		if (rc == 1)
			rc = flag_numeric(fc, name, val);
	}
	if (rc == 1) {
		fprintf(stderr, "lsmfs-bench: bad flag %s\n", arg);
		return -EINVAL;
	}
	return rc;
}

static void args_defaults(struct bench_args *a)
{
	static char db[PATH_MAX];
	const char *tmp = getenv("TMPDIR");

	memset(a, 0, sizeof(*a));
	a->cfg.num = 1000000;
	a->cfg.key_size = 16;
	a->cfg.value_size = 100;
	a->cfg.compression_ratio = 0.5;
	a->cfg.threads = 1;
	a->cfg.cache_size = 8u << 20;
	a->cfg.write_buffer_size = 4u << 20;
	a->cfg.bloom_bits = 10;
	a->cfg.seed = 301;
	a->repeat = 1;
	a->progress = isatty(2);
	a->file_size = 1024;
	a->files_per_dir = 100;
	a->stream_bytes = 256u << 20;
	a->tar_source = "/usr/include";
	snprintf(db, sizeof(db), "%s/lsmfs-bench-%u", tmp ? tmp : "/tmp",
		 (unsigned)getuid());
	a->db = db;
}

/* Splits a comma list in place; returns the count (at most MAX_LIST). */
static int split_list(char *s, char **out)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok && n < MAX_LIST;
	     tok = strtok(NULL, ","))
		if (*tok)
			out[n++] = tok;
	return n;
}

static const char *fs_type_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	case 0x65735546: return "fuse";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	default: return "other";
	}
}

static void print_machine(FILE *f, const char *dir)
{
	struct utsname u;
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	time_t now = time(NULL);
	char when[64];

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&now));
	uname(&u);
	fprintf(f, "lsmfs-bench %s (%s)  %s\n", BENCH_VERSION, BENCH_GIT, when);
	fprintf(f, "machine: %ld CPUs, %.1f GiB RAM, %s %s; data dir %s (%s)\n",
		sysconf(_SC_NPROCESSORS_ONLN),
		(double)pages * (double)psz / (1 << 30), u.sysname, u.release,
		dir, fs_type_name(dir));
}

static void print_settings(FILE *f, const struct bench_args *a)
{
	const struct bench_config *c = &a->cfg;
	double data = (double)c->num * (c->key_size + c->value_size);

	fprintf(f, "keys %u B, values %u B (compression_ratio %.2f), num %"
		PRIu64 ", reads %" PRIu64 ", threads %u, distribution %s, "
		"sync %d, repeat %u, seed %" PRIu64 "\n", c->key_size,
		c->value_size, c->compression_ratio, c->num, c->reads,
		c->threads, wl_dist_name((enum key_dist)c->distribution),
		c->sync, a->repeat, c->seed);
	fprintf(f, "raw data %.1f MiB: it fits in the page cache, so reads "
		"are warm unless caches are dropped\n", data / 1048576);
}

/* Reads struct bench_result records from FD until EOF into *RES. */
static int collect(int fd, struct bench_result **res, size_t *n)
{
	struct bench_result r, *p;
	size_t got = 0;
	ssize_t k;
	int count = 0;

	for (;;) {
		k = read(fd, (char *)&r + got, sizeof(r) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
		if (got < sizeof(r))
			continue;
		got = 0;
		p = realloc(*res, (*n + 1) * sizeof(**res));
		if (!p)
			return -ENOMEM;
		*res = p;
		r.settings = NULL;
		(*res)[(*n)++] = r;
		count++;
	}
	return count;
}

static int add_failures(struct bench_result **res, size_t *n,
			const char *engine, int eidx, char **names, int nb,
			int from, const char *why)
{
	struct bench_result *p = realloc(*res, (*n + (size_t)nb) *
					 sizeof(**res));

	if (!p)
		return -ENOMEM;
	*res = p;
	for (int i = from; i < nb; i++) {
		struct bench_result *r = &p[(*n)++];

		report_result_init(r);
		snprintf(r->engine, sizeof(r->engine), "%s", engine);
		snprintf(r->bench, sizeof(r->bench), "%s", names[i]);
		r->engine_idx = eidx;
		r->bench_idx = i;
		r->rc = -ECHILD;
		snprintf(r->err, sizeof(r->err), "%s", why);
	}
	return 0;
}

/* Runs every workload on engine E in a forked child. */
static int run_engine_child(const struct bench_args *a,
			    const struct bench_engine *e, int eidx,
			    char **names, int nb, struct bench_result **res,
			    size_t *n)
{
	char dir[PATH_MAX], why[128];
	int fds[2], status = 0, got;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/%s", a->db, e->name);
	if (pipe(fds) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int saved = -errno;

		close(fds[0]);
		close(fds[1]);
		return saved;
	}
	if (pid == 0) {
		close(fds[0]);
		_exit(kv_run_engine(e, a, dir, names, nb, eidx, fds[1]) < 0);
	}
	close(fds[1]);
	got = collect(fds[0], res, n);
	close(fds[0]);
	waitpid(pid, &status, 0);
	/* What this engine left dirty reaches the disk before the next one
	 * runs: the kernel's writeback of one engine's files (LMDB writes
	 * over 100 times its data) took CPU and disk from the next engine's
	 * workloads, and so from whichever engine followed it in the order. */
	sync();
	if (got < 0)
		return got;
	if (got < nb) {
		snprintf(why, sizeof(why), "engine process died (%s %d)",
			 WIFSIGNALED(status) ? "signal" : "exit status",
			 WIFSIGNALED(status) ? WTERMSIG(status)
					     : WEXITSTATUS(status));
		return add_failures(res, n, e->name, eidx, names, nb, got, why);
	}
	return 0;
}

struct run {
	struct bench_args *a;
	char *names[MAX_LIST];
	int nb;
	const char *labels[MAX_LIST];   /* engine names or dir labels */
	const char *dirs[MAX_LIST];     /* fs: the directories */
	char *settings[MAX_LIST];
	int ne;
	struct bench_result *res;
	size_t nres;
	bool fs;                        /* `fs` mode */
};

static int run_kv(struct run *r)
{
	for (unsigned rep = 0; rep < r->a->repeat; rep++) {
		for (int k = 0; k < r->ne; k++) {
			int i = (k + (int)rep) % r->ne;
			int rc = run_engine_child(r->a,
				bench_engine_find(r->labels[i]), i, r->names,
				r->nb, &r->res, &r->nres);

			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int run_fs(struct run *r)
{
	for (unsigned rep = 0; rep < r->a->repeat; rep++) {
		for (int k = 0; k < r->ne; k++) {
			int i = (k + (int)rep) % r->ne;
			int rc = fs_run_dir(r->a, r->labels[i], r->dirs[i],
					    r->names, r->nb, i, &r->res,
					    &r->nres);

			if (rc < 0)
				return rc;
		}
	}
	fs_cleanup();
	return 0;
}

static void json_extra(const struct bench_args *a, char *buf, size_t n)
{
	const struct bench_config *c = &a->cfg;

	snprintf(buf, n,
		 "\"num\": %" PRIu64 ", \"reads\": %" PRIu64 ", \"key_size\": "
		 "%u, \"value_size\": %u, \"sync\": %d, \"distribution\": "
		 "\"%s\", \"cache_size\": %zu, \"write_buffer_size\": %zu, "
		 "\"bloom_bits\": %u, \"compression\": \"%s\", "
		 "\"compression_ratio\": %.3g, \"git\": \"%s\"",
		 c->num, c->reads, c->key_size, c->value_size, c->sync,
		 wl_dist_name((enum key_dist)c->distribution), c->cache_size,
		 c->write_buffer_size, c->bloom_bits,
		 c->compression ? "zlib" : "none", c->compression_ratio,
		 BENCH_GIT);
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fprintf(stderr, "lsmfs-bench: %s: %s\n", path, strerror(errno));
	return f;
}

static int write_outputs(struct run *r, struct bench_result *agg, size_t n)
{
	char extra[1024];
	FILE *f;
	int rc = 0;

	json_extra(r->a, extra, sizeof(extra));
	if (r->a->json && (f = open_out(r->a->json))) {
		report_json(f, agg, n, extra);
		rc |= fclose(f);
	} else if (r->a->json)
		rc = -1;
	if (r->a->csv && (f = open_out(r->a->csv))) {
		report_csv(f, agg, n);
		rc |= fclose(f);
	} else if (r->a->csv)
		rc = -1;
	if (r->a->svg && (f = open_out(r->a->svg))) {
		report_svg(f, agg, n, "lsmfs-bench");
		rc |= fclose(f);
	} else if (r->a->svg)
		rc = -1;
	return rc ? -EIO : 0;
}

static int report_all(struct run *r)
{
	struct bench_result *agg = calloc(r->nres + 1, sizeof(*agg));
	size_t n;
	int rc, failed = 0;

	if (!agg)
		return -ENOMEM;
	n = report_aggregate(r->res, r->nres, agg);
	for (size_t i = 0; i < n; i++) {
		agg[i].settings = r->settings[agg[i].engine_idx];
		failed |= agg[i].rc < 0 && agg[i].rc != -EEXIST;
	}
	putchar('\n');
	report_table(stdout, agg, n, r->labels[0]);
	if (r->fs)
		printf("\n%s/x: ops/s of %s divided by this row's (above 1: "
		       "%s is faster).  list: one op is\none entry (readdir + "
		       "stat, as ls -l); untar/untar_read/rmtree: ops are the "
		       "entries of the\ntree, one timed command (untar_read: "
		       "every file read whole); stream: one op is\n1 MiB, "
		       "stream_write and randwrite_4k end with fsync (timed).  "
		       "Reads are warm\nunless --drop_caches=1 (root).\n",
		       r->labels[0], r->labels[0], r->labels[0]);
	else
		printf("\n%s/x: ops/s of %s divided by this row's (above 1: "
		       "%s is faster).\nw-amp: engine "
		       "counters (lsm_stats); io-amp: bytes the\nprocess "
		       "passed to write(2) / user bytes (bytes stored through "
		       "a mapping, as\nlsm's log (map_log) and LMDB store "
		       "theirs, do not count); both cumulative\nsince "
		       "the db was opened.  s-amp: du of the db dir / live "
		       "key+value bytes.  rss: peak RSS of the engine's own "
		       "process.\n", r->labels[0], r->labels[0],
		       r->labels[0]);
	if (r->a->repeat > 1)
		printf("figures are medians of %u runs; spread = "
		       "(max - min) / median of ops/s.\n", r->a->repeat);
	rc = write_outputs(r, agg, n);
	free(agg);
	return rc < 0 ? rc : failed ? 1 : 0;
}

static int check_names(struct run *r, bool fs)
{
	for (int i = 0; i < r->nb; i++) {
		if (fs ? fs_known_bench(r->names[i])
		       : kv_known_bench(r->names[i]))
			continue;
		fprintf(stderr, "lsmfs-bench: unknown %sbenchmark '%s'\n",
			fs ? "fs " : "", r->names[i]);
		return -EINVAL;
	}
	return 0;
}

static int setup_engines(struct run *r, char *list)
{
	char *names[MAX_LIST];
	int n = split_list(list, names);

	for (int i = 0; i < n; i++) {
		const struct bench_engine *e = bench_engine_find(names[i]);

		if (!e) {
			fprintf(stderr, "lsmfs-bench: engine '%s' is not "
				"built in (built:", names[i]);
			for (int j = 0; bench_engines[j]; j++)
				fprintf(stderr, " %s", bench_engines[j]->name);
			fputs(")\n", stderr);
			return -EINVAL;
		}
		r->labels[r->ne] = e->name;
		r->settings[r->ne] = malloc(1024);
		if (!r->settings[r->ne])
			return -ENOMEM;
		e->settings(&r->a->cfg, r->settings[r->ne], 1024);
		printf("engine %-8s %s\n", e->name, r->settings[r->ne]);
		r->ne++;
	}
	return n ? 0 : -EINVAL;
}

static int setup_dirs(struct run *r, char **dirs, int n)
{
	for (int i = 0; i < n && r->ne < MAX_LIST; i++) {
		char *eq = strchr(dirs[i], '=');

		if (eq && !memchr(dirs[i], '/', (size_t)(eq - dirs[i]))) {
			*eq = 0;
			r->labels[r->ne] = dirs[i];
			r->dirs[r->ne] = eq + 1;
		} else {
			r->labels[r->ne] = r->dirs[r->ne] = dirs[i];
		}
		r->settings[r->ne] = malloc(PATH_MAX + 64);
		if (!r->settings[r->ne])
			return -ENOMEM;
		snprintf(r->settings[r->ne], PATH_MAX + 64, "%s (%s)",
			 r->dirs[r->ne], fs_type_name(r->dirs[r->ne]));
		printf("dir %-10s %s\n", r->labels[r->ne], r->settings[r->ne]);
		r->ne++;
	}
	return n ? 0 : -EINVAL;
}

static char *default_engines(void)
{
	static char buf[256];

	buf[0] = 0;
	for (int i = 0; bench_engines[i]; i++) {
		if (i)
			strcat(buf, ",");
		strcat(buf, bench_engines[i]->name);
	}
	return buf;
}

static int parse_args(int argc, char **argv, struct flag_ctx *fc,
		      char **pos, int *npos)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout), 2;
		if (strcmp(argv[i], "--version") == 0)
			return printf("lsmfs-bench %s (%s)\n", BENCH_VERSION,
				      BENCH_GIT), 2;
		if (strncmp(argv[i], "--", 2) == 0) {
			if (parse_flag(fc, argv[i]) < 0)
				return -EINVAL;
		} else if (*npos < MAX_LIST) {
			pos[(*npos)++] = argv[i];
		}
	}
	return 0;
}

static int validate(struct bench_args *a, bool fs)
{
	if (a->cfg.key_size < 8 || a->cfg.key_size > 1024 ||
	    a->cfg.threads < 1 || a->cfg.threads > 256 || a->repeat < 1 ||
	    a->cfg.num < 1 || a->files_per_dir < 1) {
		fputs("lsmfs-bench: need 8 <= key_size <= 1024, 1 <= threads "
		      "<= 256, num >= 1, repeat >= 1\n", stderr);
		return -EINVAL;
	}
	if (!fs && bench_mkdirs(a->db) < 0) {
		fprintf(stderr, "lsmfs-bench: cannot create %s\n", a->db);
		return -EIO;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct run r;
	static struct bench_args a;
	struct flag_ctx fc = { .a = &a };
	char *pos[MAX_LIST];
	int npos = 0, rc;
	bool fs;

	args_defaults(&a);
	r.a = &a;
	rc = parse_args(argc, argv, &fc, pos, &npos);
	if (rc)
		return rc == 2 ? 0 : 2;
	fs = r.fs = npos > 0 && strcmp(pos[0], "fs") == 0;
	if (npos > 0 && !fs)
		return usage(stderr), 2;
	if (fs && !fc.num_set)
		a.cfg.num = 10000;
	if (!fc.reads_set)
		a.cfg.reads = a.cfg.num;
	if (validate(&a, fs) < 0)
		return 2;
	r.nb = split_list(strdup(a.benchmarks ? a.benchmarks :
		fs ? fs_default_benchmarks : kv_default_benchmarks), r.names);
	if (check_names(&r, fs) < 0)
		return 2;
	print_machine(stdout, fs ? (npos > 1 ? pos[1] : ".") : a.db);
	print_settings(stdout, &a);
	if (fs)
		rc = setup_dirs(&r, pos + 1, npos - 1);
	else
		rc = setup_engines(&r, a.engines ? strdup(a.engines)
						  : default_engines());
	if (rc < 0)
		return usage(stderr), 2;
	fflush(stdout);
	rc = fs ? run_fs(&r) : run_kv(&r);
	if (rc < 0) {
		fprintf(stderr, "lsmfs-bench: %s\n", strerror(-rc));
		return 1;
	}
	return report_all(&r);
}

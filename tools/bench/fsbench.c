/* fsbench.c - filesystem workloads of lsmfs-bench on any directory: small
 * files (create, stat, read, list with stat as ls -l does, overwrite,
 * delete) in one directory and spread over many, tar -x of a real tree,
 * reading it back and its removal, a streamed large file, and random 4 KiB
 * reads and writes.  Single-threaded, POSIX calls only, every operation
 * timed.  A target that is a regular file (libfuse's `null` example, the
 * FUSE ceiling) runs stream_write only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "hist.h"
#include "workload.h"

extern char **environ;

const char fs_default_benchmarks[] =
	"create_1dir,stat_1dir,read_1dir,list_1dir,overwrite_1dir,delete_1dir,"
	"create_tree,stat_tree,read_tree,list_tree,overwrite_tree,delete_tree,"
	"untar,untar_read,rmtree,stream_write,stream_read,randwrite_4k,"
	"randread_4k";

static const char *const fs_ops[] = {
	"create", "stat", "read", "list", "overwrite", "delete",
};
#define FS_NOPS 6
#define STREAM_CHUNK (1u << 20)
#define RAND_IO 4096u

/* One directory's run. */
struct fs_ctx {
	const struct bench_args *a;
	const char *label;
	char work[PATH_MAX];       /* DIR/lsmfs-bench.PID */
	char *buf;                 /* max(file_size, STREAM_CHUNK) bytes */
	struct wl_rng rng;
	struct hist hist;
	uint64_t ops, total, last_print;
	uint64_t t0;               /* start of the timed part */
	double bytes;
	bool created[2];           /* files of layout 0 (1dir) / 1 (tree) */
	bool file_target;          /* the target is a file: stream_write only */
	double cpu0[2];            /* --cpu_pid's and our CPU s at t0 */
	const char *target;        /* DIR as given */
	char err[256];
};

static char tarball[PATH_MAX];
static uint64_t tar_entries;
static double tar_bytes;

bool fs_known_bench(const char *name)
{
	static const char *const other[] = {
		"untar", "untar_read", "rmtree", "stream_write",
		"stream_read", "randwrite_4k", "randread_4k",
	};
	char op[32];
	const char *us = strrchr(name, '_');

	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (strcmp(name, other[i]) == 0)
			return true;
	if (!us || (strcmp(us, "_1dir") && strcmp(us, "_tree")) ||
	    (size_t)(us - name) >= sizeof(op))
		return false;
	memcpy(op, name, (size_t)(us - name));
	op[us - name] = 0;
	for (int i = 0; i < FS_NOPS; i++)
		if (strcmp(op, fs_ops[i]) == 0)
			return true;
	return false;
}

static int fs_fail(struct fs_ctx *c, const char *what, const char *path)
{
	int e = errno ? errno : EIO;

	snprintf(c->err, sizeof(c->err), "%s %.180s: %s", what, path,
		 strerror(e));
	return -e;
}

static void fs_path(struct fs_ctx *c, int tree, uint64_t i, char *out)
{
	if (tree)
		bench_fmt(out, PATH_MAX, "%s/tree/d%05llu/f%08llu", c->work,
			 (unsigned long long)(i / c->a->files_per_dir),
			 (unsigned long long)i);
	else
		bench_fmt(out, PATH_MAX, "%s/flat/f%08llu", c->work,
			 (unsigned long long)i);
}

/* CPU seconds (user + system) of PID (all its threads); -1 if unknown. */
static double fs_cpu_of(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* after ')': state, then fields 4..; utime and stime are 14, 15 */
	if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
			 "%llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* $LSMFS_BENCH_HOOK, when set, runs (sh -c) with " start NAME" or
 * " end NAME" appended around each timed part: a profiler's control
 * (callgrind_control -z / -d) or a marker.  The workload waits for it. */
static void fs_hook(const char *what, const char *name)
{
	const char *hook = getenv("LSMFS_BENCH_HOOK");
	char cmd[1024];

	if (!hook || !*hook)
		return;
	snprintf(cmd, sizeof(cmd), "%s %s %s", hook, what, name);
	if (system(cmd) != 0)
		fprintf(stderr, "lsmfs-bench: LSMFS_BENCH_HOOK %s %s failed\n",
			what, name);
}

/* The timed part starts: with --cpu_pid, the CPU times now. */
static void fs_cpu_start(struct fs_ctx *c, const char *name)
{
	fs_hook("start", name);
	if (!c->a->cpu_pid)
		return;
	c->cpu0[0] = fs_cpu_of(c->a->cpu_pid);
	c->cpu0[1] = fs_cpu_of((long)getpid());
}

/* ... and ends: one line on stderr with the CPU seconds per operation
 * of --cpu_pid, of this process, and both. */
static void fs_cpu_report(struct fs_ctx *c, const char *name)
{
	double d, s;

	fs_hook("end", name);
	if (!c->a->cpu_pid || !c->ops)
		return;
	d = fs_cpu_of(c->a->cpu_pid) - c->cpu0[0];
	s = fs_cpu_of((long)getpid()) - c->cpu0[1];
	fprintf(stderr, "cpu %s %s ops %llu pid_us_per_op %.2f "
		"self_us_per_op %.2f total_us_per_op %.2f\n", name, c->label,
		(unsigned long long)c->ops, d * 1e6 / (double)c->ops,
		s * 1e6 / (double)c->ops, (d + s) * 1e6 / (double)c->ops);
}

static void fs_tick(struct fs_ctx *c, const char *bench, uint64_t t0)
{
	uint64_t now = bench_now_ns();

	hist_add(&c->hist, now - t0);
	c->ops++;
	if (c->a->progress && now - c->last_print > 200000000u) {
		c->last_print = now;
		bench_progress(c->label, bench, c->ops, c->total);
	}
}

static int fs_write_file(struct fs_ctx *c, const char *path, int flags)
{
	int fd = open(path, O_WRONLY | flags, 0644);
	ssize_t n;

	if (fd < 0)
		return fs_fail(c, "open", path);
	n = write(fd, c->buf, c->a->file_size);
	if (n != (ssize_t)c->a->file_size ||
	    (c->a->cfg.sync && fsync(fd) < 0)) {
		int rc = fs_fail(c, "write", path);

		close(fd);
		return rc;
	}
	if (close(fd) < 0)
		return fs_fail(c, "close", path);
	c->bytes += (double)c->a->file_size;
	return 0;
}

static int fs_create_one(struct fs_ctx *c, int tree, uint64_t i, char *path)
{
	fs_path(c, tree, i, path);
	if (tree && i % c->a->files_per_dir == 0) {
		char *slash = strrchr(path, '/');

		*slash = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return fs_fail(c, "mkdir", path);
		*slash = '/';
	}
	return fs_write_file(c, path, O_CREAT | O_TRUNC);
}

static int fs_read_one(struct fs_ctx *c, const char *path)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return fs_fail(c, "open", path);
	n = read(fd, c->buf, c->a->file_size + 1);
	close(fd);
	if (n != (ssize_t)c->a->file_size) {
		errno = n < 0 ? errno : EIO;
		return fs_fail(c, "read", path);
	}
	c->bytes += (double)n;
	return 0;
}

static int fs_small_op(struct fs_ctx *c, int op, int tree, uint64_t i,
		       char *path)
{
	struct stat st;

	if (op == 0)
		return fs_create_one(c, tree, i, path);
	fs_path(c, tree, i, path);
	switch (op) {
	case 1:
		return stat(path, &st) < 0 ? fs_fail(c, "stat", path) : 0;
	case 2:
		return fs_read_one(c, path);
	case 4:
		return fs_write_file(c, path, O_TRUNC);
	default:
		return unlink(path) < 0 ? fs_fail(c, "unlink", path) : 0;
	}
}

/* ls -l of one directory: readdir plus fstatat per entry, timed per entry. */
static int fs_list_dir(struct fs_ctx *c, const char *dir, const char *bench)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	uint64_t t0 = bench_now_ns();

	if (!d)
		return fs_fail(c, "opendir", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			int rc = fs_fail(c, "stat", de->d_name);

			closedir(d);
			return rc;
		}
		c->bytes += (double)strlen(de->d_name);
		fs_tick(c, bench, t0);
		t0 = bench_now_ns();
	}
	closedir(d);
	return 0;
}

static int fs_list(struct fs_ctx *c, int tree, const char *bench)
{
	char path[PATH_MAX];
	uint64_t ndirs = (c->a->cfg.num + c->a->files_per_dir - 1) /
			 c->a->files_per_dir;
	int rc = 0;

	if (!tree) {
		bench_fmt(path, sizeof(path), "%s/flat", c->work);
		return fs_list_dir(c, path, bench);
	}
	for (uint64_t i = 0; i < ndirs && rc == 0; i++) {
		bench_fmt(path, sizeof(path), "%s/tree/d%05llu", c->work,
			 (unsigned long long)i);
		rc = fs_list_dir(c, path, bench);
	}
	return rc;
}

static uint64_t *fs_permutation(struct fs_ctx *c, uint64_t n)
{
	uint64_t *p = malloc((n ? n : 1) * sizeof(*p));

	if (!p)
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		p[i] = i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = wl_rng_below(&c->rng, i), t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

static int fs_layout_dir(struct fs_ctx *c, int tree)
{
	char path[PATH_MAX];

	bench_fmt(path, sizeof(path), "%s/%s", c->work, tree ? "tree" : "flat");
	if (bench_mkdirs(path) < 0)
		return fs_fail(c, "mkdir", path);
	return 0;
}

/* Makes the files of a layout (untimed) when a workload needs them. */
static int fs_ensure_files(struct fs_ctx *c, int tree)
{
	char path[PATH_MAX];
	int rc = fs_layout_dir(c, tree);

	for (uint64_t i = 0; rc == 0 && i < c->a->cfg.num; i++)
		rc = fs_create_one(c, tree, i, path);
	c->created[tree] = rc == 0;
	return rc;
}

static void fs_drop_caches(struct fs_ctx *c)
{
	static bool warned;
	int fd;

	if (!c->a->drop_caches)
		return;
	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3\n", 2) != 2) {
		if (!warned)
			fprintf(stderr, "lsmfs-bench: cannot drop caches "
				"(needs root); reads are warm\n");
		warned = true;
	}
	if (fd >= 0)
		close(fd);
}

static int fs_small(struct fs_ctx *c, int op, int tree, const char *bench)
{
	char path[PATH_MAX];
	uint64_t n = c->a->cfg.num, *perm;
	int rc = 0;

	if (op == 0)
		rc = fs_layout_dir(c, tree);
	else if (!c->created[tree])
		rc = fs_ensure_files(c, tree);
	if (rc < 0)
		return rc;
	if (op == 1 || op == 2 || op == 3)
		fs_drop_caches(c);
	c->total = n;
	fs_cpu_start(c, bench);
	c->t0 = bench_now_ns();
	if (op == 3)
		return fs_list(c, tree, bench);
	perm = op == 0 ? NULL : fs_permutation(c, n);
	for (uint64_t k = 0; rc == 0 && k < n; k++) {
		uint64_t t0 = bench_now_ns();

		rc = fs_small_op(c, op, tree, perm ? perm[k] : k, path);
		fs_tick(c, bench, t0);
	}
	free(perm);
	c->created[tree] = op != 5 && rc == 0;
	return rc;
}

/* ---- tar -x of a real tree ---- */

static int count_entry(const char *p, const struct stat *st, int type,
		       struct FTW *f)
{
	(void)p;
	(void)st;
	(void)type;
	(void)f;
	tar_entries++;
	return 0;
}

static int run_cmd(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -ENOENT;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int fs_make_tarball(struct fs_ctx *c)
{
	const char *tmp = getenv("TMPDIR");
	static char tar[] = "tar", cf[] = "-cf", cd[] = "-C", dot[] = ".";
	char *argv[] = { tar, cf, tarball, cd, (char *)c->a->tar_source, dot,
			 NULL };
	struct stat st;

	if (tarball[0])
		return 0;
	bench_fmt(tarball, sizeof(tarball), "%s/lsmfs-bench-src.%d.tar",
		 tmp ? tmp : "/tmp", (int)getpid());
	if (run_cmd(argv) < 0 || stat(tarball, &st) < 0) {
		snprintf(c->err, sizeof(c->err), "tar -cf of %.200s failed",
			 c->a->tar_source);
		unlink(tarball);
		tarball[0] = 0;
		return -EIO;
	}
	tar_bytes = (double)st.st_size;
	tar_entries = 0;
	nftw(c->a->tar_source, count_entry, 32, FTW_PHYS);
	return 0;
}

static int fs_untar(struct fs_ctx *c, bool remove)
{
	char dir[PATH_MAX];
	static char tar[] = "tar", xf[] = "-xf", cd[] = "-C";
	char *argv[] = { tar, xf, tarball, cd, dir, NULL };
	uint64_t t0;
	int rc;

	bench_fmt(dir, sizeof(dir), "%s/untar", c->work);
	if (!remove && ((rc = fs_make_tarball(c)) < 0 ||
			(rc = bench_mkdirs(dir)) < 0))
		return rc;
	t0 = c->t0 = bench_now_ns();
	rc = remove ? bench_rmrf(dir) : run_cmd(argv);
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "%s %.200s failed",
			 remove ? "rm -rf" : "tar -xf into", dir);
		return rc;
	}
	hist_add(&c->hist, bench_now_ns() - t0);
	c->ops = tar_entries;
	c->bytes = tar_bytes;
	return 0;
}

/* ---- reading the extracted tree back ---- */

static struct fs_ctx *walk_ctx;  /* nftw has no user pointer */

static int read_entry(const char *p, const struct stat *st, int type,
		      struct FTW *f)
{
	struct fs_ctx *c = walk_ctx;
	ssize_t n;
	int fd;

	(void)f;
	c->ops++;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return fs_fail(c, "open", p);
	while ((n = read(fd, c->buf, STREAM_CHUNK)) > 0)
		c->bytes += (double)n;
	if (n < 0) {
		int rc = fs_fail(c, "read", p);

		close(fd);
		return rc;
	}
	close(fd);
	return 0;
}

/* Every entry of the tree untar made (made untimed when missing), stat'ed
 * in directory order and every file read whole, after dropping caches
 * (--drop_caches=1): the cold read of a tree. */
static int fs_untar_read(struct fs_ctx *c)
{
	char dir[PATH_MAX];
	struct stat st;
	uint64_t t0;
	int rc;

	bench_fmt(dir, sizeof(dir), "%s/untar", c->work);
	if (stat(dir, &st) < 0 && (rc = fs_untar(c, false)) < 0)
		return rc;
	fs_drop_caches(c);
	hist_init(&c->hist);
	c->ops = 0;
	c->bytes = 0;
	c->err[0] = 0;
	walk_ctx = c;
	t0 = c->t0 = bench_now_ns();
	rc = nftw(dir, read_entry, 32, FTW_PHYS);
	if (rc == -1 && !c->err[0])
		return fs_fail(c, "nftw", dir);
	if (rc != 0)
		return rc < 0 ? rc : -EIO;
	hist_add(&c->hist, bench_now_ns() - t0);
	return 0;
}

/* ---- a large file: streamed, then random 4 KiB I/O ---- */

static int fs_stream_write(struct fs_ctx *c, const char *bench)
{
	char path[PATH_MAX];
	uint64_t chunks = c->a->stream_bytes / STREAM_CHUNK;
	int fd;

	if (c->file_target)
		bench_fmt(path, sizeof(path), "%s", c->target);
	else
		bench_fmt(path, sizeof(path), "%s/stream", c->work);
	fd = open(path, c->file_target ? O_WRONLY :
		  O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return fs_fail(c, "open", path);
	c->total = chunks;
	for (uint64_t i = 0; i < chunks; i++) {
		uint64_t t0 = bench_now_ns();

		if (write(fd, c->buf, STREAM_CHUNK) != STREAM_CHUNK) {
			close(fd);
			return fs_fail(c, "write", path);
		}
		c->bytes += STREAM_CHUNK;
		fs_tick(c, bench, t0);
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return fs_fail(c, "fsync", path);
	return 0;
}

static int fs_open_stream(struct fs_ctx *c, int flags, const char *bench)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	bench_fmt(path, sizeof(path), "%s/stream", c->work);
	if (stat(path, &st) < 0 ||
	    (uint64_t)st.st_size < c->a->stream_bytes / STREAM_CHUNK *
				    STREAM_CHUNK) {
		struct fs_ctx tmp = *c;   /* untimed preparation */

		if (fs_stream_write(&tmp, bench) < 0) {
			memcpy(c->err, tmp.err, sizeof(c->err));
			return -EIO;
		}
	}
	fd = open(path, flags);
	return fd < 0 ? fs_fail(c, "open", path) : fd;
}

static int fs_stream_read(struct fs_ctx *c, const char *bench)
{
	int fd = fs_open_stream(c, O_RDONLY, bench);
	ssize_t n;
	uint64_t t0;

	if (fd < 0)
		return fd;
	fs_drop_caches(c);
	c->total = c->a->stream_bytes / STREAM_CHUNK;
	c->t0 = bench_now_ns();
	for (;;) {
		t0 = bench_now_ns();
		n = read(fd, c->buf, STREAM_CHUNK);
		if (n <= 0)
			break;
		c->bytes += (double)n;
		fs_tick(c, bench, t0);
	}
	close(fd);
	return n < 0 ? fs_fail(c, "read", "stream") : 0;
}

static int fs_random_io(struct fs_ctx *c, bool write_io, const char *bench)
{
	int fd = fs_open_stream(c, write_io ? O_WRONLY : O_RDONLY, bench);
	uint64_t blocks = c->a->stream_bytes / RAND_IO;
	ssize_t n = 0;

	if (fd < 0)
		return fd;
	if (!write_io)
		fs_drop_caches(c);
	c->total = c->a->rand_secs ? 0 : c->a->cfg.reads;
	c->t0 = bench_now_ns();
	for (uint64_t i = 0; c->a->rand_secs || i < c->total; i++) {
		off_t off = (off_t)(wl_rng_below(&c->rng, blocks) * RAND_IO);
		uint64_t t0 = bench_now_ns();

		if (c->a->rand_secs &&
		    t0 - c->t0 >= c->a->rand_secs * 1000000000ull)
			break;
		n = write_io ? pwrite(fd, c->buf, RAND_IO, off)
			     : pread(fd, c->buf, RAND_IO, off);
		if (n != RAND_IO)
			break;
		c->bytes += RAND_IO;
		fs_tick(c, bench, t0);
	}
	if (n == RAND_IO && write_io && fsync(fd) < 0)
		n = -1;
	close(fd);
	return n == RAND_IO ? 0 : fs_fail(c, write_io ? "pwrite" : "pread",
					  "stream");
}

static int fs_dispatch(struct fs_ctx *c, const char *name)
{
	const char *us = strrchr(name, '_');

	if (c->file_target && strcmp(name, "stream_write")) {
		snprintf(c->err, sizeof(c->err), "skipped: a file (the FUSE "
			 "ceiling: stream_write only)");
		return -EEXIST;
	}
	if (strcmp(name, "untar") == 0 || strcmp(name, "rmtree") == 0)
		return fs_untar(c, name[0] == 'r');
	if (strcmp(name, "untar_read") == 0)
		return fs_untar_read(c);
	if (strcmp(name, "stream_write") == 0)
		return fs_stream_write(c, name);
	if (strcmp(name, "stream_read") == 0)
		return fs_stream_read(c, name);
	if (strncmp(name, "rand", 4) == 0)
		return fs_random_io(c, name[4] == 'w', name);
	for (int op = 0; op < FS_NOPS; op++)
		if (strncmp(name, fs_ops[op], strlen(fs_ops[op])) == 0 &&
		    name + strlen(fs_ops[op]) == us)
			return fs_small(c, op, strcmp(us, "_tree") == 0, name);
	return -EINVAL;
}

static void fs_result(struct fs_ctx *c, const char *name, int bidx,
		      int didx, double secs, int rc, struct bench_result *r)
{
	report_result_init(r);
	snprintf(r->engine, sizeof(r->engine), "%s", c->label);
	snprintf(r->bench, sizeof(r->bench), "%s", name);
	r->engine_idx = didx;
	r->bench_idx = bidx;
	r->threads = 1;
	r->ops = c->ops;
	r->found = c->ops;
	r->secs = secs;
	r->bytes = c->bytes;
	r->ops_per_sec = secs > 0 ? (double)c->ops / secs : 0;
	r->mb_per_sec = secs > 0 ? c->bytes / secs / 1048576.0 : 0;
	if (strcmp(name, "untar") && strcmp(name, "rmtree") &&
	    strcmp(name, "untar_read")) {
		r->p50_us = (double)hist_quantile(&c->hist, 0.5) / 1e3;
		r->p99_us = (double)hist_quantile(&c->hist, 0.99) / 1e3;
		r->p999_us = (double)hist_quantile(&c->hist, 0.999) / 1e3;
		r->avg_us = hist_mean(&c->hist) / 1e3;
		r->max_us = (double)c->hist.max / 1e3;
	}
	r->rc = rc;
	if (rc < 0)
		snprintf(r->err, sizeof(r->err), "%s", c->err);
}

static int fs_push(struct bench_result **res, size_t *nres,
		   const struct bench_result *r)
{
	struct bench_result *p = realloc(*res, (*nres + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	p[(*nres)++] = *r;
	*res = p;
	return 0;
}

static int fs_ctx_init(struct fs_ctx *c, const struct bench_args *a,
		       const char *label, const char *dir)
{
	size_t len = a->file_size > STREAM_CHUNK ? a->file_size : STREAM_CHUNK;
	struct wl_values v;
	struct stat st;

	memset(c, 0, sizeof(*c));
	c->a = a;
	c->label = label;
	c->target = dir;
	c->file_target = stat(dir, &st) == 0 && S_ISREG(st.st_mode);
	bench_fmt(c->work, sizeof(c->work), "%s/lsmfs-bench.%d", dir,
		 (int)getpid());
	c->buf = malloc(len + 1);
	if (!c->buf || wl_values_init(&v, len, a->cfg.compression_ratio,
				      a->cfg.seed) < 0) {
		free(c->buf);
		c->buf = NULL;
		return -ENOMEM;
	}
	memcpy(c->buf, wl_value(&v, len), len);
	wl_values_free(&v);
	wl_rng_init(&c->rng, a->cfg.seed);
	if (c->file_target)
		return 0;
	bench_rmrf(c->work);
	if (bench_mkdirs(c->work) < 0) {
		fprintf(stderr, "lsmfs-bench: cannot create %s\n", c->work);
		free(c->buf);
		c->buf = NULL;
		return -EIO;
	}
	return 0;
}

int fs_run_dir(const struct bench_args *a, const char *label, const char *dir,
	       char **bench_names, int nb, int dir_idx,
	       struct bench_result **res, size_t *nres)
{
	static struct fs_ctx c;
	struct bench_result r;
	int rc = fs_ctx_init(&c, a, label, dir);

	for (int i = 0; rc == 0 && i < nb; i++) {
		int brc;

		hist_init(&c.hist);
		c.ops = 0;
		c.bytes = 0;
		c.err[0] = 0;
		fs_cpu_start(&c, bench_names[i]);
		c.t0 = bench_now_ns();
		brc = fs_dispatch(&c, bench_names[i]);
		if (a->progress)
			bench_progress_clear();
		fs_cpu_report(&c, bench_names[i]);
		fs_result(&c, bench_names[i], i, dir_idx,
			  (double)(bench_now_ns() - c.t0) / 1e9, brc, &r);
		rc = fs_push(res, nres, &r);
	}
	if (c.buf) {
		if (!c.file_target)
			bench_rmrf(c.work);
		free(c.buf);
		c.buf = NULL;
	}
	return rc;
}

void fs_cleanup(void)
{
	if (tarball[0])
		unlink(tarball);
	tarball[0] = 0;
}

/* test_ns_oom.c - allocation failure at every allocation site of a
 * namespace workload (failmalloc.h): format, mkdir, create, multi-chunk
 * writes, xattr, link, rename, unlink, truncate, readdir, an open file
 * unlinked and reclaimed.  With the Nth allocation failing (once, or from
 * then on) every call returns 0 or a negative errno with a message;
 * reopened with memory back, ns_fsck finds nothing wrong, every
 * acknowledged operation is visible, a failed one is there whole or not
 * at all, and every block allocated was freed.  Up to 400 calls every N
 * is tried in both modes (the case today); past that N is sampled unless
 * LSM_OOM_STEP=1.  LSM_OOM_ONLY=N tries one N. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "failmalloc.h"
#include "ns.h"
#include "ns_fsck.h"
#include "support.h"

#define CS 4096u
#define W1_OFF 0
#define W1_LEN (3 * CS + 100)
#define W2_OFF (CS - 10)
#define W2_LEN 50
#define TRUNC_SIZE (CS + 5)
#define FMAX (4 * CS)

enum step {
	S_OPEN,     /* ns_open: formats the empty store */
	S_MKDIR,    /* /d */
	S_CREATE_F, /* /d/f */
	S_WRITE1,   /* F: W1_LEN bytes at W1_OFF (4 chunks) */
	S_WRITE2,   /* F: W2_LEN bytes at W2_OFF (across a chunk edge) */
	S_XATTR,    /* F: user.a */
	S_LINK,     /* /d/g -> F */
	S_RENAME,   /* /d/f -> /f2 */
	S_CREATE_H, /* /d/h */
	S_WRITE_H,  /* "hello" */
	S_UNLINK_G,
	S_TRUNC,    /* F to TRUNC_SIZE */
	S_READDIR,  /* /d */
	S_CREATE_O, /* /o, written, held open, unlinked, released */
	S_WRITE_O,
	S_UNLINK_O,
	S_CLOSE_O,
	S_RECLAIM,  /* ns_reclaim_orphans */
	NSTEPS
};

struct fsrun {
	unsigned long n;                /* the failing allocation */
	bool tried[NSTEPS], ok[NSTEPS];
	uint64_t d, f, h, o;            /* inodes made (0: none) */
	int failures;
	int enomem, other;
};

static struct ns_cred cred = { 1000, 1000, 022 };

static void lsm_opts(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 16u << 10;
	o->table_bytes = 8u << 10;
	o->level1_bytes = 32u << 10;
	o->l0_compaction_trigger = 2;
	o->cache_bytes = 64u << 10;
}

static void pattern(char *p, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (seed * 7 + (int)i) % 26);
}

/* Records the outcome of step S (RC from the call). */
static void step_done(struct fsrun *r, enum step s, int rc,
		      const struct lsm_err *err)
{
	r->tried[s] = true;
	r->ok[s] = rc >= 0;
	if (rc >= 0)
		return;
	r->failures++;
	if (err && (err->code != rc || !err->msg[0])) {
		fprintf(stderr, "ns oom n=%lu: step %d: rc %d, err %d \"%s\"\n",
			r->n, s, rc, err->code, err->msg);
		fail();
	}
	if (rc == -ENOMEM) {
		r->enomem++;
		return;
	}
	r->other++;
	fprintf(stderr, "ns oom n=%lu: step %d: unexpected %d \"%s\"\n",
		r->n, s, rc, err ? err->msg : "");
	fail();
}

static int count_entry(void *ctx, const struct ns_dirent *d)
{
	int *n = ctx;

	assert_true((d->nlen == 1 && strchr("fgh", d->name[0])) ||
		    !"unexpected entry");
	(*n)++;
	return 0;
}

static void mk(struct fsrun *r, struct ns *ns, enum step s, uint64_t parent,
	       const char *name, uint32_t mode, uint64_t *ino)
{
	struct lsm_err err = { 0 };
	struct ns_attr a;
	int rc = ns_mknod(ns, parent, name, mode, 0, &cred, NULL, &a, &err);

	step_done(r, s, rc, &err);
	if (rc == 0)
		*ino = a.ino;
}

static void wr(struct fsrun *r, struct ns *ns, enum step s, uint64_t ino,
	       uint64_t off, size_t len, int seed)
{
	struct lsm_err err = { 0 };
	char buf[FMAX];

	pattern(buf, len, seed);
	step_done(r, s, ns_write(ns, ino, off, buf, len, &err), &err);
}

/* The open file O: unlinked while held, still there until released. */
static void orphan_steps(struct fsrun *r, struct ns *ns)
{
	struct lsm_err err = { 0 };
	struct ns_attr a;
	int rc;

	mk(r, ns, S_CREATE_O, 1, "o", S_IFREG | 0644, &r->o);
	if (!r->o)
		return;
	wr(r, ns, S_WRITE_O, r->o, 0, 100, 5);
	ns_open_ref(ns, r->o);
	step_done(r, S_UNLINK_O, ns_unlink(ns, 1, "o", &err), &err);
	if (r->ok[S_UNLINK_O]) {
		/* held open: unlinked, not gone */
		rc = ns_getattr(ns, r->o, &a, &err);
		if (rc != 0)
			fprintf(stderr, "ns oom n=%lu: open file gone after "
				"unlink: %d %s\n", r->n, rc, err.msg);
		assert_int_equal(rc, 0);
		assert_int_equal(a.in.nlink, 0);
	}
	step_done(r, S_CLOSE_O, ns_close_ref(ns, r->o, &err), &err);
}

static void workload(const char *dir, struct fsrun *r)
{
	struct lsm_options o;
	struct ns_options no;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct ns *ns;
	int rc, n = 0;

	lsm_opts(&o);
	rc = lsm_open(dir, &o, &db, &err);
	if (rc) {
		step_done(r, S_OPEN, rc, &err);
		return;
	}
	ns_options_init(&no);
	no.chunk_size = CS;
	rc = ns_open(db, &no, &ns, &err);
	step_done(r, S_OPEN, rc, &err);
	if (rc)
		goto out;
	mk(r, ns, S_MKDIR, 1, "d", S_IFDIR | 0755, &r->d);
	if (r->d)
		mk(r, ns, S_CREATE_F, r->d, "f", S_IFREG | 0644, &r->f);
	if (r->f) {
		wr(r, ns, S_WRITE1, r->f, W1_OFF, W1_LEN, 1);
		wr(r, ns, S_WRITE2, r->f, W2_OFF, W2_LEN, 2);
		rc = ns_setxattr(ns, r->f, "user.a", "value-a", 7, 0, &err);
		step_done(r, S_XATTR, rc, &err);
		rc = ns_link(ns, r->f, r->d, "g", NULL, &err);
		step_done(r, S_LINK, rc, &err);
		rc = ns_rename(ns, r->d, "f", 1, "f2", 0, &err);
		step_done(r, S_RENAME, rc, &err);
	}
	if (r->d)
		mk(r, ns, S_CREATE_H, r->d, "h", S_IFREG | 0600, &r->h);
	if (r->h)
		step_done(r, S_WRITE_H, ns_write(ns, r->h, 0, "hello", 5,
						 &err), &err);
	if (r->ok[S_LINK])
		step_done(r, S_UNLINK_G, ns_unlink(ns, r->d, "g", &err), &err);
	if (r->f) {
		struct ns_setattr sa = { .valid = NS_SET_SIZE,
					 .size = TRUNC_SIZE };

		rc = ns_setattr(ns, r->f, &sa, NULL, &err);
		step_done(r, S_TRUNC, rc, &err);
	}
	if (r->d) {
		rc = ns_readdir(ns, r->d, NULL, count_entry, &n, &err);
		step_done(r, S_READDIR, rc, &err);
	}
	orphan_steps(r, ns);
	step_done(r, S_RECLAIM, ns_reclaim_orphans(ns, NULL, &err), &err);
	ns_close(ns);
out:
	rc = lsm_close(db, &err);
	if (rc) {
		r->failures++;
		assert_true(rc == -ENOMEM && err.code == rc && err.msg[0]);
	}
}

/* ---- verification ---- */

static void report(void *ctx, const struct ns_fsck_problem *p)
{
	const struct fsrun *r = ctx;

	fprintf(stderr, "ns oom n=%lu: fsck: %s ino %llu %.*s: %s\n", r->n,
		ns_fsck_kind_name(p->kind), (unsigned long long)p->ino,
		p->path ? (int)p->path_len : 6, p->path ? p->path : "(none)",
		p->msg);
}

/* The ino PATH names, 0 when none. */
static uint64_t ino_at(struct ns *ns, const char *path)
{
	struct ns_attr a;
	int rc = ns_resolve(ns, path, &a, NULL);

	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0 ? a.ino : 0;
}

/* Whether F's contents are those of some choice of the failed steps
 * (writes, truncate) applied or not. */
static void check_f(struct fsrun *r, struct ns *ns)
{
	enum step s[3] = { S_WRITE1, S_WRITE2, S_TRUNC };
	static char got[FMAX + 16], want[FMAX + 16];
	size_t n;

	assert_int_equal(ns_read(ns, r->f, 0, sizeof(got), got, &n, NULL), 0);
	for (unsigned m = 0; m < 8; m++) {
		size_t size = 0;
		bool ok = true;

		memset(want, 0, sizeof(want));
		for (int i = 0; i < 3; i++) {
			bool on = r->ok[s[i]] || (r->tried[s[i]] &&
						  (m & (1u << i)));

			if ((m & (1u << i)) && !(r->tried[s[i]] &&
						 !r->ok[s[i]]))
				ok = false; /* a choice only for failed ones */
			if (!on)
				continue;
			if (s[i] == S_WRITE1) {
				pattern(want + W1_OFF, W1_LEN, 1);
				if (size < W1_OFF + W1_LEN)
					size = W1_OFF + W1_LEN;
			} else if (s[i] == S_WRITE2) {
				pattern(want + W2_OFF, W2_LEN, 2);
				if (size < W2_OFF + W2_LEN)
					size = W2_OFF + W2_LEN;
			} else {
				if (size > TRUNC_SIZE)
					memset(want + TRUNC_SIZE, 0,
					       size - TRUNC_SIZE);
				size = TRUNC_SIZE;
			}
		}
		if (ok && n == size && !memcmp(got, want, n))
			return;
	}
	fprintf(stderr, "ns oom n=%lu: /f holds %zu bytes matching no "
		"outcome (w1 %d/%d w2 %d/%d trunc %d/%d)\n", r->n, n,
		r->tried[S_WRITE1], r->ok[S_WRITE1], r->tried[S_WRITE2],
		r->ok[S_WRITE2], r->tried[S_TRUNC], r->ok[S_TRUNC]);
	fail();
}

static void check_names(struct fsrun *r, struct ns *ns)
{
	uint64_t at_f = ino_at(ns, "d/f"), at_f2 = ino_at(ns, "f2");
	uint64_t at_g = ino_at(ns, "d/g");
	char buf[16];
	size_t len;

	if (r->ok[S_MKDIR])
		assert_true(ino_at(ns, "d") == r->d);
	if (r->f) {
		if (r->ok[S_RENAME])
			assert_true(at_f == 0 && at_f2 == r->f);
		else if (r->tried[S_RENAME])
			assert_true((at_f == r->f) != (at_f2 == r->f));
		else
			assert_true(at_f == r->f && at_f2 == 0);
		check_f(r, ns);
		len = 0;
		if (ns_getxattr(ns, r->f, "user.a", buf, sizeof(buf), &len,
				NULL) == 0)
			assert_true(len == 7 && !memcmp(buf, "value-a", 7));
		else
			assert_false(r->ok[S_XATTR]);
	}
	if (r->ok[S_LINK] && !r->tried[S_UNLINK_G])
		assert_true(at_g == r->f);
	if (r->ok[S_UNLINK_G] || !r->tried[S_LINK])
		assert_true(at_g == 0);
	if (r->h) {
		assert_true(ino_at(ns, "d/h") == r->h);
		assert_int_equal(ns_read(ns, r->h, 0, sizeof(buf), buf, &len,
					 NULL), 0);
		assert_true(len == (r->ok[S_WRITE_H] ? 5 : len));
		assert_true(len == 0 || (len == 5 &&
					 !memcmp(buf, "hello", 5)));
	}
	if (r->ok[S_UNLINK_O])
		assert_true(ino_at(ns, "o") == 0);
	else if (r->o && !r->tried[S_UNLINK_O])
		assert_true(ino_at(ns, "o") == r->o);
}

static void verify(const char *dir, struct fsrun *r)
{
	struct lsm_options o;
	struct ns_options no;
	struct ns_fsck_options fo;
	struct ns_fsck_stats st;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct ns *ns;
	int rc;

	lsm_opts(&o);
	assert_int_equal(lsm_open(dir, &o, &db, NULL), 0);
	ns_fsck_options_init(&fo);
	fo.report = report;
	fo.ctx = r;
	rc = ns_fsck(db, &fo, &st, &err);
	if (rc)
		fprintf(stderr, "ns oom n=%lu: fsck: %s\n", r->n, err.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(st.problems, 0);
	ns_options_init(&no);
	no.chunk_size = CS;
	rc = ns_open(db, &no, &ns, &err);
	if (rc)
		fprintf(stderr, "ns oom n=%lu: ns_open: %s\n", r->n, err.msg);
	assert_int_equal(rc, 0);
	check_names(r, ns);
	ns_close(ns);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static unsigned long running_n;

static void on_alarm(int sig)
{
	char msg[80];
	int len = snprintf(msg, sizeof(msg), "ns oom: run n=%lu hangs\n",
			   running_n);

	(void)sig;
	if (write(2, msg, (size_t)len) < 0)
		_exit(3);
	abort();
}

static unsigned long one_run(struct tdir *d, unsigned long n,
			     bool persistent, struct fsrun *r)
{
	char name[40];
	unsigned long calls;
	long live;

	snprintf(name, sizeof(name), "n%lu%s", n, persistent ? "p" : "");
	memset(r, 0, sizeof(*r));
	r->n = n;
	running_n = n;
	dircache_fill(tdir_root(d));
	live = failmalloc_live();
	alarm(120);
	failmalloc_arm(n, persistent);
	workload(tdir_path(d, name), r);
	calls = failmalloc_disarm();
	alarm(0);
	dircache_fill(tdir_root(d));
	if (failmalloc_live() != live) {
		fprintf(stderr, "ns oom n=%lu%s: %ld blocks leaked\n", n,
			persistent ? " (persistent)" : "",
			failmalloc_live() - live);
		fail();
	}
	verify(tdir_path(d, name), r);
	dircache_fill(tdir_root(d));
	assert_int_equal(failmalloc_live(), live);
	tdir_rmrf(tdir_path(d, name));
	return calls;
}

static unsigned long env_ul(const char *name, unsigned long dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 10) : dflt;
}

static void test_ns_oom_sweep(void **state)
{
	struct tdir *d = *state;
	struct fsrun r;
	unsigned long total, step, only = env_ul("LSM_OOM_ONLY", 0);
	int runs = 0, enomem = 0;

	signal(SIGALRM, on_alarm);
	total = one_run(d, 0, false, &r);
	assert_int_equal(r.failures, 0);
	for (int s = 0; s < NSTEPS; s++)
		assert_true(r.ok[s]);
	assert_true(total > 100);
	step = env_ul("LSM_OOM_STEP", total > 400 ? total / 250 : 1);
	if (step == 0)
		step = 1;
	for (unsigned long n = only ? only : 1; n <= (only ? only : total);
	     n += n < 100 ? 1 : step) {
		for (int p = 0; p < 2; p++) {
			bool pers = p == 1;

			if (step > 1 && !only && pers != (n % 3 == 0))
				continue;
			one_run(d, n, pers, &r);
			enomem += r.enomem;
			runs++;
		}
	}
	fprintf(stderr, "ns oom: %d runs over %lu allocation calls (step "
		"%lu): %d ENOMEM\n", runs, total, step, enomem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ns_oom_sweep, tdir_setup,
						tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

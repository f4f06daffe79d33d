/* test_oom.c - allocation failure at every allocation site of a workload
 * (failmalloc.h): open, puts, deletes, batches, a flush, a compaction,
 * gets, iterators both ways, a snapshot and a durable one (create, open,
 * drop), close, reopen and replay.  With
 * the Nth allocation failing (once, or from then on) every call returns 0
 * or a negative errno with a message, nothing crashes or hangs; reopened
 * with memory back, every acknowledged write is there, a failed write is
 * there whole or not at all (a batch too), and every block allocated was
 * freed.  The default run samples N; LSM_OOM_STEP=1 (suite 'slow') tries
 * every N in both modes, LSM_OOM_ONLY=N one N. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "failmalloc.h"
#include "lsm.h"
#include "support.h"

#define NPLAIN 240                  /* plain keys */
#define NBATCH 6                    /* batches */
#define BGROUP 8                    /* keys each batch puts */
#define VICTIM0 NPLAIN              /* key each batch deletes */
#define GROUP0 (NPLAIN + NBATCH)    /* keys the batches put */
#define NKEYS (GROUP0 + NBATCH * BGROUP)
#define VMAX 3                      /* versions written */

/* What a key may hold: its last acknowledged version (0 = absent), and
 * the versions of failed writes since (bit 0 = absent), which may or may
 * not have been applied. */
struct kstate {
	int acked;
	uint64_t maybe;
};

struct run {
	struct kstate m[NKEYS];
	struct kstate snap[NKEYS];      /* the model when the snapshot was
	                                 * taken */
	bool batch_failed[NBATCH];      /* lsm_write of the batch failed */
	unsigned long n;                /* the failing allocation */
	int failures;                   /* calls that failed */
	int codes[4];                   /* -ENOMEM, -EROFS, -EIO, other */
};

static void key_of(int i, char *k)
{
	snprintf(k, 16, "k%04d", i);
}

static size_t value_of(int i, int v, char *out)
{
	size_t n = 20 + (size_t)((i * 7 + v * 13) % 150);

	for (size_t p = 0; p < n; p++)
		out[p] = (char)('!' + (i * 3 + v * 11 + (int)p) % 90);
	return n;
}

static void options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 8u << 10;
	o->table_bytes = 4u << 10;
	o->block_bytes = 1024;
	o->level1_bytes = 16u << 10;
	o->level_multiplier = 4;
	o->l0_compaction_trigger = 2;
	o->cache_bytes = 64u << 10;
	o->max_open_tables = 8;
}

/* Accounts for a failed call: a negative errno, the same in ERR, with a
 * message. */
static void failed_call(struct run *r, const char *what, int rc,
			const struct lsm_err *err)
{
	if (rc >= 0 || (err && (err->code != rc || !err->msg[0]))) {
		fprintf(stderr, "oom n=%lu: %s returned %d, err %d \"%s\"\n",
			r->n, what, rc, err ? err->code : 0,
			err ? err->msg : "");
		fail();
	}
	r->failures++;
	r->codes[rc == -ENOMEM ? 0 : rc == -EROFS ? 1 : rc == -EIO ? 2 : 3]++;
	if (rc != -ENOMEM && rc != -EROFS) {
		fprintf(stderr, "oom n=%lu: %s: unexpected %d \"%s\"\n", r->n,
			what, rc, err ? err->msg : "");
		fail();
	}
}

static void model_write(struct run *r, int i, int v, bool ok)
{
	if (ok) {
		r->m[i].acked = v;
		r->m[i].maybe = 0;
	} else {
		r->m[i].maybe |= 1ull << (v ? 1 + v % 63 : 0);
	}
}

/* Whether key I may read as version V (0 = absent) under model M. */
static bool allowed(const struct kstate *m, int i, int v)
{
	return m[i].acked == v || (m[i].maybe & (1ull << (v ? 1 + v % 63 : 0)));
}

/* The version of key I whose value is VAL, or -1. */
static int version_of(const struct kstate *m, int i, const void *val,
		      size_t n)
{
	char v[256];

	for (int ver = 1; ver <= VMAX; ver++) {
		if (!allowed(m, i, ver))
			continue;
		if (value_of(i, ver, v) == n && !memcmp(v, val, n))
			return ver;
	}
	return -1;
}

/* Key I as seen: RC of lsm_get and the value; checked against M. */
static void check_seen(const struct run *r, const struct kstate *m, int i,
		       int rc, const void *val, size_t n, const char *what)
{
	if (rc == 0 && allowed(m, i, 0))
		return;
	if (rc == 1 && version_of(m, i, val, n) > 0)
		return;
	fprintf(stderr, "oom n=%lu: %s: key %d rc %d len %zu, acked %d "
		"maybe %#llx\n", r->n, what, i, rc, n, m[i].acked,
		(unsigned long long)m[i].maybe);
	fail();
}

/* lsm_get_buf gave BUF, the first bytes of a value of N bytes. */
static void check_prefix(const struct run *r, const struct kstate *m, int i,
			 const char *buf, size_t n)
{
	char want[256];

	for (int v = 1; v <= VMAX; v++)
		if (allowed(m, i, v) && value_of(i, v, want) == n &&
		    !memcmp(want, buf, n < 64 ? n : 64))
			return;
	fprintf(stderr, "oom n=%lu: get_buf: key %d len %zu, acked %d\n",
		r->n, i, n, m[i].acked);
	fail();
}

static int key_index(const void *k, size_t kl)
{
	char s[16];

	assert_true(kl == 5);
	memcpy(s, k, kl);
	s[kl] = 0;
	assert_true(s[0] == 'k');
	return atoi(s + 1);
}

static void put(struct run *r, struct lsm_db *db, int i, int v)
{
	struct lsm_err err = { 0 };
	char k[16], val[256];
	size_t n = value_of(i, v, val);
	int rc;

	key_of(i, k);
	rc = lsm_put(db, k, strlen(k), val, n, &err);
	if (rc)
		failed_call(r, "put", rc, &err);
	model_write(r, i, v, rc == 0);
}

static void del(struct run *r, struct lsm_db *db, int i)
{
	struct lsm_err err = { 0 };
	char k[16];
	int rc;

	key_of(i, k);
	rc = lsm_delete(db, k, strlen(k), &err);
	if (rc)
		failed_call(r, "delete", rc, &err);
	model_write(r, i, 0, rc == 0);
}

/* Batch J puts its group (version 1) and deletes its victim. */
static void batch(struct run *r, struct lsm_db *db, int j)
{
	struct lsm_batch *b = lsm_batch_new();
	struct lsm_err err = { 0 };
	char k[16], val[256];
	int rc = 0;

	if (!b) {
		r->failures++;
		return;
	}
	for (int i = GROUP0 + j * BGROUP; rc == 0 && i < GROUP0 + (j + 1) *
	     BGROUP; i++) {
		key_of(i, k);
		rc = lsm_batch_put(b, k, strlen(k), val, value_of(i, 1, val));
	}
	key_of(VICTIM0 + j, k);
	if (rc == 0)
		rc = lsm_batch_delete(b, k, strlen(k));
	if (rc) {
		failed_call(r, "batch_put", rc, NULL);
		lsm_batch_free(b);
		return;
	}
	rc = lsm_write(db, b, 0, &err);
	lsm_batch_free(b);
	if (rc) {
		failed_call(r, "write", rc, &err);
		r->batch_failed[j] = true;
	}
	for (int i = GROUP0 + j * BGROUP; i < GROUP0 + (j + 1) * BGROUP; i++)
		model_write(r, i, 1, rc == 0);
	model_write(r, VICTIM0 + j, 0, rc == 0);
}

static void get_all(struct run *r, struct lsm_db *db,
		    const struct lsm_snapshot *s, const struct kstate *m)
{
	for (int i = 0; i < NKEYS; i++) {
		struct lsm_err err = { 0 };
		char k[16], buf[64];
		void *val = NULL;
		size_t n = 0;
		int rc;

		key_of(i, k);
		if (i % 4 == 3) { /* the copying variant, value cut short */
			rc = lsm_get_buf(db, s, k, strlen(k), buf,
					 sizeof(buf), &n, &err);
			if (rc == 1) {
				check_prefix(r, m, i, buf, n);
				continue;
			}
		} else {
			rc = lsm_get(db, s, k, strlen(k), &val, &n, &err);
		}
		if (rc < 0) {
			failed_call(r, "get", rc, &err);
			continue;
		}
		check_seen(r, m, i, rc, val, n, s ? "snapshot get" : "get");
		free(val);
	}
}

/* Walks the iterator forward (or backward): keys in order, each allowed
 * by M; when it ends without an error, every key M says must be there
 * was seen. */
static void walk(struct run *r, struct lsm_db *db,
		 const struct lsm_snapshot *s, const struct kstate *m,
		 bool backward)
{
	struct lsm_iter *it;
	struct lsm_err err = { 0 };
	bool seen[NKEYS] = { false };
	int last = backward ? NKEYS : -1, rc;

	rc = lsm_iter_new(db, s, &it, &err);
	if (rc) {
		failed_call(r, "iter_new", rc, &err);
		return;
	}
	if (backward)
		lsm_iter_seek_last(it);
	else
		lsm_iter_seek_first(it);
	for (; lsm_iter_valid(it);
	     backward ? lsm_iter_prev(it) : lsm_iter_next(it)) {
		size_t kl, vl;
		const void *k = lsm_iter_key(it, &kl);
		const void *v = lsm_iter_value(it, &vl);
		int i = key_index(k, kl);

		assert_true(backward ? i < last : i > last);
		last = i;
		seen[i] = true;
		check_seen(r, m, i, 1, v, vl, "iterator");
	}
	rc = lsm_iter_status(it, &err);
	lsm_iter_free(it);
	if (rc) {
		failed_call(r, "iterator", rc, &err);
		return;
	}
	for (int i = 0; i < NKEYS; i++)
		if (!seen[i])
			check_seen(r, m, i, 0, NULL, 0, "iterator (missing)");
}

/* The workload under test; records what was acknowledged in R. */
static void workload(const char *dir, struct run *r)
{
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	const struct lsm_snapshot *s, *ds = NULL;
	bool durable;
	int rc;

	options(&o);
	rc = lsm_open(dir, &o, &db, &err);
	if (rc) {
		failed_call(r, "open", rc, &err);
		return;
	}
	for (int i = 0; i < NPLAIN + NBATCH; i++)
		put(r, db, i, 1);
	for (int i = 0; i < NPLAIN; i += 7)
		del(r, db, i);
	for (int j = 0; j < NBATCH; j++)
		batch(r, db, j);
	get_all(r, db, NULL, r->m); /* what was just written, read back */
	if ((rc = lsm_flush(db, &err)))
		failed_call(r, "flush", rc, &err);
	s = lsm_snapshot_new(db);
	if (!s)
		r->failures++;
	memcpy(r->snap, r->m, sizeof(r->m));
	/* a durable snapshot of the same state (no write in between) */
	rc = lsm_snapshot_create(db, "oom", NULL, &err);
	if (rc)
		failed_call(r, "snapshot_create", rc, &err);
	durable = rc == 0;
	for (int i = 0; i < NPLAIN; i++) {
		if (i % 3 == 0)
			put(r, db, i, 2);
		else if (i % 5 == 1)
			del(r, db, i);
	}
	if ((rc = lsm_compact_range(db, NULL, 0, NULL, 0, &err)))
		failed_call(r, "compact_range", rc, &err);
	get_all(r, db, NULL, r->m);
	walk(r, db, NULL, r->m, false);
	walk(r, db, NULL, r->m, true);
	if (s) {
		get_all(r, db, s, r->snap);
		walk(r, db, s, r->snap, false);
		lsm_snapshot_release(db, s);
	}
	if (durable) {
		rc = lsm_snapshot_open(db, "oom", &ds, NULL, &err);
		if (rc)
			failed_call(r, "snapshot_open", rc, &err);
		else
			get_all(r, db, ds, r->snap);
		lsm_snapshot_release(db, ds);
		rc = lsm_snapshot_drop(db, "oom", &err);
		if (rc)
			failed_call(r, "snapshot_drop", rc, &err);
	}
	if ((rc = lsm_close(db, &err)))
		failed_call(r, "close", rc, &err);

	/* again: the log is replayed, a few writes on top */
	rc = lsm_open(dir, &o, &db, &err);
	if (rc) {
		failed_call(r, "reopen", rc, &err);
		return;
	}
	for (int i = 2; i < NPLAIN; i += 4)
		put(r, db, i, 3);
	walk(r, db, NULL, r->m, false);
	if ((rc = lsm_close(db, &err)))
		failed_call(r, "close", rc, &err);
}

/* Reopens DIR with memory back: the model holds, batches are whole. */
static void verify(const char *dir, struct run *r)
{
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	int rc;

	options(&o);
	rc = lsm_open(dir, &o, &db, &err);
	if (rc)
		fprintf(stderr, "oom n=%lu: reopen: %s\n", r->n, err.msg);
	assert_int_equal(rc, 0);
	get_all(r, db, NULL, r->m);
	walk(r, db, NULL, r->m, true);
	for (int j = 0; j < NBATCH; j++) {
		int present = 0;
		char k[16];
		void *v;
		size_t n;

		if (!r->batch_failed[j])
			continue;
		for (int i = GROUP0 + j * BGROUP; i < GROUP0 + (j + 1) *
		     BGROUP; i++) {
			key_of(i, k);
			rc = lsm_get(db, NULL, k, strlen(k), &v, &n, NULL);
			assert_true(rc == 0 || rc == 1);
			if (rc == 1)
				free(v);
			present += rc;
		}
		key_of(VICTIM0 + j, k);
		rc = lsm_get(db, NULL, k, strlen(k), &v, &n, NULL);
		if (rc == 1)
			free(v);
		if (present != 0 && present != BGROUP)
			fprintf(stderr, "oom n=%lu: batch %d torn (%d of %d)\n",
				r->n, j, present, BGROUP);
		assert_true(present == 0 || present == BGROUP);
		if (present)
			assert_int_equal(rc, 0);
		else if (r->m[VICTIM0 + j].acked == 1)
			assert_int_equal(rc, 1);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

static unsigned long running_n;

static void on_alarm(int sig)
{
	char msg[80];
	int len = snprintf(msg, sizeof(msg), "oom: run n=%lu hangs\n",
			   running_n);

	(void)sig;
	if (write(2, msg, (size_t)len) < 0)
		_exit(3);
	abort();
}

/* One run with allocation N failing (0: none); returns the allocation
 * calls counted. */
static unsigned long one_run(struct tdir *d, unsigned long n,
			     bool persistent, struct run *r)
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
		fprintf(stderr, "oom n=%lu%s: %ld blocks leaked\n", n,
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

static void test_oom_sweep(void **state)
{
	struct tdir *d = *state;
	struct run *r = calloc(1, sizeof(*r));
	unsigned long total, step, only = env_ul("LSM_OOM_ONLY", 0);
	int runs = 0, codes[4] = { 0 };

	assert_non_null(r);
	signal(SIGALRM, on_alarm);
	total = one_run(d, 0, false, r);
	assert_int_equal(r->failures, 0);
	assert_true(total > 100);
	step = env_ul("LSM_OOM_STEP", total > 400 ? total / 250 : 1);
	if (step == 0)
		step = 1;
	for (unsigned long n = only ? only : 1; n <= (only ? only : total);
	     n += n < 100 ? 1 : step) {
		for (int p = 0; p < 2; p++) {
			bool pers = p == 1;

			/* sampled: a third of the N fail for good */
			if (step > 1 && !only && pers != (n % 3 == 0))
				continue;
			one_run(d, n, pers, r);
			for (int c = 0; c < 4; c++)
				codes[c] += r->codes[c];
			runs++;
		}
	}
	fprintf(stderr, "oom: %d runs over %lu allocation calls (step %lu): "
		"%d ENOMEM, %d EROFS, %d EIO, %d other\n", runs, total, step,
		codes[0], codes[1], codes[2], codes[3]);
	free(r);
}

/* Every allocation of an iterator's life, one at a time, both ways, over
 * keys with tombstones and several versions: a walk ends early only with
 * an error, and never skips or resurrects a key (the sweep above meets
 * these sites only at a few N). */
static void test_iter_oom(void **state)
{
	struct tdir *d = *state;
	struct run *r = calloc(1, sizeof(*r));
	struct lsm_options o;
	struct lsm_db *db;

	assert_non_null(r);
	options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < NKEYS; i++)
		put(r, db, i, 1);
	assert_int_equal(lsm_flush(db, NULL), 0);
	for (int i = 0; i < NKEYS; i++)
		if (i % 7 == 0 || i == NKEYS - 1)
			del(r, db, i);
		else if (i % 3 == 0)
			put(r, db, i, 2);
	assert_int_equal(r->failures, 0);
	for (unsigned long n = 1; n <= 40; n++) {
		for (int back = 0; back < 2; back++) {
			r->n = n;
			failmalloc_arm(n, false);
			walk(r, db, NULL, r->m, back);
			failmalloc_disarm();
		}
	}
	assert_int_equal(lsm_close(db, NULL), 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_oom_sweep, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_iter_oom, tdir_setup,
						tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

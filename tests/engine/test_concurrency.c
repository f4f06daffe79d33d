/* test_concurrency.c - writers, readers and iterators at once while
 * flushes and compactions run underneath (tiny memtables and levels).
 * Each writer owns a slice of the keys and writes increasing versions; a
 * reader must never see a key's version go backwards, never a value that
 * was not written, and iterators must yield strictly increasing keys whose
 * values are well-formed.  Also run under the sanitizers. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lsm.h"
#include "support.h"

#define WRITERS 3
#define READERS 2
#define KEYS_PER_WRITER 200
#define VERSIONS 40

struct shared {
	struct lsm_db *db;
	_Atomic int writers_done;
	_Atomic int failures;
	_Atomic long reads, scans;
};

static void key_of(int w, int k, char *out)
{
	snprintf(out, 24, "w%d-k%04d", w, k);
}

/* value := "w<w>-k<k>-v<version>-" padded with the version's letter */
static size_t value_of(int w, int k, int version, char *out)
{
	int n = snprintf(out, 64, "w%d-k%04d-v%06d-", w, k, version);
	size_t len = (size_t)n + (size_t)((k * 7 + version) % 200);

	for (size_t i = (size_t)n; i < len; i++)
		out[i] = (char)('a' + version % 26);
	return len;
}

/* Parses a value; returns its version or -1 when malformed. */
static int parse_value(const char *v, size_t n, int w, int k)
{
	char want[300], text[300];
	int w2, k2, version;

	if (n >= sizeof(want))
		return -1;
	memcpy(text, v, n); /* values are not NUL-terminated */
	text[n] = '\0';
	if (sscanf(text, "w%d-k%d-v%d-", &w2, &k2, &version) != 3)
		return -1;
	if (w2 != w || k2 != k || value_of(w, k, version, want) != n ||
	    memcmp(want, v, n))
		return -1;
	return version;
}

static void *writer_main(void *arg)
{
	struct shared *s = ((void **)arg)[0];
	int w = (int)(long)((void **)arg)[1];
	char k[24], v[300];

	for (int version = 1; version <= VERSIONS; version++)
		for (int x = 0; x < KEYS_PER_WRITER; x++) {
			size_t n = value_of(w, x, version, v);
			int rc;

			key_of(w, x, k);
			if (version == VERSIONS && x % 5 == 0)
				rc = lsm_delete(s->db, k, strlen(k), NULL);
			else
				rc = lsm_put(s->db, k, strlen(k), v, n, NULL);
			if (rc)
				atomic_fetch_add(&s->failures, 1);
		}
	atomic_fetch_add(&s->writers_done, 1);
	return NULL;
}

static void reader_gets(struct shared *s, struct rng *r, int *seen)
{
	char k[24];

	for (int i = 0; i < 200; i++) {
		int w = (int)rng_below(r, WRITERS);
		int x = (int)rng_below(r, KEYS_PER_WRITER);
		int *last = &seen[w * KEYS_PER_WRITER + x];
		void *v = NULL;
		size_t n;
		int rc, version;

		key_of(w, x, k);
		rc = lsm_get(s->db, NULL, k, strlen(k), &v, &n, NULL);
		atomic_fetch_add(&s->reads, 1);
		if (rc == 0) {
			/* absent only before the first write, or after the
			 * final delete of every fifth key */
			if (*last > 0 && x % 5 != 0) {
				fprintf(stderr, "%s vanished after v%d\n", k,
					*last);
				atomic_fetch_add(&s->failures, 1);
			}
			continue;
		}
		if (rc != 1) {
			fprintf(stderr, "get %s: %d\n", k, rc);
			atomic_fetch_add(&s->failures, 1);
			continue;
		}
		version = parse_value(v, n, w, x);
		if (version < 0 || version < *last) {
			fprintf(stderr, "%s: v%d after v%d\n", k, version,
				*last);
			atomic_fetch_add(&s->failures, 1);
		}
		else
			*last = version;
		free(v);
	}
}

static void reader_scan(struct shared *s)
{
	struct lsm_iter *it;
	char prev[24] = "";
	size_t prevlen = 0;

	if (lsm_iter_new(s->db, NULL, &it, NULL)) {
		atomic_fetch_add(&s->failures, 1);
		return;
	}
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const char *k = lsm_iter_key(it, &kl);
		const char *v = lsm_iter_value(it, &vl);
		char text[24];
		int w = -1, x = -1;

		if (kl < sizeof(text)) {
			memcpy(text, k, kl);
			text[kl] = '\0';
		}
		if (kl >= sizeof(prev) || sscanf(text, "w%d-k%d", &w, &x) != 2 ||
		    parse_value(v, vl, w, x) < 0 ||
		    (prevlen && (memcmp(prev, k, kl < prevlen ? kl : prevlen) > 0 ||
				 (kl == prevlen && !memcmp(prev, k, kl)))))
			atomic_fetch_add(&s->failures, 1);
		memcpy(prev, k, kl);
		prevlen = kl;
	}
	if (lsm_iter_status(it, NULL))
		atomic_fetch_add(&s->failures, 1);
	lsm_iter_free(it);
	atomic_fetch_add(&s->scans, 1);
}

static void *reader_main(void *arg)
{
	struct shared *s = arg;
	int *seen = calloc(WRITERS * KEYS_PER_WRITER, sizeof(int));
	struct rng r;

	rng_init(&r, "reader", 0);
	while (atomic_load(&s->writers_done) < WRITERS) {
		reader_gets(s, &r, seen);
		reader_scan(s);
	}
	free(seen);
	return NULL;
}

static void test_readers_writers(void **state)
{
	struct tdir *d = *state;
	struct shared s = { 0 };
	struct lsm_options o;
	pthread_t wt[WRITERS], rt[READERS];
	void *args[WRITERS][2];
	char k[24], v[300];

	lsm_options_init(&o);
	o.memtable_bytes = 32u << 10;
	o.table_bytes = 16u << 10;
	o.level1_bytes = 64u << 10;
	o.level_multiplier = 4;
	o.l0_compaction_trigger = 2;
	o.cache_bytes = 128u << 10;
	o.io = test_io_nosync();
	assert_int_equal(lsm_open(tdir_root(d), &o, &s.db, NULL), 0);
	for (int i = 0; i < READERS; i++)
		pthread_create(&rt[i], NULL, reader_main, &s);
	for (int i = 0; i < WRITERS; i++) {
		args[i][0] = &s;
		args[i][1] = (void *)(long)i;
		pthread_create(&wt[i], NULL, writer_main, args[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	for (int i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	fprintf(stderr, "concurrency: %ld reads, %ld scans\n",
		atomic_load(&s.reads), atomic_load(&s.scans));
	assert_int_equal(atomic_load(&s.failures), 0);
	/* final state, also after a reopen */
	for (int pass = 0; pass < 2; pass++) {
		for (int w = 0; w < WRITERS; w++)
			for (int x = 0; x < KEYS_PER_WRITER; x++) {
				void *got = NULL;
				size_t n, want;
				int rc;

				key_of(w, x, k);
				rc = lsm_get(s.db, NULL, k, strlen(k), &got, &n,
					     NULL);
				if (x % 5 == 0) {
					assert_int_equal(rc, 0);
					continue;
				}
				assert_int_equal(rc, 1);
				want = value_of(w, x, VERSIONS, v);
				assert_int_equal(n, want);
				assert_memory_equal(got, v, n);
				free(got);
			}
		assert_int_equal(lsm_close(s.db, NULL), 0);
		if (pass == 0)
			assert_int_equal(lsm_open(tdir_root(d), &o, &s.db,
						  NULL), 0);
	}
}

static unsigned long long stat_value(const char *stats, const char *name)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s ", name);
	p = strstr(stats, pat);
	assert_non_null(p);
	return strtoull(p + strlen(pat), NULL, 10);
}

/* Group commit: many threads writing with every-write sync all succeed and
 * every write is there after reopen. */
static void *sync_writer(void *arg)
{
	struct shared *s = ((void **)arg)[0];
	int w = (int)(long)((void **)arg)[1];
	char k[24], v[300];

	for (int x = 0; x < 150; x++) {
		size_t n = value_of(w, x, 1, v);

		key_of(w, x, k);
		if (lsm_put(s->db, k, strlen(k), v, n, NULL))
			atomic_fetch_add(&s->failures, 1);
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	struct tdir *d = *state;
	struct shared s = { 0 };
	struct lsm_options o;
	pthread_t t[6];
	void *args[6][2];
	char k[24], v[300];
	char *stats = NULL;

	lsm_options_init(&o);
	o.sync = LSM_SYNC_ALWAYS;
	assert_int_equal(lsm_open(tdir_root(d), &o, &s.db, NULL), 0);
	for (int i = 0; i < 6; i++) {
		args[i][0] = &s;
		args[i][1] = (void *)(long)i;
		pthread_create(&t[i], NULL, sync_writer, args[i]);
	}
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&s.failures), 0);
	assert_int_equal(lsm_stats(s.db, &stats, NULL), 0);
	fprintf(stderr, "%s", strstr(stats, "lsm_wal_syncs_total "));
	/* Six writers share fsyncs: 900 batches took about 150 with the
	 * leader waiting for company (db_write.c gather), about 240
	 * without; one per batch would mean no group commit at all. */
	assert_true(stat_value(stats, "lsm_wal_syncs_total") <= 600);
	free(stats);
	assert_int_equal(lsm_close(s.db, NULL), 0);
	assert_int_equal(lsm_open(tdir_root(d), &o, &s.db, NULL), 0);
	for (int w = 0; w < 6; w++)
		for (int x = 0; x < 150; x++) {
			void *got;
			size_t n;

			key_of(w, x, k);
			assert_int_equal(lsm_get(s.db, NULL, k, strlen(k), &got,
						 &n, NULL), 1);
			assert_int_equal(n, value_of(w, x, 1, v));
			assert_memory_equal(got, v, n);
			free(got);
		}
	assert_int_equal(lsm_close(s.db, NULL), 0);
}

/* Manual compactions from several threads while writers run: they are
 * serialized with each other and with the compaction thread. */
static void *compactor(void *arg)
{
	struct shared *s = arg;

	while (atomic_load(&s->writers_done) < WRITERS)
		if (lsm_compact_range(s->db, NULL, 0, NULL, 0, NULL))
			atomic_fetch_add(&s->failures, 1);
	return NULL;
}

static void test_concurrent_manual_compactions(void **state)
{
	struct tdir *d = *state;
	struct shared s = { 0 };
	struct lsm_options o;
	pthread_t wt[WRITERS], ct[2];
	void *args[WRITERS][2];

	lsm_options_init(&o);
	o.memtable_bytes = 32u << 10;
	o.table_bytes = 16u << 10;
	o.level1_bytes = 64u << 10;
	o.l0_compaction_trigger = 2;
	o.io = test_io_nosync();
	assert_int_equal(lsm_open(tdir_root(d), &o, &s.db, NULL), 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&ct[i], NULL, compactor, &s);
	for (int i = 0; i < WRITERS; i++) {
		args[i][0] = &s;
		args[i][1] = (void *)(long)i;
		pthread_create(&wt[i], NULL, writer_main, args[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(ct[i], NULL);
	assert_int_equal(atomic_load(&s.failures), 0);
	reader_scan(&s);
	assert_int_equal(atomic_load(&s.failures), 0);
	assert_int_equal(lsm_close(s.db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_readers_writers, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_manual_compactions,
						tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

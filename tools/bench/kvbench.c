/* kvbench.c - the engine workloads of lsmfs-bench with db_bench semantics
 * (fillseq, fillrandom, overwrite, readrandom, readmissing, readseq,
 * seekrandom, deleterandom, compact), run by --threads threads on one open
 * database, timing every operation into a per-thread histogram.  Runs in
 * the engine's own forked child; results go up a pipe. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "hist.h"
#include "statparse.h"
#include "workload.h"

enum kv_kind {
	KV_FILLSEQ, KV_FILLRANDOM, KV_OVERWRITE, KV_READRANDOM,
	KV_READMISSING, KV_READSEQ, KV_SEEKRANDOM, KV_DELETERANDOM,
	KV_COMPACT,
};

static const struct {
	const char *name;
	enum kv_kind kind;
} kv_benches[] = {
	{ "fillseq", KV_FILLSEQ },         { "fillrandom", KV_FILLRANDOM },
	{ "overwrite", KV_OVERWRITE },     { "readrandom", KV_READRANDOM },
	{ "readmissing", KV_READMISSING }, { "readseq", KV_READSEQ },
	{ "seekrandom", KV_SEEKRANDOM },   { "deleterandom", KV_DELETERANDOM },
	{ "compact", KV_COMPACT },
};
#define KV_NBENCH (sizeof(kv_benches) / sizeof(kv_benches[0]))
#define SEEK_NEXTS 10

const char kv_default_benchmarks[] =
	"fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,"
	"seekrandom,deleterandom";

/* The open database and what the child knows of its contents. */
struct kv_ctx {
	const struct bench_engine *e;
	const struct bench_args *a;
	const char *dir;
	void *h;
	_Atomic uint8_t *present;   /* one byte per key index: live? */
	double user_bytes;          /* bytes written since open */
	int64_t wchar0;             /* /proc/self/io wchar at open */
	_Atomic uint64_t done;      /* ops done, for the progress line */
	uint64_t total;
};

struct kv_thread {
	struct kv_ctx *c;
	enum kv_kind kind;
	const char *bench;
	const struct wl_keygen *kg;
	unsigned id;
	uint64_t first, count;      /* index range (fillseq) / op count */
	struct wl_rng rng;
	struct wl_values vals;
	struct hist hist;
	uint64_t ops, found;
	uint64_t last_print;        /* ns, thread 0's progress line */
	double bytes;
	bool started;
	int rc;
	char err[ENG_ERR_LEN];
};

bool kv_known_bench(const char *name)
{
	for (size_t i = 0; i < KV_NBENCH; i++)
		if (strcmp(kv_benches[i].name, name) == 0)
			return true;
	return false;
}

static void kv_tick(struct kv_thread *t)
{
	uint64_t d, now;

	if (++t->ops % 1024)
		return;
	d = atomic_fetch_add_explicit(&t->c->done, 1024,
				      memory_order_relaxed) + 1024;
	if (t->id != 0 || !t->c->a->progress)
		return;
	now = bench_now_ns();
	if (now - t->last_print < 200000000u)
		return;
	t->last_print = now;
	bench_progress(t->c->e->name, t->bench, d, t->c->total);
}

static int kv_put(struct kv_thread *t, uint64_t i, char *key)
{
	const struct bench_config *cfg = &t->c->a->cfg;
	const char *v = wl_value(&t->vals, cfg->value_size);

	wl_key(key, cfg->key_size, i);
	t->bytes += cfg->key_size + cfg->value_size;
	atomic_store_explicit(&t->c->present[i], 1, memory_order_relaxed);
	return t->c->e->put(t->c->h, key, cfg->key_size, v, cfg->value_size,
			    t->err);
}

static int kv_get(struct kv_thread *t, uint64_t i, bool missing, char *key,
		  char *buf, size_t cap)
{
	const struct bench_config *cfg = &t->c->a->cfg;
	size_t vlen = 0;
	int rc;

	if (missing)
		wl_missing_key(key, cfg->key_size, i);
	else
		wl_key(key, cfg->key_size, i);
	rc = t->c->e->get(t->c->h, key, cfg->key_size, buf, cap, &vlen,
			  t->err);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0) {
		t->found++;
		t->bytes += cfg->key_size + vlen;
	}
	return rc;
}

static int kv_del(struct kv_thread *t, uint64_t i, char *key)
{
	const struct bench_config *cfg = &t->c->a->cfg;

	wl_key(key, cfg->key_size, i);
	t->bytes += cfg->key_size;
	atomic_store_explicit(&t->c->present[i], 0, memory_order_relaxed);
	return t->c->e->del(t->c->h, key, cfg->key_size, t->err);
}

/* Seeks to key I and reads up to SEEK_NEXTS entries (a directory listing). */
static int kv_seek(struct kv_thread *t, uint64_t i, char *key)
{
	const struct bench_engine *e = t->c->e;
	unsigned ks = t->c->a->cfg.key_size;
	const void *k, *v;
	size_t kl, vl;
	void *it;
	int rc = e->iter_new(t->c->h, &it, t->err);

	if (rc < 0)
		return rc;
	wl_key(key, ks, i);
	e->iter_seek(it, key, ks);
	for (int n = 0; n < SEEK_NEXTS && e->iter_valid(it); n++) {
		e->iter_entry(it, &k, &kl, &v, &vl);
		if (n == 0 && kl == ks && memcmp(k, key, ks) == 0)
			t->found++;
		t->bytes += (double)(kl + vl);
		e->iter_next(it);
	}
	e->iter_free(it);
	return 0;
}

/* readseq: one iterator, COUNT steps from the thread's first key. */
static int kv_readseq(struct kv_thread *t, char *key)
{
	const struct bench_engine *e = t->c->e;
	unsigned ks = t->c->a->cfg.key_size;
	const void *k, *v;
	size_t kl, vl;
	void *it;
	uint64_t t0;
	int rc = e->iter_new(t->c->h, &it, t->err);

	if (rc < 0)
		return rc;
	wl_key(key, ks, t->first);
	t0 = bench_now_ns();
	e->iter_seek(it, t->first ? key : NULL, t->first ? ks : 0);
	while (t->ops < t->count && e->iter_valid(it)) {
		e->iter_entry(it, &k, &kl, &v, &vl);
		t->bytes += (double)(kl + vl);
		t->found++;
		e->iter_next(it);
		uint64_t t1 = bench_now_ns();

		hist_add(&t->hist, t1 - t0);
		t0 = t1;
		kv_tick(t);
	}
	e->iter_free(it);
	return 0;
}

static int kv_one(struct kv_thread *t, uint64_t n, char *key, char *buf,
		  size_t cap)
{
	uint64_t i;

	switch (t->kind) {
	case KV_FILLSEQ:
		return kv_put(t, t->first + n, key);
	case KV_FILLRANDOM:
	case KV_OVERWRITE:
		return kv_put(t, wl_keygen_next(t->kg, &t->rng), key);
	case KV_READRANDOM:
		return kv_get(t, wl_keygen_next(t->kg, &t->rng), false, key,
			      buf, cap);
	case KV_READMISSING:
		return kv_get(t, wl_keygen_next(t->kg, &t->rng), true, key,
			      buf, cap);
	case KV_SEEKRANDOM:
		return kv_seek(t, wl_keygen_next(t->kg, &t->rng), key);
	case KV_DELETERANDOM:
		i = wl_keygen_next(t->kg, &t->rng);
		return kv_del(t, i, key);
	case KV_COMPACT:
		return t->c->e->compact(t->c->h, t->err);
	default:
		return -EINVAL;
	}
}

static void *kv_thread_main(void *arg)
{
	struct kv_thread *t = arg;
	size_t cap = t->c->a->cfg.value_size + 64;
	char *key = malloc(t->c->a->cfg.key_size + 1);
	char *buf = malloc(cap);

	if (!key || !buf) {
		t->rc = -ENOMEM;
		snprintf(t->err, sizeof(t->err), "out of memory");
		goto out;
	}
	if (t->kind == KV_READSEQ) {
		t->rc = kv_readseq(t, key);
		goto out;
	}
	for (uint64_t n = 0; n < t->count; n++) {
		uint64_t t0 = bench_now_ns();

		t->rc = kv_one(t, n, key, buf, cap);
		hist_add(&t->hist, bench_now_ns() - t0);
		if (t->rc < 0)
			break;
		kv_tick(t);
	}
out:
	free(key);
	free(buf);
	return NULL;
}

static enum kv_kind kv_kind_of(const char *name)
{
	for (size_t i = 0; i < KV_NBENCH; i++)
		if (strcmp(kv_benches[i].name, name) == 0)
			return kv_benches[i].kind;
	return KV_COMPACT;
}

static bool kv_writes(enum kv_kind k)
{
	return k == KV_FILLSEQ || k == KV_FILLRANDOM || k == KV_OVERWRITE ||
	       k == KV_DELETERANDOM;
}

static uint64_t kv_total_ops(const struct bench_config *cfg, enum kv_kind k)
{
	if (k == KV_COMPACT)
		return 1;
	return kv_writes(k) ? cfg->num : cfg->reads;
}

static int kv_threads_init(struct kv_ctx *c, struct kv_thread *th,
			   unsigned nt, enum kv_kind kind, const char *bench,
			   const struct wl_keygen *kg)
{
	const struct bench_config *cfg = &c->a->cfg;
	uint64_t total = kv_total_ops(cfg, kind);

	for (unsigned i = 0; i < nt; i++) {
		struct kv_thread *t = &th[i];

		memset(t, 0, sizeof(*t));
		t->c = c;
		t->kind = kind;
		t->bench = bench;
		t->kg = kg;
		t->id = i;
		t->first = total * i / nt;
		t->count = total * (i + 1) / nt - t->first;
		wl_rng_init(&t->rng, cfg->seed * 1000003u + i * 7919u + kind);
		hist_init(&t->hist);
		if (wl_values_init(&t->vals, cfg->value_size,
				   cfg->compression_ratio, cfg->seed + i) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Runs the workload on NT threads and sums them into R. */
static int kv_run_threads(struct kv_ctx *c, enum kv_kind kind,
			  const char *bench, struct bench_result *r)
{
	unsigned nt = kind == KV_COMPACT ? 1 : c->a->cfg.threads;
	struct kv_thread *th = calloc(nt, sizeof(*th));
	pthread_t *tid = calloc(nt, sizeof(*tid));
	struct hist *all = malloc(sizeof(*all));
	struct wl_keygen kg;
	uint64_t t0;
	int rc = -ENOMEM;

	if (!th || !tid || !all)
		goto out;
	wl_keygen_init(&kg, (enum key_dist)c->a->cfg.distribution,
		       c->a->cfg.num);
	c->total = kv_total_ops(&c->a->cfg, kind);
	atomic_store(&c->done, 0);
	rc = kv_threads_init(c, th, nt, kind, bench, &kg);
	if (rc < 0)
		goto out_vals;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < nt; i++) {
		th[i].started = pthread_create(&tid[i], NULL, kv_thread_main,
					       &th[i]) == 0;
		if (!th[i].started)
			kv_thread_main(&th[i]);  /* run it inline instead */
	}
	for (unsigned i = 0; i < nt; i++)
		if (th[i].started)
			pthread_join(tid[i], NULL);
	r->secs = (double)(bench_now_ns() - t0) / 1e9;
	hist_init(all);
	rc = 0;
	for (unsigned i = 0; i < nt; i++) {
		hist_merge(all, &th[i].hist);
		r->ops += th[i].ops;
		r->found += th[i].found;
		r->bytes += th[i].bytes;
		if (th[i].rc < 0 && rc == 0) {
			rc = r->rc = th[i].rc;
			snprintf(r->err, sizeof(r->err), "%s", th[i].err);
		}
	}
	r->p50_us = (double)hist_quantile(all, 0.50) / 1e3;
	r->p99_us = (double)hist_quantile(all, 0.99) / 1e3;
	r->p999_us = (double)hist_quantile(all, 0.999) / 1e3;
	r->avg_us = hist_mean(all) / 1e3;
	r->max_us = all->count ? (double)all->max / 1e3 : -1;
out_vals:
	for (unsigned i = 0; th && i < nt; i++)
		wl_values_free(&th[i].vals);
out:
	free(th);
	free(tid);
	free(all);
	return rc;
}

static int kv_open(struct kv_ctx *c, bool fresh, char *err)
{
	int rc;

	if (c->h) {
		c->e->close(c->h);
		c->h = NULL;
	}
	if (fresh) {
		rc = bench_rmrf(c->dir);
		if (rc < 0) {
			snprintf(err, ENG_ERR_LEN, "rm -rf %s: %s", c->dir,
				 strerror(-rc));
			return rc;
		}
		memset((void *)c->present, 0, c->a->cfg.num);
	}
	rc = bench_mkdirs(c->dir);
	if (rc == 0)
		rc = c->e->open(&c->a->cfg, c->dir, &c->h, err);
	else
		snprintf(err, ENG_ERR_LEN, "mkdir %s: %s", c->dir,
			 strerror(-rc));
	c->user_bytes = 0;
	c->wchar0 = bench_io_wchar();
	return rc;
}

/* Marks the keys of an existing database (--use_existing_db) as live. */
static int kv_scan_existing(struct kv_ctx *c, char *err)
{
	const void *k, *v;
	size_t kl, vl;
	void *it;
	int rc = c->e->iter_new(c->h, &it, err);

	if (rc < 0)
		return rc;
	for (c->e->iter_seek(it, NULL, 0); c->e->iter_valid(it);
	     c->e->iter_next(it)) {
		int64_t i;

		c->e->iter_entry(it, &k, &kl, &v, &vl);
		i = wl_key_index(k, kl);
		if (i >= 0 && (uint64_t)i < c->a->cfg.num)
			c->present[i] = 1;
	}
	c->e->iter_free(it);
	return 0;
}

static double kv_live_bytes(struct kv_ctx *c)
{
	const struct bench_config *cfg = &c->a->cfg;
	uint64_t live = 0;

	for (uint64_t i = 0; i < cfg->num; i++)
		live += c->present[i];
	return (double)live * (cfg->key_size + cfg->value_size);
}

/* Fills in what is measured after a workload: amplification, RSS. */
static void kv_measure(struct kv_ctx *c, struct bench_result *r)
{
	struct stat_wamp w;
	char *stats = c->e->stats ? c->e->stats(c->h) : NULL;
	int64_t wchar = bench_io_wchar();

	r->ops_per_sec = r->secs > 0 ? (double)r->ops / r->secs : 0;
	r->mb_per_sec = r->secs > 0 ? r->bytes / r->secs / 1048576.0 : 0;
	if (stats && statparse_write_amp(stats, &w) == 0 && w.user > 0)
		r->write_amp = w.wamp;
	free(stats);
	if (wchar >= 0 && c->wchar0 >= 0 && c->user_bytes > 0)
		r->write_amp_io = (double)(wchar - c->wchar0) / c->user_bytes;
	r->db_bytes = (double)bench_du(c->dir);
	r->live_bytes = kv_live_bytes(c);
	if (r->live_bytes > 0)
		r->space_amp = r->db_bytes / r->live_bytes;
	r->rss_kb = (double)bench_peak_rss_kb();
}

static void kv_one_bench(struct kv_ctx *c, const char *name, int bidx,
			 int eidx, struct bench_result *r)
{
	enum kv_kind kind = kv_kind_of(name);
	bool fresh = kind == KV_FILLSEQ || kind == KV_FILLRANDOM;

	report_result_init(r);
	snprintf(r->engine, sizeof(r->engine), "%s", c->e->name);
	snprintf(r->bench, sizeof(r->bench), "%s", name);
	r->engine_idx = eidx;
	r->bench_idx = bidx;
	r->threads = kind == KV_COMPACT ? 1 : (int)c->a->cfg.threads;
	if (fresh && c->a->cfg.use_existing_db) {
		r->rc = -EEXIST;
		snprintf(r->err, sizeof(r->err),
			 "skipped (--use_existing_db)");
		return;
	}
	if ((fresh || !c->h) && kv_open(c, fresh, r->err) < 0) {
		r->rc = -EIO;
		return;
	}
	kv_run_threads(c, kind, name, r);
	if (kv_writes(kind))
		c->user_bytes += r->bytes;
	if (c->a->progress)
		bench_progress_clear();
	kv_measure(c, r);
}

int kv_run_engine(const struct bench_engine *e, const struct bench_args *a,
		  const char *dir, char **bench_names, int nb, int engine_idx,
		  int out_fd)
{
	struct kv_ctx c = { .e = e, .a = a, .dir = dir };
	struct bench_result r;
	int rc = 0;

	c.present = calloc(a->cfg.num + 1, 1);
	if (!c.present)
		return -ENOMEM;
	if (a->cfg.use_existing_db && kv_open(&c, false, r.err) == 0)
		kv_scan_existing(&c, r.err);
	for (int i = 0; i < nb; i++) {
		kv_one_bench(&c, bench_names[i], i, engine_idx, &r);
		if (write(out_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			rc = -EPIPE;
	}
	if (c.h)
		e->close(c.h);
	free((void *)c.present);
	return rc;
}

/* engine.h - the small vtable lsmfs-bench drives every key-value engine
 * through (lsm, and LevelDB, RocksDB and LMDB when built with them), and the
 * settings every engine is opened with.  Each backend lives in eng_NAME.c
 * and knows nothing of workloads or reporting. */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The settings shared by every engine of a run (one set, so every engine
 * gets the same key/value sizes, cache, write buffer, bloom and sync). */
struct bench_config {
	uint64_t num;              /* keys in the key space (--num) */
	uint64_t reads;            /* read operations (--reads, default num) */
	unsigned key_size;         /* bytes, zero-padded decimal (--key_size) */
	unsigned value_size;       /* bytes (--value_size) */
	double compression_ratio;  /* of generated values, 0.5 (db_bench) */
	unsigned threads;          /* --threads */
	bool sync;                 /* --sync: every write durable on return */
	bool use_existing_db;      /* --use_existing_db */
	size_t cache_size;         /* block cache bytes (--cache_size) */
	size_t write_buffer_size;  /* memtable bytes (--write_buffer_size) */
	unsigned bloom_bits;       /* bits per key, 0 = none (--bloom_bits) */
	bool compression;          /* --compression=zlib (else none) */
	int distribution;          /* enum key_dist (workload.h) */
	uint64_t seed;             /* --seed */
};

#define ENG_ERR_LEN 256

/* An engine backend.  Handles are thread-safe unless noted; an iterator is
 * used by one thread.  Every int-returning call gives 0 or a negative
 * errno and fills ERR (ENG_ERR_LEN bytes) with a message on failure. */
struct bench_engine {
	const char *name;
	/* One line stating every setting that matters for comparison. */
	void (*settings)(const struct bench_config *cfg, char *buf, size_t n);
	/* Opens (creating when missing) the database in directory DIR. */
	int (*open)(const struct bench_config *cfg, const char *dir, void **h,
		    char *err);
	void (*close)(void *h);
	/* Durability follows cfg->sync, as for every engine. */
	int (*put)(void *h, const void *k, size_t kl, const void *v, size_t vl,
		   char *err);
	int (*del)(void *h, const void *k, size_t kl, char *err);
	/* Copies up to CAP bytes of the value into BUF and its full length
	 * into *VLEN.  -ENOENT when absent. */
	int (*get)(void *h, const void *k, size_t kl, void *buf, size_t cap,
		   size_t *vlen, char *err);
	/* A new iterator over the current state (one per scan, as a directory
	 * listing opens one). */
	int (*iter_new)(void *h, void **it, char *err);
	/* Positions at the first key >= K (KL 0: at the first key). */
	void (*iter_seek)(void *it, const void *k, size_t kl);
	bool (*iter_valid)(void *it);
	void (*iter_next)(void *it);
	/* Borrowed until the iterator moves. */
	void (*iter_entry)(void *it, const void **k, size_t *kl,
			   const void **v, size_t *vl);
	void (*iter_free)(void *it);
	/* Compacts the whole key range (may be a no-op). */
	int (*compact)(void *h, char *err);
	/* Engine statistics as "name value" text lines, malloc'ed; NULL when
	 * the engine has none. */
	char *(*stats)(void *h);
};

/* The engines built into this binary, NULL-terminated. */
extern const struct bench_engine *const bench_engines[];

/* The engine called NAME, or NULL. */
const struct bench_engine *bench_engine_find(const char *name);

extern const struct bench_engine eng_lsm;
extern const struct bench_engine eng_lsm_mmap;
#ifdef HAVE_LEVELDB
extern const struct bench_engine eng_leveldb;
extern const struct bench_engine eng_leveldb_verify;
#endif
#ifdef HAVE_ROCKSDB
extern const struct bench_engine eng_rocksdb;
#endif
#ifdef HAVE_LMDB
extern const struct bench_engine eng_lmdb;
#endif

/* Formats N bytes as "8 MiB" / "512 KiB" / "100 B" into BUF. */
const char *eng_fmt_bytes(size_t n, char *buf, size_t len);

#endif /* BENCH_ENGINE_H */

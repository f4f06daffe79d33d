/* bench.h - what main.c hands the two halves of lsmfs-bench: the engine
 * workloads (kvbench.c, run in one forked child per engine) and the
 * filesystem workloads (fsbench.c).  Also small shared helpers (clock,
 * du, /proc/self/io, the progress line). */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "report.h"

struct bench_args {
	struct bench_config cfg;
	const char *benchmarks;   /* comma-separated workload names */
	const char *engines;      /* comma-separated engine names */
	const char *db;           /* base directory: one subdir per engine */
	const char *json, *csv, *svg;
	unsigned repeat;
	bool progress;            /* stderr is a tty (or --progress=1) */
	/* fs workloads */
	size_t file_size;         /* bytes of each small file */
	unsigned files_per_dir;   /* spread of the "tree" layout */
	uint64_t stream_bytes;    /* size of the streamed large file */
	const char *tar_source;   /* tree archived once, extracted per dir */
	bool drop_caches;         /* before read phases (needs root) */
	uint64_t rand_secs;       /* random I/O runs this long (0: --reads ops) */
	long cpu_pid;             /* also count this process's CPU (the
	                           * filesystem daemon); 0: none */
};

/* Runs BENCH_NAMES (NB of them) on engine E in directory DIR, writing one
 * struct bench_result per workload to OUT_FD.  Called in a forked child,
 * so peak RSS is this engine's.  Returns 0 or a negative errno. */
int kv_run_engine(const struct bench_engine *e, const struct bench_args *a,
		  const char *dir, char **bench_names, int nb, int engine_idx,
		  int out_fd);
/* Is NAME an engine workload? */
bool kv_known_bench(const char *name);
/* The default --benchmarks list of each half. */
extern const char kv_default_benchmarks[];
extern const char fs_default_benchmarks[];

/* Runs BENCH_NAMES on the directory DIR (results labelled LABEL) and
 * appends them to *RES (*NRES entries, realloc'ed).  0 or -errno. */
int fs_run_dir(const struct bench_args *a, const char *label, const char *dir,
	       char **bench_names, int nb, int dir_idx,
	       struct bench_result **res, size_t *nres);
bool fs_known_bench(const char *name);
/* Removes the tarball fs_run_dir made (call once at the end). */
void fs_cleanup(void);

/* ---- helpers (util.c) ---- */
uint64_t bench_now_ns(void);           /* CLOCK_MONOTONIC */
/* snprintf into a path buffer; -ENAMETOOLONG (BUF cut) on truncation. */
int bench_fmt(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Bytes allocated on disk under PATH (st_blocks * 512, as du). */
uint64_t bench_du(const char *path);
/* rm -rf PATH; 0 or -errno. */
int bench_rmrf(const char *path);
/* mkdir -p PATH; 0 or -errno. */
int bench_mkdirs(const char *path);
/* "wchar" of /proc/self/io (bytes passed to write(2) and kin); -1. */
int64_t bench_io_wchar(void);
/* Peak RSS of this process in KiB. */
long bench_peak_rss_kb(void);
/* The progress line on stderr: "\r[label] bench [#####.....] 52%". */
void bench_progress(const char *label, const char *bench, uint64_t done,
		    uint64_t total);
void bench_progress_clear(void);

#endif /* BENCH_BENCH_H */

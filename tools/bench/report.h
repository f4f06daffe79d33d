/* report.h - the results of lsmfs-bench and their outputs: the terminal
 * table, CSV, JSON (a list of flat objects, one per engine and workload)
 * and an SVG bar chart.  Also the median across --repeat runs.  No I/O but
 * to the FILE given. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One workload on one engine (or one directory for `fs`).  Fields that
 * could not be measured are negative (printed "-", JSON null). */
struct bench_result {
	char engine[32];          /* engine name or directory label */
	char bench[32];           /* workload name */
	int engine_idx, bench_idx;/* order for the outputs */
	uint64_t ops;             /* operations done (all threads) */
	uint64_t found;           /* reads that found their key */
	double secs;              /* wall time of the workload */
	double bytes;             /* user bytes moved (keys + values) */
	double ops_per_sec, mb_per_sec;
	double ops_min, ops_max;  /* spread of ops_per_sec over the runs */
	unsigned runs;            /* runs aggregated (1 without --repeat) */
	double p50_us, p99_us, p999_us, avg_us, max_us;
	double write_amp;         /* engine's own counters (lsm_stats) */
	double write_amp_io;      /* write(2) bytes of the process / user */
	double space_amp;         /* du of the db dir / live data bytes */
	double db_bytes, live_bytes;
	double rss_kb;            /* peak RSS of the engine's process */
	int threads;
	int rc;                   /* 0, or the negative errno it failed with */
	char err[256];            /* why it failed, when rc < 0 */
	const char *settings;     /* the engine's settings line, or NULL;
	                           * owned by the caller (not sent by pipe) */
};

/* Sets the not-measured fields of R to -1 and the rest to 0. */
void report_result_init(struct bench_result *r);

/* Groups IN (N results of several runs) by (engine, bench) into OUT (room
 * for N), taking the median of every figure and the min/max of ops/s, and
 * sorts OUT by bench_idx then engine_idx.  Returns the number written. */
size_t report_aggregate(const struct bench_result *in, size_t n,
			struct bench_result *out);

/* The terminal table; ratios of ops/s are against the engine REF (NULL or
 * absent: no ratio column). */
void report_table(FILE *f, const struct bench_result *r, size_t n,
		  const char *ref);
void report_csv(FILE *f, const struct bench_result *r, size_t n);
/* EXTRA, when non-NULL, is a JSON fragment of "key": value pairs (no braces)
 * added to every object (the run's settings). */
void report_json(FILE *f, const struct bench_result *r, size_t n,
		 const char *extra);
/* A grouped bar chart of ops/s per workload, each group scaled to its
 * fastest engine, with the values printed.  TITLE is escaped. */
void report_svg(FILE *f, const struct bench_result *r, size_t n,
		const char *title);

/* Writes S as a JSON string (with quotes) / an XML text. */
void report_json_string(FILE *f, const char *s);
void report_xml_text(FILE *f, const char *s);

#endif /* BENCH_REPORT_H */

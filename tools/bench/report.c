/* report.c - lsmfs-bench outputs: medians over runs, the terminal table,
 * CSV, JSON and a hand-written SVG bar chart. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

void report_result_init(struct bench_result *r)
{
	memset(r, 0, sizeof(*r));
	r->runs = 1;
	r->write_amp = r->write_amp_io = r->space_amp = -1;
	r->db_bytes = r->live_bytes = r->rss_kb = -1;
	r->p50_us = r->p99_us = r->p999_us = r->avg_us = r->max_us = -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of field OFF over the K results at IDX. */
static double median_of(const struct bench_result *in, const size_t *idx,
			size_t k, size_t off, double *tmp)
{
	size_t m = 0;

	for (size_t i = 0; i < k; i++) {
		double v = *(const double *)((const char *)&in[idx[i]] + off);

		if (v >= 0)
			tmp[m++] = v;
	}
	if (!m)
		return -1;
	qsort(tmp, m, sizeof(double), cmp_double);
	return m % 2 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2;
}

static const size_t median_fields[] = {
	offsetof(struct bench_result, secs),
	offsetof(struct bench_result, bytes),
	offsetof(struct bench_result, ops_per_sec),
	offsetof(struct bench_result, mb_per_sec),
	offsetof(struct bench_result, p50_us),
	offsetof(struct bench_result, p99_us),
	offsetof(struct bench_result, p999_us),
	offsetof(struct bench_result, avg_us),
	offsetof(struct bench_result, max_us),
	offsetof(struct bench_result, write_amp),
	offsetof(struct bench_result, write_amp_io),
	offsetof(struct bench_result, space_amp),
	offsetof(struct bench_result, db_bytes),
	offsetof(struct bench_result, live_bytes),
	offsetof(struct bench_result, rss_kb),
};

static void aggregate_group(const struct bench_result *in, const size_t *idx,
			    size_t k, struct bench_result *o, double *tmp)
{
	*o = in[idx[0]];
	o->runs = (unsigned)k;
	o->ops_min = o->ops_max = in[idx[0]].ops_per_sec;
	for (size_t i = 0; i < k; i++) {
		const struct bench_result *r = &in[idx[i]];

		if (r->ops_per_sec < o->ops_min)
			o->ops_min = r->ops_per_sec;
		if (r->ops_per_sec > o->ops_max)
			o->ops_max = r->ops_per_sec;
		if (r->rc < 0 && o->rc == 0) {
			o->rc = r->rc;
			memcpy(o->err, r->err, sizeof(o->err));
		}
	}
	for (size_t f = 0; f < sizeof(median_fields) / sizeof(size_t); f++)
		*(double *)((char *)o + median_fields[f]) =
			median_of(in, idx, k, median_fields[f], tmp);
	if (o->ops_per_sec < 0)
		o->ops_per_sec = 0;
}

static int cmp_order(const void *a, const void *b)
{
	const struct bench_result *x = a, *y = b;

	if (x->bench_idx != y->bench_idx)
		return x->bench_idx < y->bench_idx ? -1 : 1;
	return (x->engine_idx > y->engine_idx) - (x->engine_idx < y->engine_idx);
}

static bool same_group(const struct bench_result *a,
		       const struct bench_result *b)
{
	return strcmp(a->engine, b->engine) == 0 &&
	       strcmp(a->bench, b->bench) == 0 && a->bench_idx == b->bench_idx;
}

size_t report_aggregate(const struct bench_result *in, size_t n,
			struct bench_result *out)
{
	size_t *idx = calloc(n + 1, sizeof(size_t));
	double *tmp = calloc(n + 1, sizeof(double));
	bool *used = calloc(n + 1, sizeof(bool));
	size_t nout = 0;

	if (!idx || !tmp || !used) {
		nout = n;
		memcpy(out, in, n * sizeof(*in));
		goto out_sort;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		if (used[i])
			continue;
		for (size_t j = i; j < n; j++) {
			if (!used[j] && same_group(&in[i], &in[j])) {
				used[j] = true;
				idx[k++] = j;
			}
		}
		aggregate_group(in, idx, k, &out[nout++], tmp);
	}
out_sort:
	qsort(out, nout, sizeof(*out), cmp_order);
	free(idx);
	free(tmp);
	free(used);
	return nout;
}

/* ---- terminal table ---- */

static void put_num(FILE *f, int width, double v, int prec)
{
	if (v < 0)
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*.*f", width, prec, v);
}

static double ref_ops(const struct bench_result *r, size_t n, size_t i,
		      const char *ref)
{
	for (size_t j = 0; ref && j < n; j++)
		if (r[j].bench_idx == r[i].bench_idx &&
		    strcmp(r[j].engine, ref) == 0 && r[j].rc == 0)
			return r[j].ops_per_sec;
	return -1;
}

/* The ratio column: "REF/x", at least 6 wide. */
static int col_width(const char *ref)
{
	size_t w = ref && strlen(ref) <= 8 ? strlen(ref) + 2 : 5;

	return w < 6 ? 6 : (int)w;
}

static void table_row(FILE *f, const struct bench_result *r, size_t n,
		      size_t i, const char *ref)
{
	const struct bench_result *x = &r[i];
	double base = ref_ops(r, n, i, ref);

	fprintf(f, "%-14s %-14s", x->bench, x->engine);
	if (x->rc == -EEXIST) {          /* skipped, e.g. --use_existing_db */
		fprintf(f, " %s\n", x->err);
		return;
	}
	if (x->rc < 0) {
		fprintf(f, " FAILED: %s\n", x->err);
		return;
	}
	put_num(f, 11, x->ops_per_sec, 0);
	/* one convention everywhere: the reference over this row (lsm/peer) */
	put_num(f, col_width(ref), base > 0 && x->ops_per_sec > 0 ?
		base / x->ops_per_sec : -1, 2);
	put_num(f, 7, x->mb_per_sec, 1);
	put_num(f, 8, x->p50_us, 2);
	put_num(f, 8, x->p99_us, 1);
	put_num(f, 9, x->p999_us, 1);
	put_num(f, 6, x->write_amp, 2);
	put_num(f, 6, x->write_amp_io, 2);
	put_num(f, 6, x->space_amp, 2);
	put_num(f, 7, x->rss_kb >= 0 ? x->rss_kb / 1024 : -1, 1);
	if (x->runs > 1 && x->ops_per_sec > 0)
		fprintf(f, "  spread %.0f%%",
			100 * (x->ops_max - x->ops_min) / x->ops_per_sec);
	if (x->found != x->ops && strncmp(x->bench, "read", 4) == 0)
		fprintf(f, "  found %llu/%llu", (unsigned long long)x->found,
			(unsigned long long)x->ops);
	fputc('\n', f);
}

void report_table(FILE *f, const struct bench_result *r, size_t n,
		  const char *ref)
{
	char col[16];

	/* the column says which way it divides: "lsm/x" is lsm's ops/s over
	 * this row's (above 1, lsm is faster) */
	if (ref && strlen(ref) <= 8)
		snprintf(col, sizeof(col), "%s/x", ref);
	else
		snprintf(col, sizeof(col), "ref/x");
	fprintf(f, "%-14s %-14s %11s %*s %7s %8s %8s %9s %6s %6s %6s %7s\n",
		"benchmark", "engine", "ops/s", col_width(ref), col, "MB/s",
		"p50 us",
		"p99 us", "p99.9 us", "w-amp", "io-amp", "s-amp", "rss MB");
	for (size_t i = 0; i < n; i++) {
		if (i && r[i].bench_idx != r[i - 1].bench_idx)
			fputc('\n', f);
		table_row(f, r, n, i, ref);
	}
}

/* ---- CSV ---- */

static void csv_num(FILE *f, double v)
{
	if (v < 0)
		fputs(",", f);
	else
		fprintf(f, ",%.6g", v);
}

static void csv_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void report_csv(FILE *f, const struct bench_result *r, size_t n)
{
	fputs("engine,benchmark,ops,seconds,ops_per_sec,ops_per_sec_min,"
	      "ops_per_sec_max,runs,mb_per_sec,p50_us,p99_us,p999_us,avg_us,"
	      "max_us,found,write_amp,write_amp_io,space_amp,db_bytes,"
	      "live_bytes,peak_rss_kb,threads,error,settings\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct bench_result *x = &r[i];

		csv_text(f, x->engine);
		fputc(',', f);
		csv_text(f, x->bench);
		fprintf(f, ",%llu", (unsigned long long)x->ops);
		csv_num(f, x->secs);
		csv_num(f, x->ops_per_sec);
		csv_num(f, x->ops_min);
		csv_num(f, x->ops_max);
		fprintf(f, ",%u", x->runs);
		csv_num(f, x->mb_per_sec);
		csv_num(f, x->p50_us);
		csv_num(f, x->p99_us);
		csv_num(f, x->p999_us);
		csv_num(f, x->avg_us);
		csv_num(f, x->max_us);
		fprintf(f, ",%llu", (unsigned long long)x->found);
		csv_num(f, x->write_amp);
		csv_num(f, x->write_amp_io);
		csv_num(f, x->space_amp);
		csv_num(f, x->db_bytes);
		csv_num(f, x->live_bytes);
		csv_num(f, x->rss_kb);
		fprintf(f, ",%d,", x->threads);
		csv_text(f, x->rc < 0 ? x->err : "");
		fputc(',', f);
		csv_text(f, x->settings ? x->settings : "");
		fputc('\n', f);
	}
}

/* ---- JSON ---- */

void report_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, const char *key, double v)
{
	fprintf(f, ", \"%s\": ", key);
	if (v < 0 || !isfinite(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static void json_object(FILE *f, const struct bench_result *x,
			const char *extra)
{
	fputs("  {\"engine\": ", f);
	report_json_string(f, x->engine);
	fputs(", \"benchmark\": ", f);
	report_json_string(f, x->bench);
	fprintf(f, ", \"ops\": %llu", (unsigned long long)x->ops);
	json_num(f, "seconds", x->secs);
	json_num(f, "ops_per_sec", x->ops_per_sec);
	json_num(f, "ops_per_sec_min", x->ops_min);
	json_num(f, "ops_per_sec_max", x->ops_max);
	fprintf(f, ", \"runs\": %u", x->runs);
	json_num(f, "mb_per_sec", x->mb_per_sec);
	json_num(f, "p50_us", x->p50_us);
	json_num(f, "p99_us", x->p99_us);
	json_num(f, "p999_us", x->p999_us);
	json_num(f, "avg_us", x->avg_us);
	json_num(f, "max_us", x->max_us);
	fprintf(f, ", \"found\": %llu", (unsigned long long)x->found);
	json_num(f, "write_amp", x->write_amp);
	json_num(f, "write_amp_io", x->write_amp_io);
	json_num(f, "space_amp", x->space_amp);
	json_num(f, "db_bytes", x->db_bytes);
	json_num(f, "live_bytes", x->live_bytes);
	json_num(f, "peak_rss_kb", x->rss_kb);
	fprintf(f, ", \"threads\": %d, \"error\": ", x->threads);
	if (x->rc < 0)
		report_json_string(f, x->err);
	else
		fputs("null", f);
	if (x->settings) {
		fputs(", \"settings\": ", f);
		report_json_string(f, x->settings);
	}
	if (extra && *extra)
		fprintf(f, ", %s", extra);
	fputc('}', f);
}

void report_json(FILE *f, const struct bench_result *r, size_t n,
		 const char *extra)
{
	fputs("[\n", f);
	for (size_t i = 0; i < n; i++) {
		json_object(f, &r[i], extra);
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("]\n", f);
}

/* ---- SVG ---- */

void report_xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static const char *const svg_colors[] = {
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
	"#76b7b2", "#edc948", "#b07aa1", "#9c755f",
};

#define SVG_BAR 26
#define SVG_GAP 30
#define SVG_H 260
#define SVG_TOP 60
#define SVG_LEFT 40

/* Distinct engines in R in order of engine_idx; returns how many. */
static size_t svg_engines(const struct bench_result *r, size_t n,
			  const char **names, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < k; j++)
			if (strcmp(names[j], r[i].engine) == 0)
				break;
		if (j == k && k < cap)
			names[k++] = r[i].engine;
	}
	return k;
}

static void svg_fmt_ops(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

static void svg_group(FILE *f, const struct bench_result *r, size_t n,
		      size_t i, size_t end, const char **names, size_t ne,
		      double x0)
{
	double best = 0, ref = -1;
	char val[32];

	for (size_t j = i; j < end; j++) {
		if (r[j].ops_per_sec > best)
			best = r[j].ops_per_sec;
		if (strcmp(r[j].engine, names[0]) == 0 && r[j].rc == 0)
			ref = r[j].ops_per_sec;
	}
	for (size_t j = i; j < end; j++) {
		size_t e;
		double h, x;

		for (e = 0; e < ne && strcmp(names[e], r[j].engine); e++)
			;
		h = best > 0 && r[j].rc == 0 ?
			SVG_H * r[j].ops_per_sec / best : 0;
		x = x0 + (double)e * SVG_BAR;
		fprintf(f, "<rect x=\"%.0f\" y=\"%.1f\" width=\"%d\" "
			"height=\"%.1f\" fill=\"%s\"/>\n", x,
			SVG_TOP + SVG_H - h, SVG_BAR - 2, h,
			svg_colors[e % 8]);
		svg_fmt_ops(val, sizeof(val), r[j].ops_per_sec);
		fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"9\" "
			"text-anchor=\"middle\">%s</text>\n",
			x + SVG_BAR / 2 - 1, SVG_TOP + SVG_H - h - 3,
			r[j].rc == 0 ? val :
			r[j].rc == -EEXIST ? "skip" : "fail");
		/* under the bar: the reference's ops/s over this bar's */
		if (e > 0 && ref > 0 && r[j].rc == 0 && r[j].ops_per_sec > 0)
			fprintf(f, "<text x=\"%.0f\" y=\"%d\" font-size=\"8\" "
				"text-anchor=\"middle\">%.2fx</text>\n",
				x + SVG_BAR / 2 - 1, SVG_TOP + SVG_H + 10,
				ref / r[j].ops_per_sec);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%d\" font-size=\"11\" "
		"text-anchor=\"middle\">", x0 + (double)ne * SVG_BAR / 2,
		SVG_TOP + SVG_H + 26);
	report_xml_text(f, r[i].bench);
	fputs("</text>\n", f);
	(void)n;
}

void report_svg(FILE *f, const struct bench_result *r, size_t n,
		const char *title)
{
	const char *names[8];
	size_t ne = svg_engines(r, n, names, 8), groups = 0;
	double x = SVG_LEFT, width;

	for (size_t i = 0; i < n; i++)
		groups += !i || r[i].bench_idx != r[i - 1].bench_idx;
	width = SVG_LEFT * 2 + (double)groups * ((double)ne * SVG_BAR + SVG_GAP);
	if (width < 480)
		width = 480;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		"height=\"%d\" font-family=\"sans-serif\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		"<text x=\"%d\" y=\"20\" font-size=\"14\">", width,
		SVG_TOP + SVG_H + 50, SVG_LEFT);
	report_xml_text(f, title ? title : "lsmfs-bench");
	fprintf(f, " (ops/s, each group scaled to its fastest; under each "
		"bar: ");
	report_xml_text(f, ne ? names[0] : "ref");
	fputs("/x, its ops/s over the bar's: above 1, ", f);
	report_xml_text(f, ne ? names[0] : "ref");
	fputs(" is faster)</text>\n", f);
	for (size_t e = 0; e < ne; e++) {
		fprintf(f, "<rect x=\"%zu\" y=\"30\" width=\"12\" height=\"12\" "
			"fill=\"%s\"/><text x=\"%zu\" y=\"41\" font-size=\"11\">",
			SVG_LEFT + e * 110, svg_colors[e % 8],
			SVG_LEFT + e * 110 + 16);
		report_xml_text(f, names[e]);
		fputs("</text>\n", f);
	}
	for (size_t i = 0; i < n;) {
		size_t end = i + 1;

		while (end < n && r[end].bench_idx == r[i].bench_idx)
			end++;
		svg_group(f, r, n, i, end, names, ne, x);
		x += (double)ne * SVG_BAR + SVG_GAP;
		i = end;
	}
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%.0f\" y2=\"%d\" "
		"stroke=\"black\"/>\n</svg>\n", SVG_LEFT, SVG_TOP + SVG_H,
		width - SVG_LEFT, SVG_TOP + SVG_H);
}

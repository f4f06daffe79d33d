/* cmd_repair.c - lsmfs-ctl repair: bring a damaged store back to its last
 * consistent point (lsm_repair, point-in-time recovery of the log), keep
 * what is dropped in DATADIR/lost/, report it, name the files in the range
 * of damaged tables, then check the filesystem.  Asks nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "ctl.h"
#include "lsm_tool.h"

#define KEYS_SHOWN 5    /* dropped keys printed */
#define PATHS_SHOWN 20  /* paths printed per damaged table */
/* Keys (one per file and kind of key) kept per table whose values in the
 * log are lost; beyond, its whole range is named. */
#define VKEYS_MAX 64

/* A key whose value in the log is lost, of table TABLE. */
struct vkey {
	uint64_t table;
	uint8_t *k;
	size_t len;
};

struct table {
	char *file;
	uint8_t *lo, *hi;
	size_t lo_len, hi_len;
	bool dropped;
	uint64_t number, values;
	size_t nvkeys;         /* of o->vkeys naming it; SIZE_MAX: it is
	                        * named by its range (by_keys) */
};

struct rep_out {
	struct ctl_bar bar;
	bool dry_run;
	char *keys[KEYS_SHOWN];
	size_t nkeys;
	struct table *tables;
	size_t ntables;
	struct vkey *vkeys;
	size_t nvkeys;
	bool oom;
	size_t cur_table, paths; /* the path listing */
	size_t *owner;           /* range -> table */
};

static void put_key(FILE *f, const void *k, size_t n)
{
	fputc('\'', f);
	ctl_put_escaped(f, k, n);
	fputc('\'', f);
}

static void *dup_bytes(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

static int keep_table(struct rep_out *o, const struct lsm_repair_finding *f)
{
	struct table *a = realloc(o->tables, (o->ntables + 1) * sizeof(*a));
	struct table *t;

	if (!a)
		return -1;
	o->tables = a;
	t = &a[o->ntables];
	t->file = strdup(f->file);
	t->lo = dup_bytes(f->smallest, f->smallest_len);
	t->hi = dup_bytes(f->largest, f->largest_len);
	t->lo_len = f->smallest_len;
	t->hi_len = f->largest_len;
	t->dropped = f->dropped;
	t->number = f->number;
	t->values = f->values;
	if (!t->file || !t->lo || !t->hi) {
		free(t->file), free(t->lo), free(t->hi);
		return -1;
	}
	o->ntables++;
	return 0;
}

static void table_finding(struct rep_out *o,
			  const struct lsm_repair_finding *f)
{
	fputs("  covers keys ", stdout);
	put_key(stdout, f->smallest, f->smallest_len);
	fputs(" .. ", stdout);
	put_key(stdout, f->largest, f->largest_len);
	fputc('\n', stdout);
	if (!f->dropped && f->values) {
		printf("  left in the manifest: reads of the %" PRIu64 " value%s "
		       "it lost fail (EIO), the\n  others read as before; "
		       "--drop-tables removes the whole table\n", f->values,
		       f->values == 1 ? "" : "s");
	} else if (!f->dropped) {
		printf("  left in the manifest: reads of keys in this range "
		       "fail (EIO) until the\n  table is restored; "
		       "--drop-tables removes it\n");
	} else {
		printf("  %s from the manifest%s%s\n", o->dry_run ?
		       "would be dropped" : "dropped", f->saved ?
		       ", moved to " : "", f->saved ? f->saved : "");
		printf("  warning: older versions of its keys (from deeper "
		       "levels) come back and\n  files it had deleted may "
		       "reappear: old bytes served as current\n");
	}
	if (keep_table(o, f) < 0)
		o->oom = true;
}

static void finding(void *ctx, const struct lsm_repair_finding *f)
{
	struct rep_out *o = ctx;

	ctl_bar_end(&o->bar);
	if (f->offset != LSM_CHECK_NO_OFFSET && f->offset > 0)
		printf("%s@%" PRIu64 ": %s\n", f->file, f->offset, f->problem);
	else
		printf("%s: %s\n", f->file, f->problem);
	if (f->kind == LSM_REPAIR_TABLE)
		table_finding(o, f);
	else if (f->bytes && f->saved)
		printf("  dropped %" PRIu64 " bytes, saved in %s\n", f->bytes,
		       f->saved);
	else if (f->bytes)
		printf("  would drop %" PRIu64 " bytes (saved in lost/)\n",
		       f->bytes);
	fflush(stdout);
}

/* Keeps KEY, lost in the log, unless a kept key of TABLE already names
 * the same file and kind of key (its first 9 bytes); past VKEYS_MAX per
 * table, the table is named by its range (one key more is kept to tell).
 * Repair reports a table's keys together, so TABLE's are the last ones. */
static void damaged_value(void *ctx, uint64_t table, const void *key,
			  size_t klen)
{
	struct rep_out *o = ctx;
	size_t same = 0, pfx = klen < 9 ? klen : 9;
	struct vkey *a;

	for (size_t i = o->nvkeys; i-- > 0 && o->vkeys[i].table == table;) {
		if (o->vkeys[i].len >= pfx &&
		    memcmp(o->vkeys[i].k, key, pfx) == 0)
			return;
		if (++same > VKEYS_MAX)
			return;
	}
	a = realloc(o->vkeys, (o->nvkeys + 1) * sizeof(*a));
	if (!a) {
		o->oom = true;
		return;
	}
	o->vkeys = a;
	a[o->nvkeys] = (struct vkey){ table, dup_bytes(key, klen), klen };
	if (!a[o->nvkeys].k) {
		o->oom = true;
		return;
	}
	o->nvkeys++;
}

static void dropped_key(void *ctx, const void *key, size_t klen,
			uint64_t seq, bool is_delete)
{
	struct rep_out *o = ctx;
	size_t need = lsm_escape(NULL, 0, key, klen) + 1;

	(void)seq, (void)is_delete;
	if (o->nkeys == KEYS_SHOWN)
		return;
	o->keys[o->nkeys] = malloc(need);
	if (!o->keys[o->nkeys])
		return;
	lsm_escape(o->keys[o->nkeys++], need, key, klen);
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct rep_out *o = ctx;

	if (total >= (64u << 20)) /* a line only when it takes a while */
		ctl_bar_update(&o->bar, done, total);
}

static void log_warn(void *ctx, enum lsm_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= LSM_LOG_WARN)
		ctl_msg("%s: %s", level == LSM_LOG_ERROR ? "error" : "warning",
			msg);
}

static void summary(const struct rep_out *o,
		    const struct lsm_repair_result *r)
{
	char b[32];

	printf("recovered: %" PRIu64 " log record%s (%" PRIu64 " key%s)\n",
	       r->records_kept, r->records_kept == 1 ? "" : "s",
	       r->keys_kept, r->keys_kept == 1 ? "" : "s");
	if (r->bytes_dropped || r->records_dropped || r->damaged_records) {
		printf("%s: %" PRIu64 " log records (%" PRIu64 " intact, %"
		       PRIu64 " damaged), %" PRIu64 " key%s, %" PRIu64
		       " bytes (%s) of log\n",
		       o->dry_run ? "would drop" : "dropped",
		       r->records_dropped + r->damaged_records,
		       r->records_dropped, r->damaged_records,
		       r->keys_dropped, r->keys_dropped == 1 ? "" : "s",
		       r->bytes_dropped, ctl_bytes(b, r->bytes_dropped));
	}
	for (size_t i = 0; i < o->nkeys; i++)
		printf("%s'%s'", i ? ", " : "  keys dropped: ", o->keys[i]);
	if (r->keys_dropped > o->nkeys)
		printf(", ... (%" PRIu64 " more)", r->keys_dropped - o->nkeys);
	if (o->nkeys)
		putchar('\n');
	if (r->bytes_missing)
		printf("missing: %" PRIu64 " bytes of log the manifest records"
		       " are gone\n", r->bytes_missing);
}

static void path_found(void *ctx, size_t range, const char *path,
		       size_t len)
{
	struct rep_out *o = ctx;
	const struct table *t = &o->tables[o->owner[range]];

	if (o->owner[range] != o->cur_table || o->paths == 0) {
		if (o->paths > PATHS_SHOWN)
			printf("  ... and %zu more\n", o->paths - PATHS_SHOWN);
		o->cur_table = o->owner[range];
		o->paths = 0;
		if (t->nvkeys != SIZE_MAX)
			printf("files whose data %s points to in the log is "
			       "lost (reads fail with EIO):\n", t->file);
		else
			printf("files in the range of %s:\n", t->file);
	}
	if (++o->paths <= PATHS_SHOWN) {
		fputs("  ", stdout);
		ctl_put_escaped(stdout, path, len);
		fputc('\n', stdout);
	}
}

/* Whether table T is named by the keys whose values it lost (it stays
 * listed, so only they fail; their number in T->nvkeys) rather than by
 * its range. */
static bool by_keys(const struct rep_out *o, struct table *t)
{
	size_t n = 0;

	t->nvkeys = SIZE_MAX;
	if (t->dropped || !t->values)
		return false;
	for (size_t i = 0; i < o->nvkeys; i++)
		n += o->vkeys[i].table == t->number;
	if (n == 0 || n > VKEYS_MAX)
		return false;
	t->nvkeys = n;
	return true;
}

/* Names the files whose keys lie in the damaged tables' ranges, or, for a
 * table that only lost values in the log, the files of those values. */
static void table_paths(struct rep_out *o, const char *dir)
{
	size_t cap = o->ntables + o->nvkeys + 1, nr = 0;
	struct ctl_range *r = calloc(cap, sizeof(*r));
	struct lsm_err err = { 0 };
	int rc;

	o->owner = calloc(cap, sizeof(*o->owner));
	if (!o->ntables || !r || !o->owner) {
		free(r);
		return;
	}
	for (size_t i = 0; i < o->ntables; i++) {
		struct table *t = &o->tables[i];

		if (!by_keys(o, t)) {
			o->owner[nr] = i;
			r[nr++] = (struct ctl_range){ t->lo, t->hi, t->lo_len,
						      t->hi_len };
			continue;
		}
		for (size_t j = 0; j < o->nvkeys; j++) {
			const struct vkey *v = &o->vkeys[j];

			if (v->table != t->number)
				continue;
			o->owner[nr] = i;
			r[nr++] = (struct ctl_range){ v->k, v->k, v->len,
						      v->len };
		}
	}
	o->cur_table = 0;
	o->paths = 0;
	rc = ctl_range_paths(dir, r, nr, path_found, o, &err);
	if (o->paths > PATHS_SHOWN)
		printf("  ... and %zu more\n", o->paths - PATHS_SHOWN);
	if (rc < 0)
		printf("%s: cannot name the files in the damaged tables' "
		       "ranges while they stay listed (%s); --drop-tables "
		       "names them once dropped\n", dir, err.msg);
	else if (rc == 0 && o->paths == 0)
		printf("%s: no file of the filesystem has keys in the damaged "
		       "tables' ranges\n", dir);
	free(r);
}

static bool has_filesystem(const char *dir)
{
	struct lsm_options o;
	struct lsm_db *db;
	void *v = NULL;
	size_t n;
	int rc;

	lsm_options_init(&o);
	o.read_only = true;
	if (lsm_open(dir, &o, &db, NULL) < 0)
		return false;
	rc = lsm_get(db, NULL, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN, &v, &n,
		     NULL);
	free(v);
	lsm_close(db, NULL);
	return rc != 0;
}

/* After a repair: whether the store opens and its filesystem holds up. */
static int verdict(const struct rep_out *o, const char *dir,
		   const struct lsm_repair_result *r)
{
	unsigned kept = r->tables_damaged - r->tables_dropped;
	uint64_t problems = 0;
	int rc;

	if (o->dry_run) {
		printf("%s: dry run: nothing was changed%s\n", dir,
		       r->changed ? "; run without --dry-run to repair" :
		       r->tables_damaged ? "" : " (nothing to repair)");
		return r->changed || r->tables_damaged ? CTL_PROBLEMS : CTL_OK;
	}
	if (r->reopen.code) {
		printf("%s: the store still does not open: %s\n", dir,
		       r->reopen.msg);
		return CTL_DAMAGED;
	}
	printf("%s: the store opens%s\n", dir, r->changed ?
	       " (repaired)" : " (nothing to repair)");
	if (kept) {
		printf("%s: filesystem not checked: %u damaged table%s left "
		       "in the manifest\n", dir, kept, kept == 1 ? "" : "s");
		return CTL_PROBLEMS;
	}
	if (!has_filesystem(dir))
		return CTL_OK;
	rc = ctl_check_fs(dir, &problems);
	if (rc != CTL_OK)
		return rc;
	return problems ? CTL_PROBLEMS : CTL_OK;
}

static void out_free(struct rep_out *o)
{
	for (size_t i = 0; i < o->nkeys; i++)
		free(o->keys[i]);
	for (size_t i = 0; i < o->ntables; i++) {
		free(o->tables[i].file);
		free(o->tables[i].lo);
		free(o->tables[i].hi);
	}
	free(o->tables);
	for (size_t i = 0; i < o->nvkeys; i++)
		free(o->vkeys[i].k);
	free(o->vkeys);
	free(o->owner);
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct rep_out out = { .dry_run = false };
	struct lsm_repair_options o;
	struct lsm_repair_result res;
	struct lsm_options eo;
	struct lsm_err err = { 0 };
	bool drop = false;
	const struct ctl_flag flags[] = { { "dry-run", &out.dry_run },
					  { "drop-tables", &drop },
					  { NULL, NULL } };
	char *pos[argc], cur[4096];
	struct stat st;
	int n, rc = ctl_args(c, argc, argv, flags, 1, 1, pos, &n);

	if (rc >= 0)
		return rc;
	if ((rc = ctl_check_dir(pos[0])) != CTL_OK)
		return rc;
	snprintf(cur, sizeof(cur), "%s/CURRENT", pos[0]);
	if (stat(cur, &st) < 0) {
		ctl_msg("%s is not an lsmfs store (no CURRENT file)", pos[0]);
		return CTL_FOREIGN;
	}
	lsm_options_init(&eo);
	eo.log_fn = log_warn;
	lsm_repair_options_init(&o);
	o.dry_run = out.dry_run;
	o.drop_tables = drop;
	o.finding = finding;
	o.dropped_key = dropped_key;
	o.damaged_value = damaged_value;
	o.progress = progress;
	o.ctx = &out;
	o.engine = &eo;
	ctl_bar_init(&out.bar, "repairing");
	rc = lsm_repair(pos[0], &o, &res, &err);
	ctl_bar_end(&out.bar);
	if (rc == 0) {
		summary(&out, &res);
		table_paths(&out, pos[0]);
		rc = verdict(&out, pos[0], &res);
	} else {
		rc = rc == -ENOENT ? (ctl_msg("%s", err.msg), CTL_FOREIGN) :
		     ctl_fail(pos[0], rc, &err);
	}
	if (out.oom)
		ctl_msg("out of memory: some damaged tables are not listed");
	out_free(&out);
	return rc;
}

const struct ctl_cmd cmd_repair = {
	.name = "repair",
	.args = "[--dry-run] [--drop-tables]",
	.summary = "recover a damaged store to its last consistent point",
	.help = "Replays the log segments in order and stops at the first "
		"damage (a damaged\nrecord, a missing segment, a sealed "
		"segment of another size, a segment the\nmanifest does not "
		"record): the writes before it are kept, everything after\n"
		"it, in that segment and in later ones, is dropped and saved "
		"in DATADIR/lost/\n(never deleted).  Reports what was dropped "
		"(records, keys, bytes), then\nwrites a consistent store: the "
		"recovered writes in a table, a fresh log and\nmanifest.\n\n"
		"Damaged or missing tables are reported with the key range "
		"they cover and the\nfiles whose keys lie in it.  By default "
		"they stay in the manifest (reads in\ntheir range fail with "
		"EIO); --drop-tables removes them and moves them to\nlost/: "
		"older versions of their keys then come back, and files they "
		"had\ndeleted may reappear.  A table whose values in the log "
		"(the value log) are\nlost is damaged too: the files of "
		"those values are named, and only they fail\nwhile it stays "
		"listed.  Then checks the filesystem.\n\n"
		"  --dry-run      report what would be dropped, change "
		"nothing\n"
		"  --drop-tables  remove damaged tables from the manifest\n\n"
		"Needs the store not to be in use.  Shows progress on a "
		"terminal.\n\nExit status: 0 the store opens and is "
		"consistent (--dry-run: nothing to\nrepair), 1 damage is left "
		"(tables kept, filesystem problems; --dry-run:\nrepair would "
		"change something), 5 the store still does not open, 2 in "
		"use,\n3, 4, 6 as for other commands.\n",
	.read_only = false,
	.run = run,
};

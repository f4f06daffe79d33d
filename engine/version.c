/* version.c - version edits (building, encoding, strict decoding), table
 * metadata and the read-only queries on a version.  The version set (the
 * manifest log, building versions from edits, recovery) is version_set.c.
 * Edit format: version.h and engine/doc/manifest.md. */
#include "version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "table_cache.h"
#include "ikey.h"

enum edit_tag {
	TAG_LOG_NUMBER = 1,
	TAG_NEXT_FILE = 2,
	TAG_LAST_SEQ = 3,
	TAG_DELETED = 4,
	TAG_ADDED = 5,
	TAG_POINTER = 6,
	TAG_COMPARATOR = 7,
	TAG_FEATURES = 8,
	TAG_WAL_ADDED = 9,
	TAG_WAL_SEALED = 10,
	TAG_IDENTITY = 64,
	/* Tags from here on carry lenbytes and may be skipped by readers
	 * that do not know them (room for compatible additions). */
	TAG_FIRST_SKIPPABLE = 64,
	/* Entry and deletion counts of a table added in the same edit. */
	TAG_TABLE_COUNTS = 65,
	/* The store's epochs, the whole list (compat feature `epochs`). */
	TAG_EPOCHS = 68,
	/* The list of durable snapshots (ro_compat `snapshots`). */
	TAG_SNAPSHOTS = 66,
	/* The log segments the pointers of a table added in the same edit
	 * name (incompat feature `value_log`). */
	TAG_TABLE_VLOG = 69,
};

#define COMPARATOR_NAME "lsm.bytewise"

/* ---- file metadata ---- */

struct file_meta *file_meta_new(uint64_t number, uint64_t size,
				const uint8_t *smallest, size_t slen,
				const uint8_t *largest, size_t llen)
{
	struct file_meta *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->number = number;
	f->size = size;
	f->smallest = mem_dup(smallest, slen);
	f->smallest_len = slen;
	f->largest = mem_dup(largest, llen);
	f->largest_len = llen;
	f->refs = 1;
	if (!f->smallest || !f->largest) {
		file_meta_unref(f);
		return NULL;
	}
	return f;
}

void file_meta_unref(struct file_meta *f)
{
	if (!f || --f->refs > 0)
		return;
	free(f->smallest);
	free(f->largest);
	for (size_t i = 0; i < f->nspans; i++)
		free(f->spans[i].lo); /* hi shares its block */
	free(f->spans);
	vlog_refs_free(&f->vlog);
	table_pin_release(atomic_load_explicit(&f->pin, memory_order_acquire));
	free(f);
}

/* ---- edits ---- */

void version_edit_init(struct version_edit *e)
{
	memset(e, 0, sizeof(*e));
}

void version_edit_free(struct version_edit *e)
{
	size_t i;

	for (i = 0; i < e->nadded; i++)
		file_meta_unref(e->added[i].f);
	for (i = 0; i < e->npointers; i++)
		free(e->pointers[i].key);
	free(e->added);
	free(e->deleted);
	free(e->pointers);
	free(e->wals);
	free(e->snaps);
	version_edit_init(e);
}

bool snapshot_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > LSM_SNAPSHOT_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int version_edit_set_snapshots(struct version_edit *e,
			       const struct lsm_snapshot_info *snaps, size_t n)
{
	struct lsm_snapshot_info *p = NULL;

	if (n) {
		p = malloc(n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memcpy(p, snaps, n * sizeof(*p));
	}
	free(e->snaps);
	e->snaps = p;
	e->nsnaps = n;
	e->has_snapshots = true;
	return 0;
}

/* Makes room for one more element in *ARR (N used of *CAP, SZ bytes each). */
static int grow(void **arr, size_t n, size_t *cap, size_t sz)
{
	size_t ncap = *cap ? *cap * 2 : 4;
	void *p;

	if (n < *cap)
		return 0;
	if (ncap > SIZE_MAX / sz)
		return -ENOMEM;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int version_edit_add_file(struct version_edit *e, int level, uint64_t number,
			  uint64_t size, const uint8_t *smallest, size_t slen,
			  const uint8_t *largest, size_t llen)
{
	struct file_meta *f;

	if (grow((void **)&e->added, e->nadded, &e->cap_added,
		 sizeof(*e->added)) < 0)
		return -ENOMEM;
	f = file_meta_new(number, size, smallest, slen, largest, llen);
	if (!f)
		return -ENOMEM;
	e->added[e->nadded++] = (struct edit_file){ .level = level, .f = f,
						    .number = number };
	return 0;
}

int version_edit_delete_file(struct version_edit *e, int level,
			     uint64_t number)
{
	if (grow((void **)&e->deleted, e->ndeleted, &e->cap_deleted,
		 sizeof(*e->deleted)) < 0)
		return -ENOMEM;
	e->deleted[e->ndeleted++] = (struct edit_file){ .level = level,
							.number = number };
	return 0;
}

static struct file_meta *added_file(struct version_edit *e, uint64_t number)
{
	for (size_t i = e->nadded; i > 0; i--)
		if (e->added[i - 1].f->number == number)
			return e->added[i - 1].f;
	return NULL;
}

void version_edit_set_counts(struct version_edit *e, uint64_t number,
			     uint64_t entries, uint64_t deletions)
{
	struct file_meta *f = added_file(e, number);

	if (!f)
		return;
	f->has_counts = true;
	f->entries = entries;
	f->deletions = deletions;
}

int version_edit_copy_counts(struct version_edit *e, uint64_t number,
			     const struct file_meta *f)
{
	struct file_meta *to = added_file(e, number);

	if (to && vlog_refs_copy(&to->vlog, &f->vlog) < 0)
		return -ENOMEM; /* the edit would lose the segments */
	if (!f->has_counts)
		return 0;
	version_edit_set_counts(e, number, f->entries, f->deletions);
	to = added_file(e, number);
	if (to)
		to->pinned_bytes = f->pinned_bytes;
	return 0;
}

int version_edit_set_pointer(struct version_edit *e, int level,
			     const uint8_t *key, size_t len)
{
	uint8_t *k;

	if (grow((void **)&e->pointers, e->npointers, &e->cap_pointers,
		 sizeof(*e->pointers)) < 0)
		return -ENOMEM;
	k = mem_dup(key, len);
	if (!k)
		return -ENOMEM;
	e->pointers[e->npointers].level = level;
	e->pointers[e->npointers].key = k;
	e->pointers[e->npointers].len = len;
	e->npointers++;
	return 0;
}

static int edit_wal(struct version_edit *e, uint64_t number, uint64_t size,
		    bool sealed)
{
	if (grow((void **)&e->wals, e->nwals, &e->cap_wals,
		 sizeof(*e->wals)) < 0)
		return -ENOMEM;
	e->wals[e->nwals++] = (struct edit_wal){ .number = number,
						 .size = size,
						 .sealed = sealed };
	return 0;
}

int version_edit_add_wal(struct version_edit *e, uint64_t number)
{
	return edit_wal(e, number, 0, false);
}

int version_edit_seal_wal(struct version_edit *e, uint64_t number,
			  uint64_t size)
{
	return edit_wal(e, number, size, true);
}

/* Encoding, in this order (decoders accept any order):
 *   [7 comparator] [8 features] [1 log_number] [2 next_file] [3 last_seq]
 *   6 pointer* 4 deleted* 5 added* (9 wal added | 10 wal sealed)*
 * A failed allocation leaves OUT with its oom flag set. */
void version_edit_encode(const struct version_edit *e, struct buf *out)
{
	size_t i;

	if (e->has_comparator) {
		buf_put_varint(out, TAG_COMPARATOR);
		buf_put_lenbytes(out, COMPARATOR_NAME, strlen(COMPARATOR_NAME));
	}
	if (e->has_features) {
		buf_put_varint(out, TAG_FEATURES);
		buf_put_varint(out, e->features.compat);
		buf_put_varint(out, e->features.ro_compat);
		buf_put_varint(out, e->features.incompat);
	}
	if (e->has_log_number) {
		buf_put_varint(out, TAG_LOG_NUMBER);
		buf_put_varint(out, e->log_number);
	}
	if (e->has_next_file) {
		buf_put_varint(out, TAG_NEXT_FILE);
		buf_put_varint(out, e->next_file);
	}
	if (e->has_last_seq) {
		buf_put_varint(out, TAG_LAST_SEQ);
		buf_put_varint(out, e->last_seq);
	}
	for (i = 0; i < e->npointers; i++) {
		buf_put_varint(out, TAG_POINTER);
		buf_put_varint(out, (uint64_t)e->pointers[i].level);
		buf_put_lenbytes(out, e->pointers[i].key, e->pointers[i].len);
	}
	for (i = 0; i < e->ndeleted; i++) {
		buf_put_varint(out, TAG_DELETED);
		buf_put_varint(out, (uint64_t)e->deleted[i].level);
		buf_put_varint(out, e->deleted[i].number);
	}
	for (i = 0; i < e->nadded; i++) {
		const struct file_meta *f = e->added[i].f;

		buf_put_varint(out, TAG_ADDED);
		buf_put_varint(out, (uint64_t)e->added[i].level);
		buf_put_varint(out, f->number);
		buf_put_varint(out, f->size);
		buf_put_lenbytes(out, f->smallest, f->smallest_len);
		buf_put_lenbytes(out, f->largest, f->largest_len);
		if (f->has_counts) {
			uint8_t tmp[40], *q = tmp;

			q = put_varint64(q, f->number);
			q = put_varint64(q, f->entries);
			q = put_varint64(q, f->deletions);
			if (f->pinned_bytes)
				q = put_varint64(q, f->pinned_bytes);
			buf_put_varint(out, TAG_TABLE_COUNTS);
			buf_put_lenbytes(out, tmp, (size_t)(q - tmp));
		}
		if (f->vlog.n) {
			struct buf t = BUF_INIT;

			buf_put_varint(&t, f->number);
			buf_put_varint(&t, f->vlog.n);
			for (size_t j = 0; j < f->vlog.n; j++) {
				buf_put_varint(&t, f->vlog.v[j].segment);
				buf_put_varint(&t, f->vlog.v[j].bytes);
			}
			buf_put_varint(out, TAG_TABLE_VLOG);
			if (buf_ok(&t))
				buf_put_lenbytes(out, t.p, t.len);
			else
				out->oom = true;
			buf_free(&t);
		}
	}
	if (e->has_identity) {
		struct buf id = BUF_INIT;

		buf_append(&id, e->identity.id, LSM_STORE_ID_BYTES);
		buf_put_varint(&id, e->identity.replica ? 1 : 0);
		buf_put_varint(&id, e->identity.nhistory);
		for (i = 0; i < e->identity.nhistory; i++) {
			buf_put_varint(&id, e->identity.history[i].generation);
			buf_put_varint(&id, e->identity.history[i].start_seq);
		}
		buf_put_varint(out, TAG_IDENTITY);
		if (buf_ok(&id))
			buf_put_lenbytes(out, id.p, id.len);
		else
			out->oom = true;
		buf_free(&id);
	}
	if (e->has_snapshots) {
		struct buf sn = BUF_INIT;

		buf_put_varint(&sn, e->nsnaps);
		for (i = 0; i < e->nsnaps; i++) {
			const struct lsm_snapshot_info *si = &e->snaps[i];

			buf_put_varint(&sn, si->id);
			buf_put_varint(&sn, si->seq);
			buf_put_varint(&sn, (uint64_t)si->time_sec);
			buf_put_varint(&sn, si->time_nsec);
			buf_put_lenbytes(&sn, si->name, strlen(si->name));
		}
		buf_put_varint(out, TAG_SNAPSHOTS);
		if (buf_ok(&sn))
			buf_put_lenbytes(out, sn.p, sn.len);
		else
			out->oom = true;
		buf_free(&sn);
	}
	if (e->has_epochs) {
		struct buf ep = BUF_INIT;

		buf_put_varint(&ep, e->nepochs);
		for (i = 0; i < e->nepochs; i++) {
			buf_put_varint(&ep, e->epochs[i].tag);
			buf_put_varint(&ep, e->epochs[i].start_seq);
		}
		buf_put_varint(out, TAG_EPOCHS);
		if (buf_ok(&ep))
			buf_put_lenbytes(out, ep.p, ep.len);
		else
			out->oom = true;
		buf_free(&ep);
	}
	for (i = 0; i < e->nwals; i++) {
		buf_put_varint(out, e->wals[i].sealed ? TAG_WAL_SEALED
						      : TAG_WAL_ADDED);
		buf_put_varint(out, e->wals[i].number);
		if (e->wals[i].sealed)
			buf_put_varint(out, e->wals[i].size);
	}
}

/* Decoding state: the cursor and where the current field began, for
 * messages. */
struct dec {
	const uint8_t *base, *p, *end;
	size_t field;
	struct lsm_err *err;
};

static int bad(struct dec *d, const char *what)
{
	return lsm_err_set(d->err, -EUCLEAN,
			   "version edit: %s (field at byte %zu of %zu)",
			   what, d->field, (size_t)(d->end - d->base));
}

static int get_u64(struct dec *d, uint64_t *v, const char *what)
{
	d->p = get_varint64(d->p, d->end, v);
	return d->p ? 0 : bad(d, what);
}

static int get_level(struct dec *d, int *level)
{
	uint32_t v;

	d->p = get_varint32(d->p, d->end, &v);
	if (!d->p)
		return bad(d, "truncated level");
	if (v >= LSM_MAX_LEVELS)
		return bad(d, "level out of range");
	*level = (int)v;
	return 0;
}

static int get_ikey(struct dec *d, const uint8_t **k, size_t *len,
		    const char *what)
{
	d->p = get_lenbytes(d->p, d->end, k, len);
	if (!d->p)
		return bad(d, what);
	if (!ikey_valid(*k, *len))
		return bad(d, "invalid internal key");
	return 0;
}

static int dec_scalar(struct dec *d, bool *has, uint64_t *v,
		      const char *name)
{
	if (*has)
		return bad(d, name);
	*has = true;
	return get_u64(d, v, "truncated number");
}

static int dec_added(struct dec *d, struct version_edit *e)
{
	const uint8_t *s, *l;
	size_t slen, llen;
	uint64_t number, size;
	int level, rc;

	if ((rc = get_level(d, &level)) < 0 ||
	    (rc = get_u64(d, &number, "truncated table number")) < 0 ||
	    (rc = get_u64(d, &size, "truncated table size")) < 0 ||
	    (rc = get_ikey(d, &s, &slen, "truncated smallest key")) < 0 ||
	    (rc = get_ikey(d, &l, &llen, "truncated largest key")) < 0)
		return rc;
	if (ikey_cmp(s, slen, l, llen) > 0)
		return bad(d, "table smallest key > largest key");
	rc = version_edit_add_file(e, level, number, size, s, slen, l, llen);
	return rc < 0 ? lsm_err_set(d->err, rc, "version edit: out of memory")
		      : 0;
}

static int dec_deleted(struct dec *d, struct version_edit *e)
{
	uint64_t number;
	int level, rc;

	if ((rc = get_level(d, &level)) < 0 ||
	    (rc = get_u64(d, &number, "truncated table number")) < 0)
		return rc;
	rc = version_edit_delete_file(e, level, number);
	return rc < 0 ? lsm_err_set(d->err, rc, "version edit: out of memory")
		      : 0;
}

static int dec_pointer(struct dec *d, struct version_edit *e)
{
	const uint8_t *k;
	size_t len;
	int level, rc;

	if ((rc = get_level(d, &level)) < 0 ||
	    (rc = get_ikey(d, &k, &len, "truncated compact pointer")) < 0)
		return rc;
	rc = version_edit_set_pointer(e, level, k, len);
	return rc < 0 ? lsm_err_set(d->err, rc, "version edit: out of memory")
		      : 0;
}

static int dec_comparator(struct dec *d, struct version_edit *e)
{
	const uint8_t *name;
	size_t len;

	if (e->has_comparator)
		return bad(d, "comparator repeated");
	d->p = get_lenbytes(d->p, d->end, &name, &len);
	if (!d->p)
		return bad(d, "truncated comparator name");
	if (len != strlen(COMPARATOR_NAME) ||
	    memcmp(name, COMPARATOR_NAME, len) != 0)
		return bad(d, "comparator is not " COMPARATOR_NAME);
	e->has_comparator = true;
	return 0;
}

static int dec_features(struct dec *d, struct version_edit *e)
{
	int rc;

	if (e->has_features)
		return bad(d, "features repeated");
	e->has_features = true;
	if ((rc = get_u64(d, &e->features.compat, "truncated features")) < 0 ||
	    (rc = get_u64(d, &e->features.ro_compat,
			  "truncated features")) < 0 ||
	    (rc = get_u64(d, &e->features.incompat,
			  "truncated features")) < 0)
		return rc;
	return 0;
}

static int dec_wal(struct dec *d, struct version_edit *e, bool sealed)
{
	uint64_t number, size = 0;
	int rc;

	if ((rc = get_u64(d, &number, "truncated log number")) < 0 ||
	    (sealed && (rc = get_u64(d, &size, "truncated log size")) < 0))
		return rc;
	if (number == 0)
		return bad(d, "log number 0");
	rc = edit_wal(e, number, size, sealed);
	return rc < 0 ? lsm_err_set(d->err, rc, "version edit: out of memory")
		      : 0;
}

static int dec_identity(struct dec *d, struct version_edit *e)
{
	const uint8_t *p, *end;
	size_t len;
	uint64_t flags, n;
	struct lsm_identity *id = &e->identity;

	if (e->has_identity)
		return bad(d, "identity repeated");
	d->p = get_lenbytes(d->p, d->end, &p, &len);
	if (!d->p || len < LSM_STORE_ID_BYTES)
		return bad(d, "truncated identity");
	end = p + len;
	memcpy(id->id, p, LSM_STORE_ID_BYTES);
	p += LSM_STORE_ID_BYTES;
	if (!(p = get_varint64(p, end, &flags)) ||
	    !(p = get_varint64(p, end, &n)))
		return bad(d, "truncated identity");
	if (flags & ~UINT64_C(1))
		return bad(d, "unknown identity flags");
	if (n == 0 || n > LSM_HISTORY_MAX)
		return bad(d, "identity history length out of range");
	id->replica = flags & 1;
	id->nhistory = (unsigned)n;
	for (unsigned i = 0; i < id->nhistory; i++) {
		struct lsm_generation *g = &id->history[i];

		if (!(p = get_varint64(p, end, &g->generation)) ||
		    !(p = get_varint64(p, end, &g->start_seq)))
			return bad(d, "truncated identity history");
		if (i && (g->generation <= id->history[i - 1].generation ||
			  g->start_seq < id->history[i - 1].start_seq))
			return bad(d, "identity history out of order");
	}
	if (p != end)
		return bad(d, "trailing bytes in identity");
	id->generation = id->history[id->nhistory - 1].generation;
	e->has_identity = true;
	return 0;
}

/* Field 68: the epochs, ascending by start, tags not 0. */
static int dec_epochs(struct dec *d, struct version_edit *e)
{
	const uint8_t *p, *end;
	size_t len;
	uint64_t n;

	if (e->has_epochs)
		return bad(d, "epochs repeated");
	d->p = get_lenbytes(d->p, d->end, &p, &len);
	if (!d->p)
		return bad(d, "truncated epochs");
	end = p + len;
	if (!(p = get_varint64(p, end, &n)))
		return bad(d, "truncated epochs");
	if (n == 0 || n > LSM_EPOCHS_MAX)
		return bad(d, "epoch count out of range");
	e->nepochs = (unsigned)n;
	for (unsigned i = 0; i < e->nepochs; i++) {
		struct lsm_epoch *x = &e->epochs[i];

		if (!(p = get_varint64(p, end, &x->tag)) ||
		    !(p = get_varint64(p, end, &x->start_seq)))
			return bad(d, "truncated epochs");
		if (x->tag == 0 || x->start_seq == 0)
			return bad(d, "epoch with tag or start 0");
		if (i && x->start_seq <= e->epochs[i - 1].start_seq)
			return bad(d, "epochs out of order");
	}
	if (p != end)
		return bad(d, "trailing bytes in epochs");
	e->has_epochs = true;
	return 0;
}

/* Field 65: the counts of a table this edit added before it.  Bytes after
 * the three numbers are left for later additions (skipped). */
static int dec_counts(struct dec *d, struct version_edit *e)
{
	struct dec in = *d;
	uint64_t number, entries, deletions;
	struct file_meta *f;
	const uint8_t *p;
	size_t len;
	int rc;

	d->p = get_lenbytes(d->p, d->end, &p, &len);
	if (!d->p)
		return bad(d, "truncated table counts");
	in.p = p;
	in.end = p + len;
	if ((rc = get_u64(&in, &number, "truncated table counts")) < 0 ||
	    (rc = get_u64(&in, &entries, "truncated table counts")) < 0 ||
	    (rc = get_u64(&in, &deletions, "truncated table counts")) < 0)
		return bad(d, "truncated table counts");
	if (deletions > entries)
		return bad(d, "table counts: more deletions than entries");
	f = added_file(e, number);
	if (!f || f->has_counts)
		return bad(d, "table counts without their table");
	version_edit_set_counts(e, number, entries, deletions);
	/* an optional fourth number: the bytes snapshots pin in it */
	if (in.p < in.end && get_u64(&in, &f->pinned_bytes,
				     "truncated table counts") < 0)
		return bad(d, "truncated table counts");
	return 0;
}

/* Field 69: the segments a table this edit added before it points into,
 * each with the bytes it names there: ascending, no repeats.  Bytes after
 * the list are left for later additions. */
static int dec_vlog(struct dec *d, struct version_edit *e)
{
	struct dec in = *d;
	uint64_t number, n, seg, bytes, prev = 0;
	struct file_meta *f;
	const uint8_t *p;
	size_t len;

	d->p = get_lenbytes(d->p, d->end, &p, &len);
	if (!d->p)
		return bad(d, "truncated table segments");
	in.p = p;
	in.end = p + len;
	if (get_u64(&in, &number, "truncated table segments") < 0 ||
	    get_u64(&in, &n, "truncated table segments") < 0)
		return bad(d, "truncated table segments");
	f = added_file(e, number);
	if (!f || f->vlog.n)
		return bad(d, "table segments without their table");
	if (n == 0 || n > len)
		return bad(d, "table segments: a bad count");
	for (uint64_t i = 0; i < n; i++) {
		if (get_u64(&in, &seg, "truncated table segments") < 0 ||
		    get_u64(&in, &bytes, "truncated table segments") < 0)
			return bad(d, "truncated table segments");
		if (seg == 0 || seg <= prev)
			return bad(d, "table segments out of order");
		if (vlog_refs_add(&f->vlog, seg, bytes) < 0)
			return lsm_err_set(d->err, -ENOMEM,
					   "version edit: out of memory");
		prev = seg;
	}
	return 0;
}

/* Field 66: the whole list of durable snapshots. */
static int dec_snapshots(struct dec *d, struct version_edit *e)
{
	struct dec in = *d;
	struct lsm_snapshot_info *s;
	uint64_t n, v[4];
	const uint8_t *p, *name;
	size_t len, nlen;

	if (e->has_snapshots)
		return bad(d, "snapshot list repeated");
	d->p = get_lenbytes(d->p, d->end, &p, &len);
	if (!d->p)
		return bad(d, "truncated snapshot list");
	in.p = p;
	in.end = p + len;
	if (get_u64(&in, &n, "truncated snapshot list") < 0)
		return bad(d, "truncated snapshot list");
	if (n > LSM_SNAPSHOTS_MAX)
		return bad(d, "more snapshots than " "LSM_SNAPSHOTS_MAX");
	s = n ? calloc(n, sizeof(*s)) : NULL;
	if (n && !s)
		return lsm_err_set(d->err, -ENOMEM,
				   "version edit: out of memory");
	free(e->snaps);
	e->snaps = s;
	e->nsnaps = 0;
	e->has_snapshots = true;
	for (uint64_t i = 0; i < n; i++) {
		for (int k = 0; k < 4; k++)
			if (get_u64(&in, &v[k], "truncated snapshot") < 0)
				return bad(d, "truncated snapshot");
		in.p = get_lenbytes(in.p, in.end, &name, &nlen);
		if (!in.p)
			return bad(d, "truncated snapshot name");
		if (v[0] == 0 || v[0] > LSM_SNAPSHOT_ID_MAX)
			return bad(d, "snapshot id out of range");
		if (v[1] > IKEY_MAX_SEQ)
			return bad(d, "snapshot sequence out of range");
		if (v[3] >= 1000000000u || v[2] > (uint64_t)INT64_MAX)
			return bad(d, "snapshot time out of range");
		if (!snapshot_name_valid((const char *)name, nlen))
			return bad(d, "bad snapshot name");
		for (size_t j = 0; j < e->nsnaps; j++)
			if (s[j].id == v[0] ||
			    (strlen(s[j].name) == nlen &&
			     memcmp(s[j].name, name, nlen) == 0))
				return bad(d, "snapshot id or name repeated");
		s[i].id = (uint32_t)v[0];
		s[i].seq = v[1];
		s[i].time_sec = (int64_t)v[2];
		s[i].time_nsec = (uint32_t)v[3];
		memcpy(s[i].name, name, nlen);
		s[i].name[nlen] = '\0';
		e->nsnaps++;
	}
	if (in.p != in.end)
		return bad(d, "trailing bytes in snapshot list");
	return 0;
}

/* A field this version does not know, of the skippable kind. */
static int dec_skip(struct dec *d)
{
	const uint8_t *p;
	size_t len;

	d->p = get_lenbytes(d->p, d->end, &p, &len);
	return d->p ? 0 : bad(d, "truncated unknown field");
}

static int dec_field(struct dec *d, struct version_edit *e)
{
	uint32_t tag;

	d->field = (size_t)(d->p - d->base);
	d->p = get_varint32(d->p, d->end, &tag);
	if (!d->p)
		return bad(d, "truncated tag");
	switch (tag) {
	case TAG_LOG_NUMBER:
		return dec_scalar(d, &e->has_log_number, &e->log_number,
				  "log number repeated");
	case TAG_NEXT_FILE:
		return dec_scalar(d, &e->has_next_file, &e->next_file,
				  "next file number repeated");
	case TAG_LAST_SEQ:
		return dec_scalar(d, &e->has_last_seq, &e->last_seq,
				  "last sequence repeated");
	case TAG_DELETED:
		return dec_deleted(d, e);
	case TAG_ADDED:
		return dec_added(d, e);
	case TAG_POINTER:
		return dec_pointer(d, e);
	case TAG_COMPARATOR:
		return dec_comparator(d, e);
	case TAG_FEATURES:
		return dec_features(d, e);
	case TAG_WAL_ADDED:
		return dec_wal(d, e, false);
	case TAG_WAL_SEALED:
		return dec_wal(d, e, true);
	case TAG_IDENTITY:
		return dec_identity(d, e);
	case TAG_TABLE_COUNTS:
		return dec_counts(d, e);
	case TAG_TABLE_VLOG:
		return dec_vlog(d, e);
	case TAG_EPOCHS:
		return dec_epochs(d, e);
	case TAG_SNAPSHOTS:
		return dec_snapshots(d, e);
	default:
		if (tag >= TAG_FIRST_SKIPPABLE)
			return dec_skip(d);
		return bad(d, "unknown tag");
	}
}

int version_edit_decode(struct version_edit *e, const uint8_t *p, size_t len,
			struct lsm_err *err)
{
	struct dec d = { .base = p, .p = p, .end = len ? p + len : p,
			 .err = err };
	int rc = 0;

	version_edit_init(e);
	while (d.p < d.end) {
		rc = dec_field(&d, e);
		if (rc < 0)
			break;
	}
	if (rc == 0 && e->has_last_seq && e->last_seq > IKEY_MAX_SEQ)
		rc = bad(&d, "last sequence out of range");
	if (rc < 0)
		version_edit_free(e);
	return rc;
}

/* ---- versions ---- */

void version_ref(struct version *v)
{
	v->refs++;
}

void version_unref(struct version *v)
{
	int l;
	size_t i;

	if (!v || --v->refs > 0)
		return;
	if (v->prev) {
		v->prev->next = v->next;
		v->next->prev = v->prev;
	}
	for (l = 0; l < LSM_MAX_LEVELS; l++) {
		for (i = 0; i < v->nfiles[l]; i++)
			file_meta_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v);
}

uint64_t version_level_bytes(const struct version *v, int level)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < v->nfiles[level]; i++)
		sum += v->files[level][i]->size;
	return sum;
}

size_t version_find_file(const struct version *v, int level,
			 const uint8_t *ikey, size_t iklen)
{
	struct file_meta **files = v->files[level];
	size_t lo = 0, hi = v->nfiles[level];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct file_meta *f = files[mid];

		if (ikey_cmp(f->largest, f->largest_len, ikey, iklen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* User-key range [B, E] of a query; NULL ends are unbounded. */
struct urange {
	const uint8_t *b, *e;
	size_t blen, elen;
};

static bool before_begin(const struct urange *r, const uint8_t *k, size_t n)
{
	return r->b && ukey_cmp(k, n, r->b, r->blen) < 0;
}

static bool after_end(const struct urange *r, const uint8_t *k, size_t n)
{
	return r->e && ukey_cmp(k, n, r->e, r->elen) > 0;
}

static int push_file(struct file_meta ***out, size_t *n, size_t *cap,
		     struct file_meta *f)
{
	if (grow((void **)out, *n, cap, sizeof(**out)) < 0)
		return -ENOMEM;
	(*out)[(*n)++] = f;
	return 0;
}

/* One pass over LEVEL.  For L0, widens R and returns 1 when a file
 * overlapping R reaches outside it (the caller starts over). */
static int overlap_pass(const struct version *v, int level,
			struct urange *r, struct file_meta ***out, size_t *n,
			size_t *cap)
{
	size_t i;

	for (i = 0; i < v->nfiles[level]; i++) {
		struct file_meta *f = v->files[level][i];
		const uint8_t *s = f->smallest, *l = f->largest;
		size_t sl = ikey_ulen(f->smallest_len);
		size_t ll = ikey_ulen(f->largest_len);

		if (before_begin(r, l, ll) || after_end(r, s, sl))
			continue;
		if (level == 0 && (before_begin(r, s, sl) ||
				   after_end(r, l, ll))) {
			if (before_begin(r, s, sl)) {
				r->b = s;
				r->blen = sl;
			}
			if (after_end(r, l, ll)) {
				r->e = l;
				r->elen = ll;
			}
			return 1;
		}
		if (push_file(out, n, cap, f) < 0)
			return -ENOMEM;
	}
	return 0;
}

int version_overlapping(const struct version *v, int level,
			const uint8_t *begin, size_t blen,
			const uint8_t *end, size_t elen,
			struct file_meta ***out, size_t *n)
{
	struct urange r = { .b = begin, .e = end, .blen = blen, .elen = elen };
	size_t start = *n, cap = *n;
	int rc;

	do {
		*n = start;
		rc = overlap_pass(v, level, &r, out, n, &cap);
	} while (rc == 1);
	if (rc < 0)
		*n = start;
	return rc;
}

static int check_file(const struct file_meta *f, int level,
		      struct lsm_err *err)
{
	if (!ikey_valid(f->smallest, f->smallest_len) ||
	    !ikey_valid(f->largest, f->largest_len))
		return lsm_err_set(err, -EUCLEAN,
				   "level %d: table %llu has an invalid key",
				   level, (unsigned long long)f->number);
	if (ikey_cmp(f->smallest, f->smallest_len, f->largest,
		     f->largest_len) > 0)
		return lsm_err_set(err, -EUCLEAN,
				   "level %d: table %llu: smallest > largest",
				   level, (unsigned long long)f->number);
	return 0;
}

static int check_order(const struct file_meta *a, const struct file_meta *b,
		       int level, struct lsm_err *err)
{
	if (level == 0 && a->number <= b->number)
		return lsm_err_set(err, -EUCLEAN,
				   "level 0: table %llu listed before %llu",
				   (unsigned long long)a->number,
				   (unsigned long long)b->number);
	if (level > 0 && ikey_cmp(a->largest, a->largest_len, b->smallest,
				  b->smallest_len) >= 0)
		return lsm_err_set(err, -EUCLEAN,
				   "level %d: tables %llu and %llu overlap",
				   level, (unsigned long long)a->number,
				   (unsigned long long)b->number);
	return 0;
}

int version_check(const struct version *v, struct lsm_err *err)
{
	int l, rc;
	size_t i;

	for (l = 0; l < LSM_MAX_LEVELS; l++) {
		for (i = 0; i < v->nfiles[l]; i++) {
			rc = check_file(v->files[l][i], l, err);
			if (rc == 0 && i > 0)
				rc = check_order(v->files[l][i - 1],
						 v->files[l][i], l, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

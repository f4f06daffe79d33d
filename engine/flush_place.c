/* flush_place.c - where a flush's tables go.
 *
 * A flush used to write the whole memtable into one L0 table, which every
 * byte then left again by an L0 -> L1 compaction, however far its keys
 * were from anything else.  Two changes cut that rewrite for keys that
 * land beside the existing ones (a file streamed into lsmfs, a tree
 * untarred: new inode numbers, new chunk keys):
 *
 *   - Prefix groups (opts.table_prefix_bytes = N > 0): a flush's entries
 *     are grouped by the first N bytes of their user key.  A group that
 *     could go below L0 now and holds at least FLUSH_OWN_MIN of entries
 *     gets a table of its own; the groups between two such share one
 *     (one L0 table per flush when no group can go down, as before).
 *     Compactions cut their outputs where that prefix changes too
 *     (compaction.c), so that the tables below do not straddle groups.
 *   - Placement (every flush, with or without prefix groups; LevelDB
 *     places a memtable's output the same way): a table without
 *     tombstones whose user-key range overlaps nothing in L0 goes down
 *     while the next level holds nothing it overlaps,
 *     nothing a running compaction into that level could write over it,
 *     and (LevelDB's bound) the level after holds at most ten tables'
 *     worth it overlaps; at most to FLUSH_MAX_LEVEL.
 *
 * Correctness: no key of the table is in any level above the one it goes
 * to (its range overlaps no table there), so reads still meet a key's
 * versions newest first; within the level the range overlaps no table,
 * so L1+ stay sorted and disjoint.  The decision is made under mu with
 * the manifest write that publishes it (db_log_and_apply holds mu), and
 * L0 is always a correct answer: a plan made before the tables were built
 * is checked again when they are added. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "flush_place.h"

/* LevelDB's kMaxMemCompactLevel: deeper would leave large key-range
 * overlaps between L1 and L2 to the compactions of later flushes. */
#define FLUSH_MAX_LEVEL 2

size_t flush_prefix_len(const struct lsm_db *db, size_t ulen)
{
	size_t n = db->opts.table_prefix_bytes;

	return ulen < n ? ulen : n;
}

bool flush_same_prefix(const struct lsm_db *db, const uint8_t *a,
		       size_t alen, const uint8_t *b, size_t blen)
{
	size_t pa = flush_prefix_len(db, alen), pb = flush_prefix_len(db, blen);

	return pa == pb && memcmp(a, b, pa) == 0;
}

/* Whether table F holds a key in [LO, HI], as far as its spans tell. */
static bool spans_overlap(const struct file_meta *f, const uint8_t *lo,
			  size_t lolen, const uint8_t *hi, size_t hilen)
{
	if (!f->nspans)
		return true; /* its range overlaps: it may */
	for (size_t i = 0; i < f->nspans; i++) {
		const struct key_span *s = &f->spans[i];

		if (ukey_cmp(s->lo, s->lolen, hi, hilen) <= 0 &&
		    ukey_cmp(s->hi, s->hilen, lo, lolen) >= 0)
			return true;
	}
	return false;
}

/* Whether LEVEL may hold a key in [LO, HI].  In L1+ a range overlap is
 * enough (a table placed there must not overlap another's range); in L0
 * what matters is the keys, and a flush's table that holds several
 * prefix groups says where its keys are (its spans): an L0 table of a
 * few inode records whose range happens to cover the chunk keys of a
 * file being streamed does not keep them in L0. */
static bool overlaps(const struct version *v, int level, const uint8_t *lo,
		     size_t lolen, const uint8_t *hi, size_t hilen)
{
	struct file_meta **f = NULL;
	size_t n = 0;
	int rc = version_overlapping(v, level, lo, lolen, hi, hilen, &f, &n);
	bool any = rc < 0; /* out of memory: stay above */

	for (size_t i = 0; !any && i < n; i++)
		any = level > 0 || spans_overlap(f[i], lo, lolen, hi, hilen);
	free(f);
	return any;
}

static uint64_t overlap_bytes(const struct version *v, int level,
			      const uint8_t *lo, size_t lolen,
			      const uint8_t *hi, size_t hilen)
{
	struct file_meta **f = NULL;
	size_t n = 0;
	uint64_t sum = 0;

	if (version_overlapping(v, level, lo, lolen, hi, hilen, &f, &n) < 0) {
		free(f); /* what it gathered before running out */
		return UINT64_MAX;
	}
	for (size_t i = 0; i < n; i++)
		sum += f[i]->size;
	free(f);
	return sum;
}

/* Could a running compaction write into LEVEL over [LO, HI]?  Its inputs
 * are in LEVEL - 1 and LEVEL, marked compacting, and its outputs stay
 * within their range. */
static bool compaction_into(const struct version *v, int level,
			    const uint8_t *lo, size_t lolen,
			    const uint8_t *hi, size_t hilen)
{
	const struct file_meta *min = NULL, *max = NULL;

	for (int l = level - 1; l <= level; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			const struct file_meta *f = v->files[l][i];

			if (!f->compacting)
				continue;
			if (!min || ikey_cmp(f->smallest, f->smallest_len,
					     min->smallest,
					     min->smallest_len) < 0)
				min = f;
			if (!max || ikey_cmp(f->largest, f->largest_len,
					     max->largest,
					     max->largest_len) > 0)
				max = f;
		}
	/* the inputs' hull: an output may span a gap between two inputs */
	return min && ukey_cmp(min->smallest, ikey_ulen(min->smallest_len),
			       hi, hilen) <= 0 &&
	       ukey_cmp(max->largest, ikey_ulen(max->largest_len), lo,
			lolen) >= 0;
}

int flush_level(struct lsm_db *db, const uint8_t *lo, size_t lolen,
		const uint8_t *hi, size_t hilen)
{
	const struct version *v = db->vs.current;
	int level = 0, max = FLUSH_MAX_LEVEL;

	if (max > (int)db->opts.max_levels - 1)
		max = (int)db->opts.max_levels - 1;
	if (overlaps(v, 0, lo, lolen, hi, hilen))
		return 0;
	while (level < max) {
		int next = level + 1;

		if (overlaps(v, next, lo, lolen, hi, hilen) ||
		    compaction_into(v, next, lo, lolen, hi, hilen))
			break;
		if (next + 1 < (int)db->opts.max_levels &&
		    overlap_bytes(v, next + 1, lo, lolen, hi, hilen) >
			    10 * db->opts.table_bytes)
			break;
		level = next;
	}
	return level;
}

void flush_plan_free(struct flush_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		buf_free(&p->g[i].lo);
		buf_free(&p->g[i].hi);
	}
	free(p->g);
	memset(p, 0, sizeof(*p));
}

static int plan_add(struct flush_plan *p, const uint8_t *k, size_t ulen)
{
	struct flush_group *g;

	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 8;
		struct flush_group *ng = realloc(p->g, nc * sizeof(*ng));

		if (!ng)
			return -ENOMEM;
		p->g = ng;
		p->cap = nc;
	}
	g = &p->g[p->n++];
	memset(g, 0, sizeof(*g));
	g->lo = (struct buf)BUF_INIT;
	g->hi = (struct buf)BUF_INIT;
	buf_append(&g->lo, k, ulen);
	return buf_ok(&g->lo) ? 0 : -ENOMEM;
}

int flush_plan_make(struct lsm_db *db, struct memtable *mem,
		    struct flush_plan *p)
{
	struct iiter *it;
	struct flush_group *g = NULL;
	const uint8_t *last = NULL;
	size_t lastlen = 0;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	if (db->opts.table_prefix_bytes == 0)
		return 0;
	it = memtable_iter(mem);
	if (!it)
		return -ENOMEM;
	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it)) {
		size_t kl, vl, ul;
		const uint8_t *k = iiter_key(it, &kl);

		(void)iiter_value(it, &vl);
		ul = ikey_ulen(kl);
		if (!g || !flush_same_prefix(db, k, ul, g->lo.p, g->lo.len)) {
			if (g) {
				buf_append(&g->hi, last, lastlen);
				if (!buf_ok(&g->hi)) {
					rc = -ENOMEM;
					break;
				}
			}
			rc = plan_add(p, k, ul);
			if (rc < 0)
				break;
			g = &p->g[p->n - 1];
		}
		g->bytes += kl + vl;
		last = k; /* the memtable holds it while IT lives */
		lastlen = ul;
	}
	if (rc == 0 && g) {
		buf_append(&g->hi, last, lastlen);
		if (!buf_ok(&g->hi))
			rc = -ENOMEM;
	}
	iiter_free(it);
	if (rc < 0) {
		flush_plan_free(p);
		return rc;
	}
	/* A group below the minimum, or one that would stay in L0 anyway,
	 * shares a table with its neighbours. */
	pthread_mutex_lock(&db->mu);
	for (size_t i = 0; i < p->n; i++) {
		struct flush_group *x = &p->g[i];
		uint64_t min = db->opts.table_bytes / 8;

		int level = flush_level(db, x->lo.p, x->lo.len, x->hi.p,
					x->hi.len);

		x->own = p->n > 1 && x->bytes >= min && level > 0;
		db_log(db, LSM_LOG_DEBUG, "flush group of keys from 0x%02x "
		       "(%zu bytes): %llu bytes, could go to L%d%s",
		       x->lo.len ? x->lo.p[0] : 0, x->lo.len,
		       (unsigned long long)x->bytes, level,
		       x->own ? ", a table of its own" : "");
	}
	pthread_mutex_unlock(&db->mu);
	/* Tables are runs of groups, in key order: a group of its own is
	 * one, the groups between share one, so that a flush's tables never
	 * overlap each other and each can be placed alone. */
	for (size_t i = 1; i < p->n; i++)
		p->g[i].table = p->g[i - 1].table +
				(p->g[i].own || p->g[i - 1].own);
	return 0;
}

size_t flush_plan_table(const struct lsm_db *db, const struct flush_plan *p,
			size_t *hint, const uint8_t *ukey, size_t ulen)
{
	if (p->n == 0)
		return 0;
	while (*hint + 1 < p->n &&
	       !flush_same_prefix(db, ukey, ulen, p->g[*hint].lo.p,
				  p->g[*hint].lo.len))
		(*hint)++;
	return p->g[*hint].table;
}

int flush_place_edit(struct lsm_db *db, struct version_edit *e,
		     size_t from)
{
	int moved = 0;

	for (size_t i = from; i < e->nadded; i++) {
		struct file_meta *f = e->added[i].f;
		int level;

		/* tombstones stay where compactions meet what they delete
		 * (and drop them at the bottom) */
		if (e->added[i].level != 0 || !f->has_counts ||
		    f->deletions > 0)
			continue;
		level = flush_level(db, f->smallest, ikey_ulen(f->smallest_len),
				    f->largest, ikey_ulen(f->largest_len));
		if (level > 0) {
			e->added[i].level = level;
			moved++;
		}
	}
	return moved;
}

int flush_plan_spans(const struct flush_plan *p, size_t table,
		     struct file_meta *f)
{
	size_t n = 0, k = 0;

	if (p->n < 2)
		return 0; /* one group: smallest..largest says it all */
	for (size_t i = 0; i < p->n; i++)
		n += p->g[i].table == table;
	if (!n || !(f->spans = calloc(n, sizeof(*f->spans))))
		return n ? -ENOMEM : 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct flush_group *g = &p->g[i];
		struct key_span *s = &f->spans[k];

		if (g->table != table)
			continue;
		/* one block per span: lo, then hi */
		if (!(s->lo = malloc(g->lo.len + g->hi.len + 1)))
			return -ENOMEM; /* F frees the spans it holds */
		s->hi = s->lo + g->lo.len;
		memcpy(s->lo, g->lo.p, g->lo.len);
		memcpy(s->hi, g->hi.p, g->hi.len);
		s->lolen = g->lo.len;
		s->hilen = g->hi.len;
		f->nspans = ++k;
	}
	return 0;
}

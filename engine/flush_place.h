/* flush_place.h - how a flush splits its memtable into tables and which
 * level each goes to (see flush_place.c). */
#ifndef LSM_FLUSH_PLACE_H
#define LSM_FLUSH_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct lsm_db;
struct memtable;
struct version_edit;

/* Entries of a flush whose user keys share their first table_prefix_bytes
 * bytes, in key order. */
struct flush_group {
	struct buf lo, hi; /* user keys: first and last */
	uint64_t bytes;    /* keys and values */
	bool own;          /* gets a table of its own */
	size_t table;      /* index of the flush's table it goes into */
};

struct flush_plan {
	struct flush_group *g;
	size_t n, cap;
};

/* The length of the prefix of a user key of ULEN bytes that groups it. */
size_t flush_prefix_len(const struct lsm_db *db, size_t ulen);
bool flush_same_prefix(const struct lsm_db *db, const uint8_t *a,
		       size_t alen, const uint8_t *b, size_t blen);

/* Groups MEM's entries (mu not held; takes it to look at the version).
 * Without table_prefix_bytes the plan is empty: one table.  0 or
 * -ENOMEM. */
int flush_plan_make(struct lsm_db *db, struct memtable *mem,
		    struct flush_plan *p);
void flush_plan_free(struct flush_plan *p);

/* The table USER KEY goes into; keys must come in order, *HINT starting
 * at 0. */
size_t flush_plan_table(const struct lsm_db *db, const struct flush_plan *p,
			size_t *hint, const uint8_t *ukey, size_t ulen);

/* Gives F (table number TABLE of the flush) the key ranges of the groups
 * it holds (file_meta.spans); 0 or -ENOMEM (F frees what it got). */
int flush_plan_spans(const struct flush_plan *p, size_t table,
		     struct file_meta *f);

/* The deepest level (0 .. 2) a new table of user keys [LO, HI] may go to
 * now (under mu). */
int flush_level(struct lsm_db *db, const uint8_t *lo, size_t lolen,
		const uint8_t *hi, size_t hilen);

/* Moves the L0 tables E added from index FROM on down where flush_level
 * allows (under mu, right before E is applied); how many moved. */
int flush_place_edit(struct lsm_db *db, struct version_edit *e,
		     size_t from);

#endif /* LSM_FLUSH_PLACE_H */

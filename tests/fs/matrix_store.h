/* matrix_store.h - the pristine stores of the corruption matrix: one
 * lsmfs namespace (directories, ~200 files from empty to multi-chunk and
 * sparse, a symlink, hard links, xattrs) written through the ns library in
 * sessions that leave every kind of engine file behind:
 *
 *   session 1 (zlib)  the bulk, compacted into L1 tables (the value log
 *                     off; every later session has it on, so whole
 *                     chunks written since stay in kept log segments);
 *   session 2 (raw)   new files compacted into L1 (the zlib L1 tables of
 *                     old file data stay), then overwrites, truncations,
 *                     unlinks, renames, links: two raw L0 tables;
 *   session 3 (zlib)  more of everything: two zlib L0 tables;
 *   session 4 (raw)   operations logged in a segment that is then sealed by
 *                     a memtable switch whose flush keeps failing (ENOSPC on
 *                     table creation), then more in the next segment.
 *
 * Scenario "crash" is a copy taken at that instant (as kill -9 leaves it):
 * a sealed segment and an unsealed newest one, both holding unflushed
 * writes.  Scenario "clean" is the same store after the disk recovered and
 * lsm_close ran: the sealed segment flushed into a raw L0 table and
 * removed, the newest segment sealed at its size with its writes still
 * unflushed.  Both show the same namespace (the model). */
#ifndef MATRIX_STORE_H
#define MATRIX_STORE_H

#include "matrix_model.h"
#include "support.h"

#define MX_CHUNK 4096u

enum mx_fkind {
	MXK_L0_RAW,
	MXK_L0_ZLIB,
	MXK_L1_RAW,
	MXK_L1_ZLIB,
	MXK_WAL_OLD,    /* sealed at a switch, unflushed */
	MXK_WAL_NEW,    /* the newest, unsealed (a crash) */
	MXK_WAL_CLOSED, /* the newest, sealed by a clean close */
	MXK_WAL_KEPT,   /* flushed, kept: tables point into it (the value
	                 * log; whole chunks are written once) */
	MXK_MANIFEST,
	MXK_CURRENT,
	MXK_LOCK,
	MXK_N
};

const char *mx_fkind_name(enum mx_fkind k);

enum mx_region { /* of a table */
	MXR_DATA,
	MXR_FILTER,
	MXR_PROPS,
	MXR_INDEX,
	MXR_FOOTER,
	MXR_N
};

/* A file of a pristine store. */
struct mx_pfile {
	char name[256];
	enum mx_fkind kind;
	uint64_t size;
	uint64_t reg[MXR_N][2]; /* tables: [start, end) of each region,
	                         * block trailers included */
	bool zlib;              /* tables: the last data block is zlib */
	uint64_t *rec;          /* logs and manifests: record offsets */
	size_t nrec;
};

struct mx_scenario {
	const char *name;
	char dir[4096];
	struct mx_pfile *f;
	size_t nf;
};

struct mx_store {
	struct tdir *d;
	struct mx_model model;  /* what every scenario must show */
	struct mx_model base;   /* the state before the newest segment */
	struct mx_op *tail;     /* the operations in the newest segment */
	size_t ntail;
	uint64_t *tail_end;     /* offset past the record of each */
	struct mx_scenario scen[2]; /* "crash", "clean" */
};

/* Builds the store under a fresh temporary directory (cmocka asserts). */
void mx_store_build(struct mx_store *s, struct rng *r);
void mx_store_free(struct mx_store *s);

/* Copies the files of directory FROM into a new directory TO. */
void mx_copy_dir(const char *from, const char *to);

/* Options for opening a store of the matrix (no fsync: speed). */
void mx_lsm_options(struct lsm_options *o, bool read_only);

#endif /* MATRIX_STORE_H */

/* matrix_model.h - an in-memory model of an lsmfs namespace for the
 * corruption matrix (test_corrupt_matrix.c): operations applied both to a
 * store (through fs/ns.h) and to the model, and a check that what a store
 * shows through the namespace is exactly the model (contents, attributes,
 * listings, xattrs, links), or an I/O error, never anything else.
 *
 * Each operation is one ns call, so one engine batch (one log record);
 * the attributes the store gives an inode after an operation (times
 * included) are captured into the operation, so that replaying a prefix of
 * the operations on a copy of the model yields the exact state a store
 * recovered up to that record must show. */
#ifndef MATRIX_MODEL_H
#define MATRIX_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ns.h"

struct mx_xattr {
	char *name;
	uint8_t *val;
	size_t len;
};

struct mx_inode {
	bool live;
	uint32_t mode;          /* S_IFMT and permission bits */
	uint8_t *data;          /* file contents, or symlink target */
	size_t len;
	struct mx_xattr *xa;
	size_t nxa;
	uint32_t nlink;
	uint64_t ino;           /* the store's inode number */
	struct codec_inode cap; /* as read back after its last change */
};

/* A name: PATH ("a/b", no leading '/') of model inode INODE. */
struct mx_entry {
	char *path;
	size_t inode;
};

/* Inode 0 is the root directory (no entry). */
struct mx_model {
	struct mx_inode *in;
	size_t nin, capin;
	struct mx_entry *e;
	size_t ne, cape;
};

enum mx_kind {
	MX_MKDIR,    /* path, mode */
	MX_CREATE,   /* path, mode: an empty regular file */
	MX_WRITE,    /* path, off, data */
	MX_TRUNC,    /* path, off = new size */
	MX_UNLINK,   /* path (not a directory) */
	MX_SYMLINK,  /* path, data = target */
	MX_LINK,     /* path (existing), path2 (new name) */
	MX_SETXATTR, /* path, name, data */
	MX_RMXATTR,  /* path, name */
	MX_RENAME,   /* path -> path2 (path2 must not exist) */
	MX_CHMOD,    /* path, mode (permission bits) */
};

#define MX_MAX_CAPS 4

struct mx_cap {
	size_t inode;
	struct codec_inode in;
};

struct mx_op {
	enum mx_kind kind;
	char *path, *path2, *name;
	uint8_t *data;
	size_t len;
	uint64_t off;
	uint32_t mode;
	struct mx_cap cap[MX_MAX_CAPS]; /* filled by mx_do */
	unsigned ncap;
	uint64_t new_ino;               /* created inode's number (mx_do) */
};

void mx_init(struct mx_model *m);   /* just the root */
void mx_free(struct mx_model *m);
void mx_clone(struct mx_model *dst, const struct mx_model *src);
/* The model inode PATH names ("" is the root), or SIZE_MAX. */
size_t mx_find(const struct mx_model *m, const char *path);
void mx_op_free(struct mx_op *op);

/* Applies OP to NS, then to M, then reads back the attributes of every
 * inode OP changed (into OP and M).  Returns 0 or the ns error (ERR). */
int mx_do(struct ns *ns, struct mx_model *m, struct mx_op *op,
	  const struct ns_cred *c, struct lsm_err *err);
/* Applies an OP that mx_do ran before to M (the replay of a prefix). */
void mx_apply(struct mx_model *m, const struct mx_op *op);

/* What a store showed for a model. */
struct mx_verdict {
	unsigned checked;  /* names and directories looked at */
	unsigned eio;      /* of them, answered with EIO/EUCLEAN/EBADMSG */
	unsigned wrong;    /* wrong bytes, wrong attributes, missing, extra */
	int eio_code;      /* the first I/O error */
	char eio_msg[256]; /* its message */
	char what[512];    /* the first wrong answer */
};

/* Reads every name of M back through NS and compares (see the top). */
void mx_verify(struct ns *ns, const struct mx_model *m,
	       struct mx_verdict *v);
/* True for the errors a damaged store may answer a read with. */
bool mx_is_io_error(int rc);

#endif /* MATRIX_MODEL_H */

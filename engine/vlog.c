/* vlog.c - pointers into log segments and the reader that follows them
 * (vlog.h).  Descriptors are shared by all readers: a small table under a
 * mutex, each entry counting the reads that use it, so that forgetting a
 * segment never closes a descriptor in the middle of a pread. */
#include "vlog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "crc.h"
#include "filename.h"
#include "ikey.h"
#include "iter.h"
#include "sst.h"

#define VLOG_MAX_OPEN 64

size_t vptr_encode(uint8_t *out, const struct vptr *p)
{
	uint8_t *q = out;

	q = put_varint64(q, p->segment);
	q = put_varint64(q, p->offset);
	q = put_varint32(q, p->length);
	put_u32le(q, p->crc);
	return (size_t)(q + 4 - out);
}

int vptr_decode(const uint8_t *p, size_t len, struct vptr *out)
{
	const uint8_t *end = p + len;

	if (!(p = get_varint64(p, end, &out->segment)) ||
	    !(p = get_varint64(p, end, &out->offset)) ||
	    !(p = get_varint32(p, end, &out->length)) || end - p != 4 ||
	    out->segment == 0)
		return -EUCLEAN;
	out->crc = get_u32le(p);
	return 0;
}

/* Index of the first entry of R at or past SEGMENT. */
static size_t refs_lower_bound(const struct vlog_refs *r, uint64_t segment)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].segment < segment)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vlog_refs_add(struct vlog_refs *r, uint64_t segment, uint64_t bytes)
{
	size_t lo = refs_lower_bound(r, segment);

	if (lo < r->n && r->v[lo].segment == segment) {
		r->v[lo].bytes += bytes;
		return 0;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4;
		struct vlog_ref *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	memmove(&r->v[lo + 1], &r->v[lo], (r->n - lo) * sizeof(*r->v));
	r->v[lo].segment = segment;
	r->v[lo].bytes = bytes;
	r->n++;
	return 0;
}

const struct vlog_ref *vlog_refs_find(const struct vlog_refs *r,
				      uint64_t segment)
{
	size_t i = refs_lower_bound(r, segment);

	return i < r->n && r->v[i].segment == segment ? &r->v[i] : NULL;
}

bool vlog_refs_has(const struct vlog_refs *r, uint64_t segment)
{
	return vlog_refs_find(r, segment) != NULL;
}

int vlog_refs_copy(struct vlog_refs *to, const struct vlog_refs *from)
{
	vlog_refs_free(to);
	if (!from->n)
		return 0;
	to->v = malloc(from->n * sizeof(*to->v));
	if (!to->v)
		return -ENOMEM;
	memcpy(to->v, from->v, from->n * sizeof(*to->v));
	to->n = to->cap = from->n;
	return 0;
}

void vlog_refs_free(struct vlog_refs *r)
{
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

struct vl_file {
	uint64_t number;
	int fd;
	int refs;      /* reads under way */
	bool held;     /* vlog_hold: kept until vlog_forget */
	bool doomed;   /* forgotten while read: closed by the last reader */
	uint64_t used; /* clock of the last use, for eviction */
};

struct vlog {
	const struct lsm_io *io;
	const char *dir;
	pthread_mutex_t mu;
	struct vl_file *files;
	size_t n, cap, nheld;
	uint64_t clock;
};

struct vlog *vlog_new(const struct lsm_io *io, const char *dir)
{
	struct vlog *vl = calloc(1, sizeof(*vl));

	if (!vl)
		return NULL;
	vl->io = io;
	vl->dir = dir;
	pthread_mutex_init(&vl->mu, NULL);
	return vl;
}

void vlog_free(struct vlog *vl)
{
	if (!vl)
		return;
	for (size_t i = 0; i < vl->n; i++)
		vl->io->close(vl->io, vl->files[i].fd);
	pthread_mutex_destroy(&vl->mu);
	free(vl->files);
	free(vl);
}

/* Opens segment NUMBER in the directory, else in the archive. */
static int open_segment(struct vlog *vl, uint64_t number, int *fd)
{
	char path[LSM_PATH_MAX], adir[LSM_PATH_MAX];
	int rc = filename_path(path, vl->dir, FILE_WAL, number);

	if (rc < 0)
		return rc;
	rc = vl->io->open(vl->io, path, O_RDONLY | O_CLOEXEC, 0, fd);
	if (rc != -ENOENT)
		return rc;
	if (snprintf(adir, sizeof(adir), "%s/" LSM_ARCHIVE_DIR, vl->dir) >=
	    (int)sizeof(adir))
		return -ENAMETOOLONG;
	rc = filename_path(path, adir, FILE_WAL, number);
	return rc < 0 ? rc : vl->io->open(vl->io, path, O_RDONLY | O_CLOEXEC,
					  0, fd);
}

static void drop_at(struct vlog *vl, size_t i)
{
	if (vl->files[i].held)
		vl->nheld--;
	vl->io->close(vl->io, vl->files[i].fd);
	vl->files[i] = vl->files[--vl->n];
}

/* Finds or opens NUMBER (mu held); its index, or -errno. */
static int find_or_open(struct vlog *vl, uint64_t number)
{
	size_t victim = SIZE_MAX;
	int fd, rc;

	for (size_t i = 0; i < vl->n; i++)
		if (vl->files[i].number == number && !vl->files[i].doomed)
			return (int)i;
	if (vl->n - vl->nheld >= VLOG_MAX_OPEN) {
		for (size_t i = 0; i < vl->n; i++) {
			const struct vl_file *f = &vl->files[i];

			if (f->refs || f->held)
				continue;
			if (victim == SIZE_MAX ||
			    f->used < vl->files[victim].used)
				victim = i;
		}
		if (victim == SIZE_MAX)
			return -EMFILE;
		drop_at(vl, victim);
	}
	if (vl->n == vl->cap) {
		size_t cap = vl->cap ? 2 * vl->cap : 16;
		struct vl_file *f = realloc(vl->files, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		vl->files = f;
		vl->cap = cap;
	}
	rc = open_segment(vl, number, &fd);
	if (rc < 0)
		return rc;
	vl->files[vl->n] = (struct vl_file){ .number = number, .fd = fd };
	return (int)vl->n++;
}

static int acquire(struct vlog *vl, uint64_t number, int *fd)
{
	int i;

	pthread_mutex_lock(&vl->mu);
	i = find_or_open(vl, number);
	if (i >= 0) {
		vl->files[i].refs++;
		vl->files[i].used = ++vl->clock;
		*fd = vl->files[i].fd;
	}
	pthread_mutex_unlock(&vl->mu);
	return i < 0 ? i : 0;
}

static void release(struct vlog *vl, int fd)
{
	pthread_mutex_lock(&vl->mu);
	for (size_t i = 0; i < vl->n; i++) {
		struct vl_file *f = &vl->files[i];

		if (f->fd != fd)
			continue;
		if (--f->refs == 0 && f->doomed)
			drop_at(vl, i);
		break;
	}
	pthread_mutex_unlock(&vl->mu);
}

int vlog_read_into(struct vlog *vl, const struct vptr *p, void *buf,
		   struct lsm_err *err)
{
	int fd, rc = acquire(vl, p->segment, &fd);

	if (rc == -ENOENT)
		return lsm_err_set(err, -EUCLEAN, "%s: log segment %06llu, "
				   "which holds a value, is missing", vl->dir,
				   (unsigned long long)p->segment);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot open log segment "
				   "%06llu: %s", vl->dir,
				   (unsigned long long)p->segment,
				   strerror(-rc));
	rc = lsm_io_read_full(vl->io, fd, buf, p->length, p->offset);
	release(vl, fd);
	if (rc == -EUCLEAN)
		return lsm_err_set(err, rc, "%s: log segment %06llu ends "
				   "before the value at offset %llu (%u "
				   "bytes)", vl->dir,
				   (unsigned long long)p->segment,
				   (unsigned long long)p->offset, p->length);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot read log segment "
				   "%06llu at offset %llu: %s", vl->dir,
				   (unsigned long long)p->segment,
				   (unsigned long long)p->offset,
				   strerror(-rc));
	if (crc32_of(buf, p->length) != p->crc)
		return lsm_err_set(err, -EUCLEAN, "%s: checksum mismatch in "
				   "the value at offset %llu of log segment "
				   "%06llu (%u bytes)", vl->dir,
				   (unsigned long long)p->offset,
				   (unsigned long long)p->segment, p->length);
	return 0;
}

int vlog_read_buf(struct vlog *vl, const struct vptr *p, struct buf *out,
		  struct lsm_err *err)
{
	int rc;

	buf_clear(out);
	if (!buf_reserve(out, p->length ? p->length : 1))
		return lsm_err_set(err, -ENOMEM, "out of memory reading a "
				   "value of %u bytes", p->length);
	rc = vlog_read_into(vl, p, out->p, err);
	if (rc == 0)
		out->len = p->length;
	return rc;
}

int vlog_hold(struct vlog *vl, uint64_t number)
{
	int i;

	pthread_mutex_lock(&vl->mu);
	i = find_or_open(vl, number);
	if (i >= 0 && !vl->files[i].held) {
		vl->files[i].held = true;
		vl->nheld++;
	}
	pthread_mutex_unlock(&vl->mu);
	return i < 0 ? i : 0;
}

void vlog_forget(struct vlog *vl, uint64_t number)
{
	pthread_mutex_lock(&vl->mu);
	for (size_t i = 0; i < vl->n; i++) {
		struct vl_file *f = &vl->files[i];

		if (f->number != number || f->doomed)
			continue;
		if (f->refs) {
			if (f->held)
				vl->nheld--;
			f->doomed = true;
			f->held = false;
		} else {
			drop_at(vl, i);
		}
		break;
	}
	pthread_mutex_unlock(&vl->mu);
}

long vlog_check_table(struct vlog *vl, struct sst *t,
		      const struct vlog_refs *listed, vlog_bad_fn bad,
		      void *ctx, struct lsm_err *err)
{
	struct iiter *it = sst_iter(t, false, NULL, NULL);
	struct buf v = BUF_INIT;
	struct lsm_err e;
	char msg[300];
	long found = 0;
	int rc = 0, stop = 0;

	if (!it)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	for (iiter_seek_first(it); iiter_valid(it) && !stop;
	     iiter_next(it)) {
		size_t kl, vl_len;
		const uint8_t *k = iiter_key(it, &kl), *pv;
		struct vptr p;

		if (kl < IKEY_TAG_BYTES || ikey_type(k, kl) != IKEY_VALUE_PTR)
			continue;
		pv = iiter_value(it, &vl_len);
		if (vptr_decode(pv, vl_len, &p) < 0) {
			found++;
			stop = bad(ctx, VLOG_BAD_POINTER, k, ikey_ulen(kl), NULL,
				   "a malformed value pointer");
			continue;
		}
		if (listed && !vlog_refs_has(listed, p.segment)) {
			snprintf(msg, sizeof(msg), "points into log segment "
				 "%06llu, which the manifest does not list "
				 "for it", (unsigned long long)p.segment);
			found++;
			if ((stop = bad(ctx, VLOG_BAD_UNLISTED, k, ikey_ulen(kl),
					&p, msg)))
				break;
		}
		e.code = 0;
		rc = vlog_read_buf(vl, &p, &v, &e);
		if (rc == -ENOMEM) {
			*err = e;
			break;
		}
		rc = 0;
		if (e.code) {
			found++;
			stop = bad(ctx, VLOG_BAD_VALUE, k, ikey_ulen(kl), &p,
				   e.msg);
		}
	}
	if (rc == 0)
		rc = iiter_status(it, err);
	buf_free(&v);
	iiter_free(it);
	return rc < 0 ? rc : found;
}

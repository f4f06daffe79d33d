/* version_set.c - the version set: builds versions from edits, logs edits
 * to the manifest (a wal.h log) before installing them, rolls the manifest
 * over through CURRENT, and recovers the state from CURRENT and the
 * manifest on open.  Formats and recovery rules: engine/doc/manifest.md.
 * Not locked: the db serializes calls and holds its mutex (refs). */
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "filename.h"
#include "ikey.h"
#include "wal.h"

#define CURRENT_MAX_BYTES 256

/* ---- building versions: a hash set of tables keyed by number ---- */

struct vslot {
	struct file_meta *f; /* NULL: empty; one reference held */
	int level;
};

struct vbuilder {
	struct vslot *slots;
	size_t cap;          /* a power of two, or 0 */
	size_t count;
	unsigned max_levels;
};

static size_t vb_home(const struct vbuilder *b, uint64_t number)
{
	uint64_t h = number * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h ^ (h >> 29)) & (b->cap - 1);
}

/* The slot holding NUMBER, or the empty slot where it would go. */
static size_t vb_find(const struct vbuilder *b, uint64_t number)
{
	size_t i = vb_home(b, number);

	while (b->slots[i].f && b->slots[i].f->number != number)
		i = (i + 1) & (b->cap - 1);
	return i;
}

static int vb_grow(struct vbuilder *b)
{
	struct vslot *old = b->slots;
	size_t ocap = b->cap, ncap = ocap ? ocap * 2 : 64, i;

	if ((b->count + 1) * 2 <= ocap)
		return 0;
	if (ncap > SIZE_MAX / sizeof(*old) / 2)
		return -ENOMEM;
	b->slots = calloc(ncap, sizeof(*b->slots));
	if (!b->slots) {
		b->slots = old;
		return -ENOMEM;
	}
	b->cap = ncap;
	for (i = 0; i < ocap; i++)
		if (old[i].f)
			b->slots[vb_find(b, old[i].f->number)] = old[i];
	free(old);
	return 0;
}

static int vb_insert(struct vbuilder *b, int level, struct file_meta *f)
{
	size_t i;

	if (vb_grow(b) < 0)
		return -ENOMEM;
	i = vb_find(b, f->number);
	f->refs++;
	b->slots[i] = (struct vslot){ .f = f, .level = level };
	b->count++;
	return 0;
}

/* Empties slot I, shifting later members of its probe run back. */
static void vb_remove(struct vbuilder *b, size_t i)
{
	size_t j = i, mask = b->cap - 1;

	file_meta_unref(b->slots[i].f);
	b->slots[i].f = NULL;
	b->count--;
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (!b->slots[j].f)
			return;
		k = vb_home(b, b->slots[j].f->number);
		/* Move J into the hole unless its home lies in (I, J]. */
		if (((j - k) & mask) >= ((j - i) & mask)) {
			b->slots[i] = b->slots[j];
			b->slots[j].f = NULL;
			i = j;
		}
	}
}

static void vb_free(struct vbuilder *b)
{
	size_t i;

	for (i = 0; i < b->cap; i++)
		file_meta_unref(b->slots[i].f);
	free(b->slots);
	b->slots = NULL;
	b->cap = b->count = 0;
}

static int vb_load(struct vbuilder *b, const struct version *v)
{
	int l;
	size_t i;

	for (l = 0; l < LSM_MAX_LEVELS; l++)
		for (i = 0; i < v->nfiles[l]; i++)
			if (vb_insert(b, l, v->files[l][i]) < 0)
				return -ENOMEM;
	return 0;
}

static int vb_delete(struct vbuilder *b, const struct edit_file *d,
		     struct lsm_err *err)
{
	size_t i = b->cap ? vb_find(b, d->number) : 0;

	if (!b->cap || !b->slots[i].f || b->slots[i].level != d->level)
		return lsm_err_set(err, -EUCLEAN,
				   "table %llu deleted from level %d, "
				   "where it is not",
				   (unsigned long long)d->number, d->level);
	vb_remove(b, i);
	return 0;
}

static int vb_add(struct vbuilder *b, const struct edit_file *a,
		  struct lsm_err *err)
{
	if (a->level < 0 || (unsigned)a->level >= b->max_levels)
		return lsm_err_set(err, -EUCLEAN,
				   "table %llu added at level %d of %u",
				   (unsigned long long)a->f->number, a->level,
				   b->max_levels);
	if (b->cap && b->slots[vb_find(b, a->f->number)].f)
		return lsm_err_set(err, -EUCLEAN, "table %llu added twice",
				   (unsigned long long)a->f->number);
	if (vb_insert(b, a->level, a->f) < 0)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* Deletions first, so that an edit may move a table between levels. */
static int vb_apply(struct vbuilder *b, const struct version_edit *e,
		    struct lsm_err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < e->ndeleted; i++)
		if ((rc = vb_delete(b, &e->deleted[i], err)) < 0)
			return rc;
	for (i = 0; i < e->nadded; i++)
		if ((rc = vb_add(b, &e->added[i], err)) < 0)
			return rc;
	for (i = 0; i < e->npointers; i++)
		if ((unsigned)e->pointers[i].level >= b->max_levels)
			return lsm_err_set(err, -EUCLEAN,
					   "compact pointer at level %d of %u",
					   e->pointers[i].level, b->max_levels);
	return 0;
}

static int cmp_l0(const void *a, const void *b)
{
	const struct file_meta *x = *(struct file_meta *const *)a;
	const struct file_meta *y = *(struct file_meta *const *)b;

	return x->number > y->number ? -1 : x->number < y->number;
}

static int cmp_smallest(const void *a, const void *b)
{
	const struct file_meta *x = *(struct file_meta *const *)a;
	const struct file_meta *y = *(struct file_meta *const *)b;
	int r = ikey_cmp(x->smallest, x->smallest_len, y->smallest,
			 y->smallest_len);

	return r ? r : x->number > y->number ? 1 : -(x->number < y->number);
}

/* A new unlinked version (one reference, the caller's) of B's tables. */
static int vb_finish(struct vbuilder *b, struct version_set *vs,
		     struct version **out)
{
	struct version *v = calloc(1, sizeof(*v));
	size_t i, n[LSM_MAX_LEVELS] = { 0 };
	int l;

	if (!v)
		return -ENOMEM;
	v->vs = vs;
	v->refs = 1;
	for (i = 0; i < b->cap; i++)
		if (b->slots[i].f)
			n[b->slots[i].level]++;
	for (l = 0; l < LSM_MAX_LEVELS; l++) {
		if (n[l] && !(v->files[l] = malloc(n[l] * sizeof(void *)))) {
			version_unref(v);
			return -ENOMEM;
		}
	}
	for (i = 0; i < b->cap; i++) {
		struct vslot *s = &b->slots[i];

		if (s->f) {
			s->f->refs++;
			v->files[s->level][v->nfiles[s->level]++] = s->f;
		}
	}
	for (l = 0; l < LSM_MAX_LEVELS; l++)
		if (v->nfiles[l] > 1)
			qsort(v->files[l], v->nfiles[l], sizeof(void *),
			      l == 0 ? cmp_l0 : cmp_smallest);
	*out = v;
	return 0;
}

/* Makes V (whose reference the caller hands over) the current version. */
static void install(struct version_set *vs, struct version *v)
{
	struct version *old = vs->current;

	v->next = vs->live.next;
	v->prev = &vs->live;
	v->next->prev = v;
	vs->live.next = v;
	vs->current = v;
	version_unref(old);
}

/* ---- tracked WAL segments ---- */

int vset_adopt(struct version_set *vs, struct version_set *from)
{
	struct version *v = from->current;
	struct edit_wal *wals = NULL;
	struct lsm_snapshot_info *snaps = NULL;

	if (from->nwals &&
	    !(wals = malloc(from->nwals * sizeof(*wals))))
		return -ENOMEM;
	if (from->nsnaps &&
	    !(snaps = malloc(from->nsnaps * sizeof(*snaps)))) {
		free(wals);
		return -ENOMEM;
	}
	if (from->nsnaps)
		memcpy(snaps, from->snaps, from->nsnaps * sizeof(*snaps));
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		struct buf *p = &vs->pointers[l];

		buf_clear(p);
		buf_append(p, from->pointers[l].p, from->pointers[l].len);
		if (!buf_ok(p)) {
			free(wals);
			free(snaps);
			return -ENOMEM;
		}
	}
	if (from->nwals)
		memcpy(wals, from->wals, from->nwals * sizeof(*wals));
	free(vs->wals);
	vs->wals = wals;
	vs->nwals = vs->cap_wals = from->nwals;
	/* move V from FROM's list of live versions to VS's */
	v->prev->next = v->next;
	v->next->prev = v->prev;
	from->current = NULL;
	install(vs, v);
	vs->next_file = from->next_file;
	vs->log_number = from->log_number;
	if (from->last_seq > vs->last_seq)
		vs->last_seq = from->last_seq;
	vs->manifest_number = from->manifest_number;
	vs->features = from->features;
	vs->has_identity = from->has_identity;
	vs->identity = from->identity;
	vs->nepochs = from->nepochs;
	memcpy(vs->epochs, from->epochs, sizeof(vs->epochs));
	free(vs->snaps);
	vs->snaps = snaps;
	vs->nsnaps = from->nsnaps;
	return 0;
}

int epoch_begin(struct lsm_epoch *list, unsigned *n, uint64_t start)
{
	uint64_t tag = 0;

	while (tag == 0) {
		ssize_t got = getrandom(&tag, sizeof(tag), 0);

		if (got < 0 && errno != EINTR)
			return -errno;
		if (got != (ssize_t)sizeof(tag))
			tag = 0;
	}
	if (*n && list[*n - 1].start_seq >= start) {
		list[*n - 1].tag = tag; /* it holds no record */
		return 0;
	}
	if (*n == LSM_EPOCHS_MAX) {
		memmove(list, list + 1, (LSM_EPOCHS_MAX - 1) * sizeof(*list));
		(*n)--;
	}
	list[*n].tag = tag;
	list[*n].start_seq = start;
	(*n)++;
	return 0;
}

int identity_make(struct lsm_identity *id, uint64_t start)
{
	size_t got = 0;

	memset(id, 0, sizeof(*id));
	while (got < LSM_STORE_ID_BYTES) {
		ssize_t n = getrandom(id->id + got, LSM_STORE_ID_BYTES - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	identity_push(id, 1, start);
	return 0;
}

void identity_push(struct lsm_identity *id, uint64_t gen, uint64_t start)
{
	if (id->nhistory == LSM_HISTORY_MAX) {
		memmove(id->history, id->history + 1,
			(LSM_HISTORY_MAX - 1) * sizeof(id->history[0]));
		id->nhistory--;
	}
	id->history[id->nhistory].generation = gen;
	id->history[id->nhistory].start_seq = start;
	id->nhistory++;
	id->generation = gen;
}

bool vset_writable(const struct version_set *vs)
{
	return vs->manifest && !wal_is_broken(vs->manifest);
}

const struct edit_wal *vset_find_wal(const struct version_set *vs,
				     uint64_t number)
{
	for (size_t i = 0; i < vs->nwals; i++)
		if (vs->wals[i].number == number)
			return &vs->wals[i];
	return NULL;
}

/* Applies E's WAL events to WALS (ascending), then forgets segments below
 * LOG_NUMBER.  -ENOMEM leaves WALS valid. */
static int wals_apply(struct edit_wal **wals, size_t *n, size_t *cap,
		      const struct version_edit *e, uint64_t log_number)
{
	size_t k = 0;

	for (size_t i = 0; i < e->nwals; i++) {
		const struct edit_wal *w = &e->wals[i];
		size_t j = 0;

		while (j < *n && (*wals)[j].number < w->number)
			j++;
		if (j < *n && (*wals)[j].number == w->number) {
			if (w->sealed)
				(*wals)[j] = *w;
			continue;
		}
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 8;
			struct edit_wal *a = realloc(*wals, nc * sizeof(*a));

			if (!a)
				return -ENOMEM;
			*wals = a;
			*cap = nc;
		}
		memmove(*wals + j + 1, *wals + j, (*n - j) * sizeof(**wals));
		(*wals)[j] = *w;
		(*n)++;
	}
	for (size_t i = 0; i < *n; i++)
		if ((*wals)[i].number >= log_number)
			(*wals)[k++] = (*wals)[i];
	*n = k;
	return 0;
}

/* Makes room for E's WAL events, so that applying them after the edit is
 * durable cannot fail. */
static int reserve_wals(struct version_set *vs, const struct version_edit *e)
{
	size_t need = vs->nwals + e->nwals;
	struct edit_wal *a;

	if (need <= vs->cap_wals)
		return 0;
	a = realloc(vs->wals, need * sizeof(*a));
	if (!a)
		return -ENOMEM;
	vs->wals = a;
	vs->cap_wals = need;
	return 0;
}

/* -EPROTONOSUPPORT when the store needs features this build lacks. */
static int check_features(const struct version_set *vs,
			  const struct lsm_features *f, const char *path,
			  struct lsm_err *err)
{
	uint64_t inc = f->incompat & ~(uint64_t)LSM_FEAT_INCOMPAT_KNOWN;
	uint64_t ro = f->ro_compat & ~(uint64_t)LSM_FEAT_RO_COMPAT_KNOWN;

	if (inc)
		return lsm_err_set(err, -EPROTONOSUPPORT, "%s: the store uses "
				   "format features this lsmfs %s does not "
				   "know (incompat 0x%llx); open it with a "
				   "newer lsmfs", path, LSM_VERSION_STRING,
				   (unsigned long long)inc);
	if (ro && !vs->read_only)
		return lsm_err_set(err, -EROFS, "%s: the store uses format "
				   "features this lsmfs %s can read but not "
				   "write (ro_compat 0x%llx); open it "
				   "read-only or with a newer lsmfs", path,
				   LSM_VERSION_STRING, (unsigned long long)ro);
	return 0;
}

/* ---- snapshots, manifests and CURRENT ---- */

static const struct buf *latest_pointer(const struct version_set *vs,
					const struct version_edit *e,
					int level, struct buf *tmp)
{
	size_t i;

	for (i = e ? e->npointers : 0; i-- > 0;) {
		if (e->pointers[i].level == level) {
			*tmp = (struct buf){ .p = e->pointers[i].key,
					     .len = e->pointers[i].len };
			return tmp;
		}
	}
	return &vs->pointers[level];
}

/* Encodes into OUT one edit recreating V: the comparator, the counters
 * (E's when given, else VS's) and compact pointers (E's over VS's). */
static int snapshot_encode(const struct version_set *vs,
			   const struct version *v,
			   const struct version_edit *e, struct buf *out)
{
	struct version_edit s;
	int l, rc = 0;
	size_t i;

	version_edit_init(&s);
	s.has_comparator = s.has_log_number = true;
	s.has_next_file = s.has_last_seq = true;
	s.log_number = e ? e->log_number : vs->log_number;
	s.next_file = e ? e->next_file : vs->next_file;
	s.last_seq = e ? e->last_seq : vs->last_seq;
	s.features = e && e->has_features ? e->features : vs->features;
	s.has_features = s.features.compat || s.features.ro_compat ||
			 s.features.incompat;
	if (e && e->has_snapshots)
		rc = version_edit_set_snapshots(&s, e->snaps, e->nsnaps);
	else if (vs->nsnaps ||
		 (s.features.ro_compat & LSM_FEAT_RO_COMPAT_SNAPSHOTS))
		rc = version_edit_set_snapshots(&s, vs->snaps, vs->nsnaps);
	if (e && e->has_identity) {
		s.has_identity = true;
		s.identity = e->identity;
	} else if (vs->has_identity) {
		s.has_identity = true;
		s.identity = vs->identity;
	}
	if (e && e->has_epochs) {
		s.has_epochs = true;
		s.nepochs = e->nepochs;
		memcpy(s.epochs, e->epochs, sizeof(s.epochs));
	} else if (vs->nepochs) {
		s.has_epochs = true;
		s.nepochs = vs->nepochs;
		memcpy(s.epochs, vs->epochs, sizeof(s.epochs));
	}
	for (i = 0; rc == 0 && i < vs->nwals; i++) {
		const struct edit_wal *w = &vs->wals[i];

		if (w->number < s.log_number)
			continue;
		rc = version_edit_add_wal(&s, w->number);
		if (rc == 0 && w->sealed)
			rc = version_edit_seal_wal(&s, w->number, w->size);
	}
	for (i = 0; e && rc == 0 && i < e->nwals; i++) {
		const struct edit_wal *w = &e->wals[i];

		if (w->number < s.log_number)
			continue;
		rc = w->sealed ? version_edit_seal_wal(&s, w->number, w->size)
			       : version_edit_add_wal(&s, w->number);
	}
	for (l = 0; l < LSM_MAX_LEVELS && rc == 0; l++) {
		struct buf tmp;
		const struct buf *p = latest_pointer(vs, e, l, &tmp);

		if (p->len)
			rc = version_edit_set_pointer(&s, l, p->p, p->len);
		for (i = 0; i < v->nfiles[l] && rc == 0; i++) {
			const struct file_meta *f = v->files[l][i];

			rc = version_edit_add_file(&s, l, f->number, f->size,
						   f->smallest, f->smallest_len,
						   f->largest, f->largest_len);
			if (rc == 0)
				rc = version_edit_copy_counts(&s, f->number,
							      f);
		}
	}
	if (rc == 0)
		version_edit_encode(&s, out);
	version_edit_free(&s);
	return rc < 0 || !buf_ok(out) ? -ENOMEM : 0;
}

static int io_fail(struct lsm_err *err, int rc, const char *path,
		   const char *op)
{
	return lsm_err_set(err, rc, "%s: %s: %s", path, op, strerror(-rc));
}

/* Creates manifest NUMBER holding one record, SNAP, synced and with its
 * directory entry synced.  On failure the file is removed again. */
static int manifest_start(struct version_set *vs, uint64_t number,
			  const struct buf *snap, struct wal **out,
			  struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct wal_rec rec = { .p = snap->p, .len = snap->len };
	struct wal *w;
	int rc;

	rc = filename_path(path, vs->dir, FILE_MANIFEST, number);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: path too long", vs->dir);
	rc = wal_create(vs->io, path, &w, err);
	if (rc < 0)
		return rc;
	rc = wal_append(w, &rec, 1, err);
	if (rc == 0)
		rc = wal_sync(w, err);
	if (rc == 0 && (rc = vs->io->sync_dir(vs->io, vs->dir)) < 0)
		io_fail(err, rc, vs->dir, "sync");
	if (rc < 0) {
		wal_close(w, false, NULL);
		vs->io->unlink(vs->io, path);
		return rc;
	}
	*out = w;
	return 0;
}

static int write_file(const struct lsm_io *io, const char *path,
		      const char *text, struct lsm_err *err)
{
	int fd, rc;

	rc = io->open(io, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd);
	if (rc < 0)
		return io_fail(err, rc, path, "create");
	rc = lsm_io_write_full(io, fd, text, strlen(text), 0);
	if (rc < 0)
		io_fail(err, rc, path, "write");
	else if ((rc = io->fsync(io, fd)) < 0)
		io_fail(err, rc, path, "fsync");
	io->close(io, fd);
	return rc;
}

/* Points CURRENT at manifest NUMBER: NNNNNN.tmp, fsync, rename, fsync of
 * the directory.  *RENAMED tells whether CURRENT may have changed. */
static int set_current(struct version_set *vs, uint64_t number,
		       bool *renamed, struct lsm_err *err)
{
	char man[LSM_PATH_MAX], tmp[LSM_PATH_MAX], cur[LSM_PATH_MAX];
	const char *base;
	int rc;

	*renamed = false;
	if (filename_path(man, vs->dir, FILE_MANIFEST, number) < 0 ||
	    filename_path(tmp, vs->dir, FILE_TEMP, number) < 0 ||
	    filename_path(cur, vs->dir, FILE_CURRENT, 0) < 0)
		return lsm_err_set(err, -ENAMETOOLONG, "%s: path too long",
				   vs->dir);
	base = strrchr(man, '/');
	base = base ? base + 1 : man;
	memmove(man, base, strlen(base) + 1);
	strcat(man, "\n");
	rc = write_file(vs->io, tmp, man, err);
	if (rc == 0 && (rc = vs->io->rename(vs->io, tmp, cur)) < 0)
		io_fail(err, rc, tmp, "rename to CURRENT");
	if (rc < 0) {
		vs->io->unlink(vs->io, tmp);
		return rc;
	}
	*renamed = true;
	rc = vs->io->sync_dir(vs->io, vs->dir);
	return rc < 0 ? io_fail(err, rc, vs->dir, "sync") : 0;
}

/* Starts manifest NUMBER holding SNAP and points CURRENT at it.  On
 * success the previous manifest (if any) is closed and removed. */
static int switch_manifest(struct version_set *vs, uint64_t number,
			   const struct buf *snap, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct wal *w = NULL;
	bool renamed;
	int rc;

	rc = manifest_start(vs, number, snap, &w, err);
	if (rc < 0)
		return rc;
	rc = set_current(vs, number, &renamed, err);
	if (rc < 0) {
		wal_close(w, false, NULL);
		if (!renamed &&
		    filename_path(path, vs->dir, FILE_MANIFEST, number) == 0)
			vs->io->unlink(vs->io, path);
		return rc;
	}
	wal_close(vs->manifest, false, NULL);
	vs->manifest = w;
	if (vs->manifest_number != number &&
	    filename_path(path, vs->dir, FILE_MANIFEST,
			  vs->manifest_number) == 0)
		vs->io->unlink(vs->io, path);
	vs->manifest_number = number;
	return 0;
}

int vset_write_copy(const struct version_set *vs, const char *dir,
		    struct lsm_err *err)
{
	struct version_set to = *vs; /* borrowed fields; nothing freed */
	struct buf snap = BUF_INIT;
	struct wal *w = NULL;
	bool renamed;
	int rc;

	to.dir = (char *)dir;
	to.manifest = NULL;
	rc = snapshot_encode(vs, vs->current, NULL, &snap);
	if (rc < 0)
		rc = lsm_err_set(err, rc, "%s: out of memory", dir);
	if (rc == 0)
		rc = manifest_start(&to, vs->manifest_number, &snap, &w, err);
	if (rc == 0)
		rc = set_current(&to, vs->manifest_number, &renamed, err);
	if (w)
		wal_close(w, false, NULL);
	buf_free(&snap);
	return rc;
}

/* ---- lifecycle ---- */

void vset_init(struct version_set *vs, const struct lsm_io *io,
	       const char *dir, unsigned max_levels, bool read_only)
{
	memset(vs, 0, sizeof(*vs));
	vs->io = io;
	vs->dir = strdup(dir); /* NULL is reported by create/recover */
	vs->max_levels = max_levels < 1 ? 1 :
			 max_levels > LSM_MAX_LEVELS ? LSM_MAX_LEVELS :
			 max_levels;
	vs->read_only = read_only;
	vs->live.prev = vs->live.next = &vs->live;
	vs->manifest_limit = VSET_MANIFEST_LIMIT;
}

void vset_destroy(struct version_set *vs)
{
	int l;

	wal_close(vs->manifest, false, NULL);
	vs->manifest = NULL;
	version_unref(vs->current);
	vs->current = NULL;
	for (l = 0; l < LSM_MAX_LEVELS; l++)
		buf_free(&vs->pointers[l]);
	free(vs->wals);
	vs->wals = NULL;
	vs->nwals = vs->cap_wals = 0;
	free(vs->snaps);
	vs->snaps = NULL;
	vs->nsnaps = 0;
	free(vs->dir);
	vs->dir = NULL;
}

int vset_create(struct version_set *vs, struct lsm_err *err)
{
	struct vbuilder b = { .max_levels = vs->max_levels };
	struct buf snap = BUF_INIT;
	struct version *v = NULL;
	int rc;

	if (!vs->dir)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	if (vs->read_only)
		return lsm_err_set(err, -EROFS, "%s: read-only", vs->dir);
	vs->next_file = 2;
	vs->log_number = vs->last_seq = 0;
	vs->manifest_number = 1;
	vs->features.incompat = LSM_FEAT_INCOMPAT_WAL_V2;
	if (vs->want_value_log)
		vs->features.incompat |= LSM_FEAT_INCOMPAT_VALUE_LOG;
	vs->features.compat |= LSM_FEAT_COMPAT_IDENTITY |
			       LSM_FEAT_COMPAT_EPOCHS;
	rc = identity_make(&vs->identity, 1);
	if (rc < 0) {
		lsm_err_set(err, rc, "%s: no random store id: %s", vs->dir,
			    strerror(-rc));
		goto out;
	}
	vs->has_identity = true;
	rc = vb_finish(&b, vs, &v);
	if (rc == 0)
		rc = snapshot_encode(vs, v, NULL, &snap);
	if (rc < 0) {
		lsm_err_set(err, rc, "%s: out of memory", vs->dir);
		goto out;
	}
	rc = switch_manifest(vs, 1, &snap, err);
	if (rc == 0) {
		install(vs, v);
		v = NULL;
	}
out:
	version_unref(v);
	buf_free(&snap);
	return rc;
}

/* ---- recovery ---- */

#define VERIFY_NAMES_MAX 4 /* tables named in the message */

/* Checks one table: 1 when it is missing or of another size than the
 * manifest records (a note appended to MSG), 0 when fine. */
static int verify_table(struct version_set *vs, const struct file_meta *f,
			char *msg, size_t cap, unsigned shown)
{
	char path[LSM_PATH_MAX];
	uint64_t size = 0;
	size_t used = strlen(msg);
	int rc;

	if (filename_path(path, vs->dir, FILE_TABLE, f->number) < 0)
		return 1;
	rc = lsm_io_path_size(vs->io, path, &size);
	if (rc == 0 && size == f->size)
		return 0;
	if (shown < VERIFY_NAMES_MAX && used < cap) {
		if (rc < 0)
			snprintf(msg + used, cap - used, "%s%06llu.sst %s",
				 shown ? ", " : "",
				 (unsigned long long)f->number,
				 rc == -ENOENT ? "missing" : strerror(-rc));
		else
			snprintf(msg + used, cap - used, "%s%06llu.sst has "
				 "%llu bytes, not %llu", shown ? ", " : "",
				 (unsigned long long)f->number,
				 (unsigned long long)size,
				 (unsigned long long)f->size);
	}
	return 1;
}

int vset_verify_tables(struct version_set *vs, struct lsm_err *err)
{
	const struct version *v = vs->current;
	char msg[200] = "";
	unsigned bad = 0, total = 0;

	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++, total++)
			bad += (unsigned)verify_table(vs, v->files[l][i], msg,
						      sizeof(msg), bad);
	if (!bad)
		return 0;
	return lsm_err_set(err, -EUCLEAN, "%s: %u of %u tables the manifest "
			   "lists are missing or truncated (%s%s); restore "
			   "them from a backup, or see lsmfs-ctl check",
			   vs->dir, bad, total, msg,
			   bad > VERIFY_NAMES_MAX ? ", ..." : "");
}

/* Reads CURRENT into the manifest number it names. */
static int read_current(struct version_set *vs, uint64_t *number,
			struct lsm_err *err);

int vset_read_current(struct version_set *vs, uint64_t *number,
		      struct lsm_err *err)
{
	return read_current(vs, number, err);
}

static int read_current(struct version_set *vs, uint64_t *number,
			struct lsm_err *err)
{
	char path[LSM_PATH_MAX], text[CURRENT_MAX_BYTES + 1];
	uint64_t size;
	int fd, rc;

	if (filename_path(path, vs->dir, FILE_CURRENT, 0) < 0)
		return lsm_err_set(err, -ENAMETOOLONG, "%s: path too long",
				   vs->dir);
	rc = vs->io->open(vs->io, path, O_RDONLY, 0, &fd);
	if (rc < 0)
		return io_fail(err, rc, path, "open");
	rc = vs->io->fsize(vs->io, fd, &size);
	if (rc == 0 && (size < 2 || size > CURRENT_MAX_BYTES))
		rc = -EUCLEAN;
	else if (rc == 0)
		rc = lsm_io_read_full(vs->io, fd, text, (size_t)size, 0);
	vs->io->close(vs->io, fd);
	if (rc == -EUCLEAN)
		return lsm_err_set(err, rc, "%s: bad size", path);
	if (rc < 0)
		return io_fail(err, rc, path, "read");
	text[size] = '\0';
	if (text[size - 1] != '\n' || strlen(text) != size)
		return lsm_err_set(err, -EUCLEAN,
				   "%s: not one newline-terminated line",
				   path);
	text[size - 1] = '\0';
	if (strchr(text, '\n') || strchr(text, '/') ||
	    filename_parse(text, number) != FILE_MANIFEST)
		return lsm_err_set(err, -EUCLEAN,
				   "%s: does not name a manifest", path);
	return 0;
}

struct replay {
	struct version_set *vs;
	struct vbuilder b;
	const char *path;
	bool has_log_number, has_next_file, has_last_seq;
};

static int replay_pointers(struct version_set *vs,
			   const struct version_edit *e)
{
	size_t i;

	for (i = 0; i < e->npointers; i++) {
		struct buf *p = &vs->pointers[e->pointers[i].level];

		buf_clear(p);
		buf_append(p, e->pointers[i].key, e->pointers[i].len);
		if (!buf_ok(p))
			return -ENOMEM;
	}
	return 0;
}

static void replay_counters(struct replay *r, const struct version_edit *e)
{
	if (e->has_log_number) {
		r->has_log_number = true;
		r->vs->log_number = e->log_number;
	}
	if (e->has_next_file) {
		r->has_next_file = true;
		r->vs->next_file = e->next_file;
	}
	if (e->has_last_seq) {
		r->has_last_seq = true;
		r->vs->last_seq = e->last_seq;
	}
}

static int replay_record(void *ctx, const uint8_t *rec, size_t len,
			 uint64_t off, struct lsm_err *err)
{
	struct replay *r = ctx;
	struct version_edit e;
	struct lsm_err why = { 0 };
	int rc;

	rc = version_edit_decode(&e, rec, len, &why);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: record at offset %llu: %s",
				   r->path, (unsigned long long)off, why.msg);
	if (e.has_features) {
		rc = check_features(r->vs, &e.features, r->path, err);
		if (rc < 0) {
			version_edit_free(&e);
			return rc;
		}
		r->vs->features = e.features;
	}
	if (e.has_identity) {
		r->vs->has_identity = true;
		r->vs->identity = e.identity;
	}
	if (e.has_epochs) {
		r->vs->nepochs = e.nepochs;
		memcpy(r->vs->epochs, e.epochs, sizeof(e.epochs));
	}
	if (e.has_snapshots) { /* the list replaces the previous one */
		free(r->vs->snaps);
		r->vs->snaps = e.snaps;
		r->vs->nsnaps = e.nsnaps;
		e.snaps = NULL;
		e.nsnaps = 0;
	}
	rc = vb_apply(&r->b, &e, &why);
	if (rc == 0 && (rc = replay_pointers(r->vs, &e)) < 0)
		lsm_err_set(&why, rc, "out of memory");
	if (rc == 0)
		replay_counters(r, &e);
	if (rc == 0 && (rc = wals_apply(&r->vs->wals, &r->vs->nwals,
					&r->vs->cap_wals, &e,
					r->vs->log_number)) < 0)
		lsm_err_set(&why, rc, "out of memory");
	version_edit_free(&e);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: record at offset %llu: %s",
				   r->path, (unsigned long long)off, why.msg);
	return 0;
}


/* Next_file must lie past every number in use, whatever the log says.
 * -EUCLEAN when a number is out of range. */
static int bump_next_file(struct version_set *vs, const struct version *v)
{
	uint64_t max = vs->manifest_number;
	int l;
	size_t i;

	if (vs->log_number > max)
		max = vs->log_number;
	for (l = 0; l < LSM_MAX_LEVELS; l++)
		for (i = 0; i < v->nfiles[l]; i++)
			if (v->files[l][i]->number > max)
				max = v->files[l][i]->number;
	if (max >= VSET_FILE_NUMBER_LIMIT || vs->next_file >= VSET_FILE_NUMBER_LIMIT)
		return -EUCLEAN;
	if (vs->next_file <= max)
		vs->next_file = max + 1;
	return 0;
}

/* Replays manifest PATH into a version. */
static int replay_manifest(struct version_set *vs, const char *path,
			   struct version **out, struct lsm_err *err)
{
	struct replay r = { .vs = vs, .path = path };
	struct wal_replay_info info;
	struct lsm_err why = { 0 };
	int rc;

	r.b.max_levels = vs->max_levels;
	rc = wal_replay(vs->io, path, true, replay_record, &r, &info, err);
	if (rc < 0)
		goto out;
	vs->torn_manifest = 0;
	vs->torn_end = info.end;
	vs->torn_size = info.torn ? info.size : info.end;
	if (!r.has_log_number || !r.has_next_file || !r.has_last_seq) {
		rc = lsm_err_set(err, -EUCLEAN, "%s: no %s recorded", path,
				 !r.has_log_number ? "log number" :
				 !r.has_next_file ? "next file number" :
				 "last sequence");
		goto out;
	}
	rc = vb_finish(&r.b, vs, out);
	if (rc < 0) {
		lsm_err_set(err, rc, "%s: out of memory", path);
		goto out;
	}
	rc = version_check(*out, &why);
	if (rc < 0) {
		lsm_err_set(err, rc, "%s: %s", path, why.msg);
		version_unref(*out);
	}
out:
	vb_free(&r.b);
	return rc;
}

int vset_recover(struct version_set *vs, struct lsm_err *err)
{
	int rc = vset_load(vs, err);

	return rc < 0 || vs->read_only ? rc : vset_rewrite(vs, err);
}

int vset_load(struct version_set *vs, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct version *v;
	uint64_t number;
	int rc;

	if (!vs->dir)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	rc = read_current(vs, &number, err);
	if (rc < 0)
		return rc;
	if (filename_path(path, vs->dir, FILE_MANIFEST, number) < 0)
		return lsm_err_set(err, -ENAMETOOLONG, "%s: path too long",
				   vs->dir);
	rc = replay_manifest(vs, path, &v, err);
	if (rc == -ENOENT) /* CURRENT names a manifest that is not there */
	{
		vs->missing_manifest = number;
		return lsm_err_set(err, -EUCLEAN, "%s: CURRENT names MANIFEST-"
				   "%06llu, which does not exist (CURRENT "
				   "damaged, or the manifest lost)", vs->dir,
				   (unsigned long long)number);
	}
	if (rc < 0)
		return rc;
	vs->manifest_number = number;
	if (vs->torn_size > vs->torn_end)
		vs->torn_manifest = number;
	if (bump_next_file(vs, v) < 0) {
		version_unref(v);
		return lsm_err_set(err, -EUCLEAN, "%s: file number out of "
				   "range", path);
	}
	install(vs, v);
	return 0;
}

const char *vset_torn_hint(const struct version_set *vs, char *buf,
			   size_t cap)
{
	if (!vs->torn_manifest) {
		if (cap)
			buf[0] = 0;
		return buf;
	}
	snprintf(buf, cap, "; MANIFEST-%06llu ends in %llu damaged bytes at "
		 "offset %llu, ignored as a torn write: if the manifest was "
		 "damaged, its last edit (which may have recorded this "
		 "segment) is lost",
		 (unsigned long long)vs->torn_manifest,
		 (unsigned long long)(vs->torn_size - vs->torn_end),
		 (unsigned long long)vs->torn_end);
	return buf;
}

/* Never write a state that a load would refuse. */
static int numbers_exhausted(const struct version_set *vs, struct lsm_err *err)
{
	return lsm_err_set(err, -EUCLEAN, "%s: file numbers exhausted (next "
			   "%llu); the store cannot take more files",
			   vs->dir, (unsigned long long)vs->next_file);
}

int vset_rewrite(struct version_set *vs, struct lsm_err *err)
{
	struct buf snap = BUF_INIT;
	uint64_t number;
	int rc;

	if (vs->read_only || !vs->current)
		return lsm_err_set(err, -EROFS, "%s: read-only", vs->dir);
	/* Written from now on: segments tracked and salted (older segments,
	 * untracked, are still replayed as they were written). */
	vs->features.incompat |= LSM_FEAT_INCOMPAT_WAL_V2;
	if (vs->want_value_log)
		vs->features.incompat |= LSM_FEAT_INCOMPAT_VALUE_LOG;
	if (!vs->has_identity) { /* a store made before identities */
		rc = identity_make(&vs->identity, vs->last_seq + 1);
		if (rc < 0)
			return lsm_err_set(err, rc, "%s: no random store id: %s",
					   vs->dir, strerror(-rc));
		vs->has_identity = true;
	}
	vs->features.compat |= LSM_FEAT_COMPAT_IDENTITY |
			       LSM_FEAT_COMPAT_EPOCHS;
	if (vs->next_file + 1 >= VSET_FILE_NUMBER_LIMIT)
		return numbers_exhausted(vs, err);
	number = vset_new_file_number(vs);
	rc = snapshot_encode(vs, vs->current, NULL, &snap);
	if (rc < 0)
		lsm_err_set(err, rc, "%s: out of memory", vs->dir);
	else
		rc = switch_manifest(vs, number, &snap, err);
	buf_free(&snap);
	return rc;
}

/* ---- applying edits ---- */

/* The version E leads to from the current one; -EINVAL if E does not fit
 * it (nothing is written then). */
static int build_next(struct version_set *vs, const struct version_edit *e,
		      struct version **out, struct lsm_err *err)
{
	struct vbuilder b = { .max_levels = vs->max_levels };
	struct lsm_err why = { 0 };
	int rc;

	rc = vb_load(&b, vs->current);
	if (rc == 0)
		rc = vb_apply(&b, e, &why);
	if (rc == 0)
		rc = vb_finish(&b, vs, out);
	vb_free(&b);
	if (rc == -ENOMEM)
		return lsm_err_set(err, rc, "%s: out of memory", vs->dir);
	if (rc == 0 && (rc = version_check(*out, &why)) < 0)
		version_unref(*out);
	if (rc < 0)
		return lsm_err_set(err, -EINVAL, "%s: bad version edit: %s",
				   vs->dir, why.msg);
	return 0;
}

/* Reserves room for E's compact pointers, so committing them cannot fail. */
static int reserve_pointers(struct version_set *vs,
			    const struct version_edit *e)
{
	size_t i;

	for (i = 0; i < e->npointers; i++)
		if (!buf_reserve(&vs->pointers[e->pointers[i].level],
				 e->pointers[i].len))
			return -ENOMEM;
	return 0;
}

static void commit_pointers(struct version_set *vs,
			    const struct version_edit *e)
{
	(void)replay_pointers(vs, e); /* room reserved */
}

static int append_edit(struct version_set *vs, const struct version_edit *e,
		       struct lsm_err *err)
{
	struct buf rec = BUF_INIT;
	struct wal_rec r;
	int rc;

	version_edit_encode(e, &rec);
	if (!buf_ok(&rec)) {
		buf_free(&rec);
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", vs->dir);
	}
	r = (struct wal_rec){ .p = rec.p, .len = rec.len };
	rc = wal_append(vs->manifest, &r, 1, err);
	if (rc == 0)
		rc = wal_sync(vs->manifest, err);
	buf_free(&rec);
	return rc;
}

/* Writes V and E's counters as the snapshot of manifest NUMBER. */
static int roll_manifest(struct version_set *vs, const struct version *v,
			 const struct version_edit *e, uint64_t number,
			 struct lsm_err *err)
{
	struct buf snap = BUF_INIT;
	int rc = snapshot_encode(vs, v, e, &snap);

	if (rc < 0) {
		buf_free(&snap);
		return lsm_err_set(err, rc, "%s: out of memory", vs->dir);
	}
	rc = switch_manifest(vs, number, &snap, err);
	buf_free(&snap);
	if (rc < 0) {
		/* CURRENT may name either manifest now: stop writing. */
		wal_close(vs->manifest, false, NULL);
		vs->manifest = NULL;
	}
	return rc;
}

static int check_edit(struct version_set *vs, const struct version_edit *e,
		      struct lsm_err *err)
{
	if (!vs->manifest || !vs->current)
		return lsm_err_set(err, -EROFS, "%s: manifest not writable",
				   vs->dir ? vs->dir : "");
	if (e->has_log_number && (e->log_number < vs->log_number ||
				  e->log_number >= vs->next_file))
		return lsm_err_set(err, -EINVAL,
				   "%s: log number %llu out of range",
				   vs->dir, (unsigned long long)e->log_number);
	return 0;
}

/* Rolls over once the log is several times what a snapshot of V would
 * take (at least 64 KiB), so it never grows far past the live state, and
 * always past manifest_limit. */
static bool manifest_too_big(const struct version_set *vs,
			     const struct version *v)
{
	uint64_t size = wal_size(vs->manifest), snap = 0;

	if (size >= vs->manifest_limit)
		return true;
	if (size < (64u << 10))
		return false;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++)
			snap += 24 + v->files[l][i]->smallest_len +
				v->files[l][i]->largest_len;
	return size >= 8 * snap;
}

int vset_log_and_apply(struct version_set *vs, struct version_edit *e,
		       struct lsm_err *err)
{
	struct version *v;
	struct lsm_snapshot_info *snaps = NULL;
	uint64_t number = 0;
	int rc;

	rc = check_edit(vs, e, err);
	if (rc == 0)
		rc = build_next(vs, e, &v, err);
	if (rc < 0)
		return rc;
	if (e->has_snapshots && e->nsnaps &&
	    (snaps = malloc(e->nsnaps * sizeof(*snaps))))
		memcpy(snaps, e->snaps, e->nsnaps * sizeof(*snaps));
	if (reserve_pointers(vs, e) < 0 || reserve_wals(vs, e) < 0 ||
	    (e->has_snapshots && e->nsnaps && !snaps)) {
		free(snaps);
		version_unref(v);
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", vs->dir);
	}
	if (vs->next_file + 1 >= VSET_FILE_NUMBER_LIMIT) {
		free(snaps);
		version_unref(v);
		return numbers_exhausted(vs, err);
	}
	if (manifest_too_big(vs, v))
		number = vset_new_file_number(vs);
	e->has_next_file = e->has_last_seq = true;
	e->next_file = vs->next_file;
	e->last_seq = vs->last_seq;
	if (!e->has_log_number) {
		e->has_log_number = true;
		e->log_number = vs->log_number;
	}
	rc = number ? roll_manifest(vs, v, e, number, err)
		    : append_edit(vs, e, err);
	if (rc < 0) {
		free(snaps);
		version_unref(v);
		return rc;
	}
	vs->log_number = e->log_number;
	if (e->has_identity) {
		vs->has_identity = true;
		vs->identity = e->identity;
	}
	if (e->has_epochs) {
		vs->nepochs = e->nepochs;
		memcpy(vs->epochs, e->epochs, sizeof(e->epochs));
	}
	if (e->has_features)
		vs->features = e->features;
	if (e->has_snapshots) {
		free(vs->snaps);
		vs->snaps = snaps;
		vs->nsnaps = e->nsnaps;
	}
	commit_pointers(vs, e);
	install(vs, v);
	/* Room was reserved above: this cannot fail. */
	wals_apply(&vs->wals, &vs->nwals, &vs->cap_wals, e, vs->log_number);
	return 0;
}

void vset_live_tables(struct version_set *vs,
		      void (*fn)(void *ctx, uint64_t number), void *ctx)
{
	struct version *v;
	int l;
	size_t i;

	for (v = vs->live.next; v != &vs->live; v = v->next)
		for (l = 0; l < LSM_MAX_LEVELS; l++)
			for (i = 0; i < v->nfiles[l]; i++)
				fn(ctx, fm_key(v->files[l][i]));
}

int vset_vlog_live(struct version_set *vs, struct vlog_refs *out)
{
	for (struct version *v = vs->live.next; v != &vs->live; v = v->next)
		for (int l = 0; l < LSM_MAX_LEVELS; l++)
			for (size_t i = 0; i < v->nfiles[l]; i++) {
				const struct vlog_refs *r =
					&v->files[l][i]->vlog;

				for (size_t j = 0; j < r->n; j++)
					if (vlog_refs_add(out, r->v[j].segment,
							  v == vs->current ?
							  r->v[j].bytes : 0))
						return -ENOMEM;
			}
	return 0;
}

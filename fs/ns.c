/* ns.c - the namespace handle: superblock and format, inode number
 * allocation, striped inode locks, inode record helpers, getattr/setattr,
 * open references and orphan reclaim.  Directory operations are in
 * ns_dir.c, file data in ns_data.c, xattrs in ns_xattr.c, paths in
 * ns_path.c. */
#include "ns_priv.h"
#include "lsm_files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ns_options_init(struct ns_options *o)
{
	memset(o, 0, sizeof(*o));
	o->chunk_size = CODEC_DEFAULT_CHUNK;
	o->root_mode = 0755;
}

/* The engine's memtable and table sizes under lsmfs (the engine's own
 * defaults, 8M and 4M, suit small records): file data comes in chunks of
 * 4 KiB and more, and a larger memtable and tables flush and compact less
 * often (measured: streaming and random 4 KiB writes about 2-3x faster).
 * The cost is memory: up to two memtables, 128 MiB, and a longer log
 * replay after a crash.  Tables are cut where a key's kind (its first
 * byte, fs/CODEC.md) changes: file data ("c" keys) written beside the
 * existing data, as a streamed file's or an untarred tree's, then goes
 * from the memtable straight below L0, instead of sharing an L0 table
 * with the inode records each write also updates (engine/flush_place.c). */
void ns_engine_defaults(struct lsm_options *o)
{
	o->memtable_bytes = 64u << 20;
	o->table_bytes = 16u << 20;
	o->table_prefix_bytes = 1;
	/* whole chunks of file data are written once (the value log) */
	o->value_log_min_bytes = NS_VALUE_LOG_BYTES;
	/* Tables are read through pread: the daemon's reads are bound by
	 * FUSE round trips, not by the block read (a cold ls -lR and read
	 * of /usr/include twice over moved within the machine's noise), and
	 * pages read through a mapping would count in its resident set (95
	 * MiB more for that tree), which is what its users watch. */
	o->map_tables = false;
	/* The log is written, not stored through a mapping: under the
	 * daemon the mapping gained nothing (4 KiB random writes 0.98x,
	 * creates 1.00x of map_log=0, five runs each) and its tail got
	 * worse (p99.9 of a 4 KiB write 692 us against 276 us, of a create
	 * 602 us against 338 us; README, the run on bbef9ac).  The
	 * engine's own fills gain 1.1-1.5x from it. */
	o->map_log = false;
}

static int super_op(void *ctx, uint64_t seq, bool is_delete, const void *key,
		    size_t klen, const void *val, size_t vlen)
{
	(void)seq; (void)is_delete; (void)val; (void)vlen;
	if (klen == CODEC_SUPER_KEY_LEN &&
	    !memcmp(key, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN))
		*(bool *)ctx = true;
	return 0;
}

/* Stops the scan (-ECANCELED) once the superblock was seen; a bad batch
 * is the open's to report. */
static int super_rec(void *ctx, const struct lsm_log_record *rec)
{
	lsm_batch_ops(rec->batch, rec->len, super_op, ctx, NULL);
	return *(bool *)ctx ? -ECANCELED : 0;
}

/* The superblock key sorts first, so it is the smallest key of a table,
 * or it is still in the log (a store formatted since its last flush). */
bool ns_store_is_lsmfs(const char *dir)
{
	struct lsm_files *f = NULL;
	bool found = false;

	if (lsm_files_list(dir, &f, NULL) < 0)
		return false;
	for (size_t i = 0; !found && i < f->ntables; i++)
		found = f->tables[i].smallest_len == CODEC_SUPER_KEY_LEN &&
			!memcmp(f->tables[i].smallest, CODEC_SUPER_KEY,
				CODEC_SUPER_KEY_LEN);
	for (size_t i = 0; !found && i < f->nlogs; i++)
		lsm_log_scan(dir, &f->logs[i], 0, super_rec, &found, NULL, NULL);
	lsm_files_free(f);
	return found;
}

int ns_enomem(struct lsm_err *err)
{
	return lsm_err_set(err, -ENOMEM, "lsmfs: out of memory");
}

int ns_err(int rc, struct lsm_err *err)
{
	if (rc >= 0 || !err || err->code == rc)
		return rc;
	if (rc == -ENOMEM)
		return ns_enomem(err);
	return lsm_err_set(err, rc, "lsmfs: %s", strerror(-rc));
}

void ns_now(int64_t *sec, uint32_t *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = (uint32_t)ts.tv_nsec;
}

void ns_touch(struct codec_inode *in, bool mtime, bool ctime)
{
	int64_t s;
	uint32_t ns;

	ns_now(&s, &ns);
	if (mtime) {
		in->mtime_sec = s;
		in->mtime_nsec = ns;
	}
	if (ctime) {
		in->ctime_sec = s;
		in->ctime_nsec = ns;
	}
}

static int put_super(struct ns *ns, struct lsm_batch *b, uint64_t limit,
		     struct lsm_err *err)
{
	struct codec_super sb = { ns->sb_version, ns->cs, limit };
	uint8_t v[CODEC_SUPER_LEN];

	codec_super_encode(v, &sb);
	if (b)
		return lsm_batch_put(b, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN,
				     v, sizeof(v));
	return lsm_put(ns->db, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN, v,
		       sizeof(v), err);
}

static int store_is_empty(struct ns *ns, bool *empty, struct lsm_err *err)
{
	struct lsm_iter *it;
	int rc = lsm_iter_new_ex(ns->db, ns->snap, LSM_ITER_KEYS_ONLY,
				 &it, err);

	if (rc < 0)
		return rc;
	lsm_iter_seek_first(it);
	*empty = !lsm_iter_valid(it);
	rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc;
}

static int format(struct ns *ns, struct lsm_err *err)
{
	struct codec_inode root = { 0 };
	struct lsm_batch *b = lsm_batch_new();
	int rc;

	if (!b)
		return ns_enomem(err);
	root.mode = S_IFDIR | (ns->opt.root_mode & 07777);
	root.uid = ns->opt.root_uid;
	root.gid = ns->opt.root_gid;
	root.nlink = 2;
	root.parent = CODEC_ROOT_INO;
	ns_touch(&root, true, true);
	root.atime_sec = root.mtime_sec;
	root.atime_nsec = root.mtime_nsec;
	ns->sb_version = CODEC_FORMAT_VERSION;
	rc = put_super(ns, b, CODEC_FIRST_INO, err);
	if (rc == 0)
		rc = ns_batch_inode(b, CODEC_ROOT_INO, &root, NULL, 0);
	if (rc == 0)
		rc = lsm_write(ns->db, b, LSM_WRITE_SYNC, err);
	lsm_batch_free(b);
	ns->next_ino = ns->ino_limit = CODEC_FIRST_INO;
	return rc;
}

/* A promoted replica (lsm_identity: generation G > 1) numbers new inodes
 * from G << NS_GEN_INO_SHIFT on, so that no inode it makes collides with
 * one the old primary made after the promotion point, in the history it
 * went on with (which replicas then see as diverged). */
static void generation_floor(struct ns *ns)
{
	struct lsm_identity id;
	uint64_t floor;

	if (ns->opt.read_only || lsm_identity_get(ns->db, &id) < 0 ||
	    id.generation <= 1 || id.generation >= (1u << 15))
		return;
	floor = id.generation << NS_GEN_INO_SHIFT;
	if (ns->next_ino < floor)
		ns->next_ino = ns->ino_limit = floor;
}

static int load_super(struct ns *ns, struct lsm_err *err)
{
	uint8_t v[CODEC_SUPER_LEN];
	struct codec_super sb;
	size_t vlen;
	bool empty;
	int rc;

	rc = lsm_get_buf(ns->db, ns->snap, CODEC_SUPER_KEY,
			 CODEC_SUPER_KEY_LEN, v, sizeof(v), &vlen, err);
	if (rc == 0) {
		rc = store_is_empty(ns, &empty, err);
		if (rc < 0)
			return rc;
		if (!empty)
			return lsm_err_set(err, -EINVAL,
					   "not an lsmfs store (no superblock)");
		if (ns->opt.read_only)
			return lsm_err_set(err, -EINVAL,
					   "empty store: cannot format read-only");
		return format(ns, err);
	}
	if (rc < 0)
		return rc;
	if (vlen != sizeof(v) || codec_super_decode(v, vlen, &sb) < 0)
		return lsm_err_set(err, -EUCLEAN,
				   "lsmfs superblock is corrupt or of an unknown version");
	ns->cs = sb.chunk_size;
	ns->sb_version = sb.version;
	ns->next_ino = ns->ino_limit = sb.ino_limit;
	generation_floor(ns);
	return 0;
}

int ns_open(struct lsm_db *db, const struct ns_options *o, struct ns **out,
	    struct lsm_err *err)
{
	struct ns *ns = calloc(1, sizeof(*ns));
	int rc;

	if (!ns)
		return ns_enomem(err);
	ns->db = db;
	if (o)
		ns->opt = *o;
	else
		ns_options_init(&ns->opt);
	ns->cs = ns->opt.chunk_size;
	ns->snap = ns->opt.snap;
	if (ns->snap)
		ns->opt.read_only = true;
	if (ns->cs < CODEC_MIN_CHUNK || ns->cs > CODEC_MAX_CHUNK ||
	    (ns->cs & (ns->cs - 1))) {
		rc = lsm_err_set(err, -EINVAL,
				 "chunk size %u: not a power of two in [%u, %u]",
				 ns->cs, CODEC_MIN_CHUNK, CODEC_MAX_CHUNK);
		free(ns);
		return rc;
	}
	pthread_mutex_init(&ns->alloc_mu, NULL);
	pthread_mutex_init(&ns->rename_mu, NULL);
	pthread_mutex_init(&ns->open_mu, NULL);
	pthread_mutex_init(&ns->evict_mu, NULL);
	ns->sb_version = CODEC_FORMAT_VERSION;
	for (unsigned i = 0; i < NS_NLOCKS; i++)
		pthread_rwlock_init(&ns->locks[i], NULL);
	rc = load_super(ns, err);
	if (rc == 0 && ns->opt.max_size)
		rc = ns_cap_load(ns, err);
	if (rc < 0) {
		ns_close(ns);
		return ns_err(rc, err);
	}
	*out = ns;
	return 0;
}

void ns_close(struct ns *ns)
{
	if (!ns)
		return;
	ns_clear_refs(ns);
	ns_write_buffers_release();
	for (unsigned i = 0; i < NS_NLOCKS; i++)
		pthread_rwlock_destroy(&ns->locks[i]);
	pthread_mutex_destroy(&ns->alloc_mu);
	pthread_mutex_destroy(&ns->rename_mu);
	pthread_mutex_destroy(&ns->open_mu);
	pthread_mutex_destroy(&ns->evict_mu);
	free(ns->clock);
	free(ns);
}

uint32_t ns_chunk_size(const struct ns *ns)
{
	return ns->cs;
}

struct lsm_db *ns_db(const struct ns *ns)
{
	return ns->db;
}

uint64_t ns_inodes_used(const struct ns *ns)
{
	struct ns *m = (struct ns *)ns; /* the lock, not the state, changes */
	uint64_t n;

	pthread_mutex_lock(&m->alloc_mu);
	n = ns->next_ino;
	pthread_mutex_unlock(&m->alloc_mu);
	return n;
}

int ns_alloc_ino(struct ns *ns, uint64_t *ino, struct lsm_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&ns->alloc_mu);
	if (ns->next_ino >= ns->ino_limit) {
		/* Durable order: the engine recovers a prefix of writes, so
		 * this put lands before any create using the new range. */
		rc = put_super(ns, NULL, ns->next_ino + NS_INO_STEP, err);
		if (rc == 0)
			ns->ino_limit = ns->next_ino + NS_INO_STEP;
	}
	if (rc == 0)
		*ino = ns->next_ino++;
	pthread_mutex_unlock(&ns->alloc_mu);
	return rc;
}

int ns_ttl_enable(struct ns *ns, struct lsm_err *err)
{
	int rc = 0;

	if (ns_ttl_on(ns))
		return 0;
	if (ns->opt.read_only)
		return lsm_err_set(err, -EROFS, "lsmfs: read-only");
	pthread_mutex_lock(&ns->alloc_mu);
	if (!ns_ttl_on(ns)) {
		/* Durable order, as for ino_limit: the engine recovers a
		 * prefix of writes, so no expiry survives without it. */
		ns->sb_version = CODEC_FORMAT_VERSION_TTL;
		rc = put_super(ns, NULL, ns->ino_limit, err);
		if (rc < 0)
			ns->sb_version = CODEC_FORMAT_VERSION;
	}
	pthread_mutex_unlock(&ns->alloc_mu);
	return rc;
}

static unsigned stripe(uint64_t ino)
{
	ino *= 0x9e3779b97f4a7c15ull;
	return (unsigned)(ino >> 56) % NS_NLOCKS;
}

void ns_lock(struct ns *ns, struct ns_lockset *ls, const uint64_t *inos,
	     unsigned n, bool write)
{
	ls->n = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned s = stripe(inos[i]), j;

		if (inos[i] == 0)
			continue;
		for (j = 0; j < ls->n && ls->idx[j] != s; j++)
			;
		if (j < ls->n)
			continue;
		for (j = ls->n; j > 0 && ls->idx[j - 1] > s; j--)
			ls->idx[j] = ls->idx[j - 1];
		ls->idx[j] = s;
		ls->n++;
	}
	for (unsigned i = 0; i < ls->n; i++) {
		if (write)
			pthread_rwlock_wrlock(&ns->locks[ls->idx[i]]);
		else
			pthread_rwlock_rdlock(&ns->locks[ls->idx[i]]);
	}
}

void ns_unlock(struct ns *ns, struct ns_lockset *ls)
{
	for (unsigned i = ls->n; i > 0; i--)
		pthread_rwlock_unlock(&ns->locks[ls->idx[i - 1]]);
	ls->n = 0;
}

int ns_get_inode(struct ns *ns, uint64_t ino, struct codec_inode *in,
		 char *target, size_t *tlen, struct lsm_err *err)
{
	uint8_t key[CODEC_INO_KEY_LEN];
	uint8_t buf[NS_INODE_BUF];
	const char *t;
	size_t vlen, n;
	int rc;

	codec_inode_key(key, ino);
	rc = lsm_get_buf(ns->db, ns->snap, key, sizeof(key), buf, sizeof(buf),
			 &vlen, err);
	if (rc == 0)
		return lsm_err_set(err, -ENOENT, "inode %llu: no such inode",
				   (unsigned long long)ino);
	if (rc < 0)
		return rc;
	if (vlen > sizeof(buf) || codec_inode_decode(buf, vlen, in, &t, &n))
		return lsm_err_set(err, -EUCLEAN,
				   "inode %llu: corrupt record (%zu bytes)",
				   (unsigned long long)ino, vlen);
	if (target)
		memcpy(target, t, n);
	if (tlen)
		*tlen = n;
	return 0;
}

int ns_get_regular(struct ns *ns, uint64_t ino, struct codec_inode *in,
		   int notreg, struct lsm_err *err)
{
	int rc = ns_get_inode(ns, ino, in, NULL, NULL, err);

	if (rc < 0)
		return rc;
	if (ns_is_dir(in))
		return lsm_err_set(err, -EISDIR, "inode %llu: a directory",
				   (unsigned long long)ino);
	if (!S_ISREG(in->mode))
		return lsm_err_set(err, notreg, "inode %llu: not a file",
				   (unsigned long long)ino);
	return 0;
}

int ns_batch_inode(struct lsm_batch *b, uint64_t ino,
		   const struct codec_inode *in, const char *target,
		   size_t tlen)
{
	uint8_t key[CODEC_INO_KEY_LEN];
	uint8_t val[NS_INODE_BUF];
	size_t vlen;

	codec_inode_key(key, ino);
	vlen = codec_inode_encode(val, in, target, tlen);
	return lsm_batch_put(b, key, sizeof(key), val, vlen);
}

int ns_get_dentry(struct ns *ns, uint64_t parent, const char *name,
		  size_t len, uint64_t *ino, uint32_t *type,
		  struct lsm_err *err)
{
	uint8_t key[CODEC_DENTRY_KEY_MAX];
	uint8_t val[CODEC_DENTRY_LEN + 1];
	size_t klen, vlen;
	int rc;

	klen = codec_dentry_key(key, parent, name, len);
	rc = lsm_get_buf(ns->db, ns->snap, key, klen, val, sizeof(val), &vlen,
			 err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return ns_absent(err);
	if (codec_dentry_decode(val, vlen, ino, type) < 0)
		return lsm_err_set(err, -EUCLEAN,
				   "directory %llu: corrupt entry '%.*s'",
				   (unsigned long long)parent, (int)len, name);
	return 0;
}

int ns_commit(struct ns *ns, struct lsm_batch *b, struct lsm_err *err)
{
	if (ns->opt.read_only)
		return lsm_err_set(err, -EROFS, "lsmfs: read-only");
	return lsm_write(ns->db, b, ns->opt.write_flags, err);
}

int ns_commit_frees(struct ns *ns, struct lsm_batch *b, struct lsm_err *err)
{
	if (ns->opt.read_only)
		return lsm_err_set(err, -EROFS, "lsmfs: read-only");
	return lsm_write(ns->db, b, ns->opt.write_flags | LSM_WRITE_FREES, err);
}

int ns_sync(struct ns *ns, struct lsm_err *err)
{
	if (ns->opt.read_only)
		return 0;
	return lsm_sync(ns->db, err);
}

void ns_attr_stat(const struct ns_attr *a, struct stat *st)
{
	const struct codec_inode *in = &a->in;

	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = in->rdev;
	st->st_size = (off_t)in->size;
	st->st_blksize = NS_BLOCK;
	st->st_blocks = (blkcnt_t)((in->alloc + 511) / 512);
	st->st_atim.tv_sec = in->atime_sec;
	st->st_atim.tv_nsec = in->atime_nsec;
	st->st_mtim.tv_sec = in->mtime_sec;
	st->st_mtim.tv_nsec = in->mtime_nsec;
	st->st_ctim.tv_sec = in->ctime_sec;
	st->st_ctim.tv_nsec = in->ctime_nsec;
}

int ns_getattr(struct ns *ns, uint64_t ino, struct ns_attr *a,
	       struct lsm_err *err)
{
	a->ino = ino;
	return ns_get_inode(ns, ino, &a->in, NULL, NULL, err);
}

static void set_times(struct codec_inode *in, const struct ns_setattr *s)
{
	int64_t sec;
	uint32_t nsec;

	ns_now(&sec, &nsec);
	if (s->valid & NS_SET_ATIME_NOW) {
		in->atime_sec = sec;
		in->atime_nsec = nsec;
	} else if (s->valid & NS_SET_ATIME) {
		in->atime_sec = s->atime.tv_sec;
		in->atime_nsec = (uint32_t)s->atime.tv_nsec;
	}
	if (s->valid & NS_SET_MTIME_NOW) {
		in->mtime_sec = sec;
		in->mtime_nsec = nsec;
	} else if (s->valid & NS_SET_MTIME) {
		in->mtime_sec = s->mtime.tv_sec;
		in->mtime_nsec = (uint32_t)s->mtime.tv_nsec;
	}
	in->ctime_sec = sec;
	in->ctime_nsec = nsec;
	if (s->valid & NS_SET_CTIME) {
		in->ctime_sec = s->ctime.tv_sec;
		in->ctime_nsec = (uint32_t)s->ctime.tv_nsec;
	}
}

bool ns_kill_suidgid(struct codec_inode *in, unsigned kill)
{
	uint32_t mode = in->mode;

	if (!S_ISREG(in->mode))
		return false;
	in->mode &= ~(uint32_t)S_ISUID;
	if ((in->mode & S_IXGRP) || (kill & NS_SET_KILL_SGID))
		in->mode &= ~(uint32_t)S_ISGID;
	return in->mode != mode;
}

static void set_owner(struct codec_inode *in, const struct ns_setattr *s)
{
	if ((s->valid & NS_SET_MODE))
		in->mode = (in->mode & S_IFMT) | (s->mode & 07777);
	if (s->valid & NS_SET_UID)
		in->uid = s->uid;
	if (s->valid & NS_SET_GID)
		in->gid = s->gid;
	/* As chown(2) on local filesystems, changed or not: it clears
	 * set-user-ID and (when group executable) set-group-ID of
	 * non-directories.  A kernel that kills privileges itself sends the
	 * mode it computed along. */
	if ((s->valid & (NS_SET_UID | NS_SET_GID)) &&
	    !(s->valid & NS_SET_MODE) && !ns_is_dir(in)) {
		in->mode &= ~(uint32_t)S_ISUID;
		if (in->mode & S_IXGRP)
			in->mode &= ~(uint32_t)S_ISGID;
	}
	if ((s->valid & NS_SET_KILL_SUIDGID) && !(s->valid & NS_SET_MODE))
		ns_kill_suidgid(in, s->valid);
}

static int setattr_locked(struct ns *ns, uint64_t ino,
			  const struct ns_setattr *s, struct ns_attr *out,
			  struct lsm_batch *b, struct lsm_err *err)
{
	struct codec_inode in;
	char target[NS_INODE_BUF];
	size_t tlen;
	int rc;

	uint64_t old_alloc;

	rc = ns_get_inode(ns, ino, &in, target, &tlen, err);
	if (rc < 0)
		return rc;
	old_alloc = in.alloc;
	if (s->valid & NS_SET_SIZE) {
		if (ns_is_dir(&in))
			return lsm_err_set(err, -EISDIR, "truncate: directory");
		if (!S_ISREG(in.mode))
			return lsm_err_set(err, -EINVAL, "truncate: not a file");
		rc = ns_trunc_chunks(ns, b, ino, &in, s->size, err);
		if (rc < 0)
			return rc;
		if (s->size != in.size)
			ns_touch(&in, true, false);
		in.size = s->size;
	}
	set_owner(&in, s);
	set_times(&in, s);
	if (s->valid & NS_SET_MODE) {
		rc = ns_acl_chmod(ns, b, ino, &in, err);
		if (rc < 0)
			return rc;
	}
	if ((s->valid & NS_SET_KILL_CAPS) && S_ISREG(in.mode))
		rc = ns_kill_caps(ns, b, ino, err);
	if (rc >= 0)
		rc = ns_batch_inode(b, ino, &in, target, tlen);
	if (rc == 0)
		rc = ns_commit_frees(ns, b, err);
	if (rc == 0)
		ns_live_add(ns, (int64_t)in.alloc - (int64_t)old_alloc);
	if (rc == 0 && out) {
		out->ino = ino;
		out->in = in;
	}
	return rc;
}

int ns_setattr(struct ns *ns, uint64_t ino, const struct ns_setattr *s,
	       struct ns_attr *out, struct lsm_err *err)
{
	struct lsm_batch *b = lsm_batch_new();
	struct ns_lockset ls;
	int rc;

	if (!b)
		return ns_enomem(err);
	ns_lock(ns, &ls, &ino, 1, true);
	rc = setattr_locked(ns, ino, s, out, b, err);
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

/* ---- bounded scans ---- */

int ns_iter_below(struct ns *ns, unsigned flags, const uint8_t *upper,
		  size_t ulen, struct lsm_iter **it, struct lsm_err *err)
{
	int rc = lsm_iter_new_ex(ns->db, ns->snap, flags, it, err);

	if (rc < 0)
		return rc;
	rc = lsm_iter_set_upper_bound(*it, upper, ulen);
	if (rc < 0) {
		lsm_iter_free(*it);
		*it = NULL;
		return ns_enomem(err);
	}
	return 0;
}

int ns_iter_ino(struct ns *ns, unsigned flags, char k, uint64_t ino,
		struct lsm_iter **it, struct lsm_err *err)
{
	uint8_t end[9];
	size_t elen;

	if (ino < UINT64_MAX) {
		elen = codec_prefix(end, k, ino + 1);
	} else { /* the last inode: the next kind's first key */
		end[0] = (uint8_t)(k + 1);
		elen = 1;
	}
	return ns_iter_below(ns, flags, end, elen, it, err);
}

/* ---- orphans (the references that hold them: ns_open.c) ---- */

int ns_delete_prefix(struct ns *ns, struct lsm_batch *b, char k,
		     uint64_t ino, uint64_t from_idx, uint64_t *bytes,
		     bool commit_full, struct lsm_err *err)
{
	uint8_t start[CODEC_CHUNK_KEY_LEN];
	struct lsm_iter *it;
	size_t slen = codec_prefix(start, k, ino);
	int rc = ns_iter_ino(ns, LSM_ITER_KEYS_ONLY, k, ino, &it, err);

	if (rc < 0)
		return rc;
	if (k == CODEC_K_CHUNK)
		slen = codec_chunk_key(start, ino, from_idx);
	for (lsm_iter_seek(it, start, slen); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen;
		const void *key = lsm_iter_key(it, &klen);

		if (klen < 9 || memcmp(key, start, 9) != 0)
			break;
		*bytes += lsm_iter_value_len(it); /* not read */
		rc = lsm_batch_delete(b, key, klen);
		if (rc == 0 && commit_full &&
		    lsm_batch_count(b) >= NS_RECLAIM_BATCH) {
			rc = ns_commit_frees(ns, b, err);
			lsm_batch_clear(b);
		}
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc;
}

/* Deletes INO's data, xattrs, record and orphan key, IN its record (NULL:
 * it has none, a stale orphan key).  Lock held. */
static int reclaim_rec(struct ns *ns, uint64_t ino,
		       const struct codec_inode *in, struct lsm_err *err)
{
	struct lsm_batch *b = lsm_batch_new();
	uint8_t key[CODEC_INO_KEY_LEN];
	uint64_t bytes = 0;
	int rc = 0;

	if (!b)
		return ns_enomem(err);
	if (in && in->nlink > 0) /* relinked or stale orphan key */
		goto drop_orphan;
	if (in && in->expire_ns &&
	    (rc = ns_expiry_batch(b, ino, in->expire_ns, 0)) < 0)
		goto out;
	/* with its record, a small file's chunks go by key: no scan, which
	 * after a cold start read the data blocks of every file removed */
	if (in)
		rc = ns_delete_chunks(ns, b, ino, in, 0, true, &bytes, err);
	else
		rc = ns_delete_prefix(ns, b, CODEC_K_CHUNK, ino, 0, &bytes,
				      true, err);
	if (rc == 0)
		rc = ns_delete_prefix(ns, b, CODEC_K_XATTR, ino, 0, &bytes,
				      true, err);
	if (rc < 0)
		goto out;
	codec_inode_key(key, ino);
	rc = lsm_batch_delete(b, key, sizeof(key));
	if (rc < 0)
		goto out;
drop_orphan:
	codec_orphan_key(key, ino);
	rc = lsm_batch_delete(b, key, sizeof(key));
	if (rc == 0)
		rc = ns_commit_frees(ns, b, err);
	if (rc == 0 && in && in->nlink == 0)
		ns_live_add(ns, -(int64_t)in->alloc);
out:
	lsm_batch_free(b);
	return rc;
}

int ns_reclaim_locked(struct ns *ns, uint64_t ino, struct lsm_err *err)
{
	struct codec_inode in = { 0 };
	int rc = ns_get_inode(ns, ino, &in, NULL, NULL, err);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	return reclaim_rec(ns, ino, rc == 0 ? &in : NULL, err);
}

int ns_reclaim(struct ns *ns, uint64_t ino, struct lsm_err *err)
{
	struct ns_lockset ls;
	struct codec_inode in;
	int rc;

	ns_lock(ns, &ls, &ino, 1, true);
	rc = ns_get_inode(ns, ino, &in, NULL, NULL, err);
	if (rc == 0 && in.nlink == 0 && !ns_is_open(ns, ino))
		rc = reclaim_rec(ns, ino, &in, err);
	else if (rc == -ENOENT)
		rc = 0;
	ns_unlock(ns, &ls);
	return ns_err(rc, err);
}

static int collect_orphans(struct ns *ns, uint64_t **inos, size_t *n,
			   struct lsm_err *err)
{
	uint8_t start[1] = { CODEC_K_ORPHAN };
	uint8_t end[1] = { CODEC_K_ORPHAN + 1 };
	struct lsm_iter *it;
	size_t cap = 0;
	int rc = ns_iter_below(ns, LSM_ITER_KEYS_ONLY, end, sizeof(end), &it,
			       err);

	if (rc < 0)
		return rc;
	for (lsm_iter_seek(it, start, 1); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		uint64_t ino, *p;

		if (codec_parse_ino_key(k, klen, CODEC_K_ORPHAN, &ino) < 0)
			break;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			p = realloc(*inos, cap * sizeof(*p));
			if (!p) {
				rc = ns_enomem(err);
				break;
			}
			*inos = p;
		}
		(*inos)[(*n)++] = ino;
	}
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc;
}

int ns_reclaim_orphans(struct ns *ns, unsigned *n, struct lsm_err *err)
{
	uint64_t *inos = NULL;
	size_t count = 0;
	unsigned done = 0;
	int rc;

	if (ns->opt.read_only)
		return 0;
	rc = collect_orphans(ns, &inos, &count, err);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		if (ns_is_open(ns, inos[i]))
			continue;
		rc = ns_reclaim(ns, inos[i], err);
		done++;
	}
	free(inos);
	if (n)
		*n = done;
	return rc;
}

void ns_counters(struct ns *ns, struct ns_counters *c)
{
	c->expired_files = ns->expired_files;
	c->expired_bytes = ns->expired_bytes;
	c->evicted_files = ns->evicted_files;
	c->evicted_bytes = ns->evicted_bytes;
	c->enospc = ns->enospc;
	c->live_bytes = ns->live_bytes;
	c->max_size = ns->opt.max_size;
}

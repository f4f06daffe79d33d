/* ns_expire.c - expiring files: the expiry of an inode (in its record,
 * version 2, so hard links share it), its index key ('e' expire ino, in
 * expiry order, so a purge finds what expired without scanning inodes),
 * the virtual xattrs user.lsmfs.ttl / user.lsmfs.expires, and the purge:
 * removing each name of an expired file as an unlink would, with its data
 * in the batch of its last name.  Expiry is decided when a file is looked
 * at (ns_lookup, ns_readdir treat an expired file as absent); the purge
 * only gives the space back.  See fs/CODEC.md "Expiry". */
#include "ns_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_NS 1000000000ull

uint64_t ns_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_NS + (uint64_t)ts.tv_nsec;
}

bool ns_is_expired(const struct ns *ns, const struct codec_inode *in)
{
	return in->expire_ns && ns_expired_at(in, ns_view_now(ns));
}

double ns_life_cap(const struct ns_attr *a, double cap)
{
	uint64_t now;
	double left;

	if (!a->in.expire_ns)
		return cap;
	/* The kernel counts a timeout from when it takes the reply, rounded
	 * up to a tick; ending its caches NS_CACHE_MARGIN_NS early keeps a
	 * late reply from showing the file past its expiry. */
	now = ns_now_ns() + NS_CACHE_MARGIN_NS;
	if (a->in.expire_ns <= now)
		return 0;
	left = (double)(a->in.expire_ns - now) / 1e9;
	return left < cap ? left : cap;
}

int ns_expiry_batch(struct lsm_batch *b, uint64_t ino, uint64_t old_ns,
		    uint64_t new_ns)
{
	uint8_t key[CODEC_EXPIRY_KEY_LEN];
	int rc = 0;

	if (old_ns == new_ns)
		return 0;
	if (old_ns)
		rc = lsm_batch_delete(b, key, codec_expiry_key(key, old_ns, ino));
	if (rc == 0 && new_ns)
		rc = lsm_batch_put(b, key, codec_expiry_key(key, new_ns, ino),
				   "", 0);
	return rc;
}

int ns_expiry_put_hint(struct lsm_batch *b, uint64_t ino, uint64_t exp,
		       uint64_t parent, const char *name, size_t len)
{
	uint8_t key[CODEC_EXPIRY_KEY_LEN], val[8 + CODEC_NAME_MAX];

	if (!name || len > CODEC_NAME_MAX) /* no hint: an empty value */
		return lsm_batch_put(b, key, codec_expiry_key(key, exp, ino),
				     "", 0);
	codec_put_le64(val, parent);
	memcpy(val + 8, name, len);
	return lsm_batch_put(b, key, codec_expiry_key(key, exp, ino), val,
			     8 + len);
}

/* The name hint of INO's index key at OLD (none: *LEN 0). */
static int get_hint(struct ns *ns, uint64_t ino, uint64_t old, uint8_t *val,
		    size_t *len, struct lsm_err *err)
{
	uint8_t key[CODEC_EXPIRY_KEY_LEN];
	int rc;

	*len = 0;
	if (!old)
		return 0;
	rc = lsm_get_buf(ns->db, NULL, key, codec_expiry_key(key, old, ino),
			 val, 8 + CODEC_NAME_MAX, len, err);
	if (rc <= 0 || *len < 9 || *len > 8 + CODEC_NAME_MAX)
		*len = 0;
	return rc < 0 ? rc : 0;
}

static int set_expiry_locked(struct ns *ns, uint64_t ino, uint64_t exp,
			     struct lsm_batch *b, struct lsm_err *err)
{
	uint8_t hint[8 + CODEC_NAME_MAX];
	struct codec_inode in;
	size_t hlen;
	int rc = ns_get_inode(ns, ino, &in, NULL, NULL, err);

	if (rc < 0)
		return rc;
	if (!S_ISREG(in.mode))
		return lsm_err_set(err, -EPERM,
				   "expiry: only regular files expire");
	/* gone is gone: an expired file (open, not yet purged) does not
	 * come back */
	if (ns_expired_at(&in, ns_now_ns()))
		return lsm_err_set(err, -ENOENT, "expiry: the file expired");
	/* the name hint, if any, moves to the new key */
	rc = get_hint(ns, ino, in.expire_ns, hint, &hlen, err);
	if (rc == 0)
		rc = ns_expiry_batch(b, ino, in.expire_ns, 0);
	if (rc == 0 && exp)
		rc = ns_expiry_put_hint(b, ino, exp, hlen ?
					codec_get_le64(hint) : 0,
					hlen ? (const char *)hint + 8 : NULL,
					hlen ? hlen - 8 : 0);
	in.expire_ns = exp;
	ns_touch(&in, false, true);
	if (rc == 0)
		rc = ns_batch_inode(b, ino, &in, NULL, 0);
	if (rc == 0)
		rc = ns_commit(ns, b, err);
	return rc;
}

int ns_set_expiry(struct ns *ns, uint64_t ino, uint64_t expire_ns,
		  struct lsm_err *err)
{
	struct lsm_batch *b;
	struct ns_lockset ls;
	int rc = 0;

	if (expire_ns)
		rc = ns_ttl_enable(ns, err);
	if (rc < 0)
		return rc;
	b = lsm_batch_new();
	if (!b)
		return ns_enomem(err);
	ns_lock(ns, &ls, &ino, 1, true);
	rc = set_expiry_locked(ns, ino, expire_ns, b, err);
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

/* ---- the virtual xattrs ---- */

bool ns_ttl_xattr(const char *name)
{
	return strcmp(name, NS_XATTR_TTL) == 0 ||
	       strcmp(name, NS_XATTR_EXPIRES) == 0;
}

/* "SECS" or "SECS.FRACTION" (up to 9 digits), an optional newline. */
static int parse_secs(const char *v, size_t len, uint64_t *out)
{
	uint64_t sec = 0, frac = 0, scale = NS_NS;
	size_t i = 0;
	bool digits = false;

	if (len && v[len - 1] == '\n')
		len--;
	for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, digits = true) {
		if (sec > (UINT64_MAX / NS_NS - 9) / 10)
			return -ERANGE;
		sec = sec * 10 + (uint64_t)(v[i] - '0');
	}
	if (i < len && v[i] == '.') {
		for (i++; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
			digits = true;
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(v[i] - '0') * scale;
			}
		}
	}
	if (!digits || i != len)
		return -EINVAL;
	*out = sec * NS_NS + frac;
	return 0;
}

int ns_ttl_setxattr(struct ns *ns, uint64_t ino, const char *name,
		    const void *val, size_t len, unsigned flags,
		    struct lsm_err *err)
{
	struct ns_attr a;
	uint64_t v = 0, exp = 0;
	int rc = ns_getattr(ns, ino, &a, err);

	if (rc < 0)
		return rc;
	if ((flags & NS_XATTR_CREATE) && a.in.expire_ns)
		return lsm_err_set(err, -EEXIST, "%s: the file has an expiry",
				   name);
	if ((flags & NS_XATTR_REPLACE) && !a.in.expire_ns)
		return lsm_err_set(err, -ENODATA, "%s: the file has no expiry",
				   name);
	if (val) {
		rc = parse_secs(val, len, &v);
		if (rc < 0)
			return lsm_err_set(err, rc, "%s: '%.*s' is not a number "
					   "of seconds (e.g. 3600 or 1.5)",
					   name, (int)(len < 40 ? len : 40),
					   (const char *)val);
	}
	if (v == 0)
		exp = 0;
	else if (strcmp(name, NS_XATTR_TTL) == 0)
		exp = ns_now_ns() + v;
	else
		exp = v;
	return ns_set_expiry(ns, ino, exp, err);
}

int ns_ttl_getxattr(struct ns *ns, uint64_t ino, const char *name,
		    void *buf, size_t cap, size_t *len, struct lsm_err *err)
{
	struct ns_attr a;
	char s[48];
	uint64_t e, now;
	int rc = ns_getattr(ns, ino, &a, err);

	if (rc < 0)
		return rc;
	e = a.in.expire_ns;
	if (!e)
		return lsm_err_set(err, -ENODATA, "%s: the file has no expiry",
				   name);
	if (strcmp(name, NS_XATTR_TTL) == 0) {
		now = ns_now_ns();
		snprintf(s, sizeof(s), "%llu", e <= now ? 0ull :
			 (unsigned long long)((e - now + NS_NS - 1) / NS_NS));
	} else if (e % NS_NS) {
		snprintf(s, sizeof(s), "%llu.%09llu",
			 (unsigned long long)(e / NS_NS),
			 (unsigned long long)(e % NS_NS));
	} else {
		snprintf(s, sizeof(s), "%llu", (unsigned long long)(e / NS_NS));
	}
	*len = strlen(s);
	if (cap && *len > cap)
		return lsm_err_set(err, -ERANGE, "xattr: buffer too small");
	if (cap)
		memcpy(buf, s, *len);
	return 0;
}

/* ---- names of expired files ---- */

bool ns_name_expired(struct ns *ns, uint64_t parent, const char *name,
		     size_t len)
{
	struct codec_inode in;
	uint64_t ino;
	uint32_t type;

	if (!ns_ttl_on(ns) ||
	    ns_get_dentry(ns, parent, name, len, &ino, &type, NULL) < 0 ||
	    type != S_IFREG ||
	    ns_get_inode(ns, ino, &in, NULL, NULL, NULL) < 0)
		return false;
	return ns_expired_at(&in, ns_now_ns());
}

/* The last name of INO (record IN, no handle open) goes, for WHY: its
 * data and xattrs with it, and the record and its expiry key too unless
 * the kernel still knows the inode.  Then an empty orphan stays until it
 * forgets it, expired (an evicted one as of the epoch's first instant,
 * with the index key that goes with it), so that an open through a name
 * the kernel cached before our notification gets ENOENT, not an empty
 * file. */
static int drop_last(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		     struct codec_inode *in, int why, struct lsm_err *err)
{
	uint8_t key[CODEC_INO_KEY_LEN];
	uint64_t bytes = 0, exp;
	int rc;

	rc = ns_delete_chunks(ns, b, ino, in, 0, false, &bytes, err);
	if (rc == 0)
		rc = ns_delete_prefix(ns, b, CODEC_K_XATTR, ino, 0, &bytes,
				      false, err);
	if (rc < 0)
		return rc;
	in->nlink = 0;
	ns_touch(in, false, true);
	if (!ns_is_open(ns, ino)) {
		rc = ns_expiry_batch(b, ino, in->expire_ns, 0);
		if (rc == 0)
			rc = lsm_batch_delete(b, key,
					      codec_inode_key(key, ino));
		return rc;
	}
	/* An evicted file still open or known to the kernel is marked gone
	 * by the expiry sentinel: a version-2 record, which the superblock
	 * must allow first (durably), as for any expiry. */
	if (why == NS_DROP_EVICT && (rc = ns_ttl_enable(ns, err)) < 0)
		return rc;
	exp = why == NS_DROP_EVICT ? NS_GONE_NS : in->expire_ns;
	rc = ns_expiry_batch(b, ino, in->expire_ns, exp);
	in->size = in->alloc = 0;
	in->expire_ns = exp;
	if (rc == 0)
		rc = ns_batch_inode(b, ino, in, NULL, 0);
	if (rc == 0)
		rc = lsm_batch_put(b, key, codec_orphan_key(key, ino), "", 0);
	return rc;
}

static int drop_locked(struct ns *ns, uint64_t parent, const char *name,
		       size_t len, uint64_t ino, int why, struct lsm_batch *b,
		       struct lsm_err *err)
{
	uint8_t key[CODEC_DENTRY_KEY_MAX];
	struct codec_inode dir, in;
	uint64_t now_ino, alloc;
	uint32_t type;
	bool handle, last;
	int rc;

	rc = ns_get_dentry(ns, parent, name, len, &now_ino, &type, err);
	if (rc == -ENOENT || (rc == 0 && now_ino != ino))
		return 0; /* changed meanwhile */
	if (rc == 0)
		rc = ns_get_inode(ns, parent, &dir, NULL, NULL, err);
	if (rc == 0)
		rc = ns_get_inode(ns, ino, &in, NULL, NULL, err);
	if (rc < 0)
		return rc;
	if (!S_ISREG(in.mode) || !ns_is_dir(&dir) || in.nlink == 0)
		return 0;
	handle = ns_has_handle(ns, ino);
	if (why == NS_DROP_EXPIRED && !ns_expired_at(&in, ns_now_ns()))
		return 0;
	if (why == NS_DROP_EVICT && (in.nlink != 1 || handle))
		return 0;
	alloc = in.alloc;
	last = in.nlink == 1;
	rc = lsm_batch_delete(b, key, codec_dentry_key(key, parent, name, len));
	ns_touch(&dir, true, true);
	if (rc == 0)
		rc = ns_batch_inode(b, parent, &dir, NULL, 0);
	if (rc < 0)
		return rc;
	if (!last || handle) { /* as an unlink: the data stays for now */
		in.nlink--;
		ns_touch(&in, false, true);
		rc = ns_batch_inode(b, ino, &in, NULL, 0);
		if (rc == 0 && last)
			rc = lsm_batch_put(b, key, codec_orphan_key(key, ino),
					   "", 0);
	} else {
		rc = drop_last(ns, b, ino, &in, why, err);
	}
	if (rc == 0)
		rc = ns_commit_frees(ns, b, err);
	if (rc < 0)
		return rc;
	if (last && !handle)
		ns_live_add(ns, -(int64_t)alloc);
	if (last && why == NS_DROP_EXPIRED) {
		ns->expired_files++;
		ns->expired_bytes += alloc;
	} else if (last) {
		ns->evicted_files++;
		ns->evicted_bytes += alloc;
	}
	return 1;
}

int ns_drop_name(struct ns *ns, uint64_t parent, const char *name,
		 size_t len, uint64_t ino, int why, struct lsm_err *err)
{
	uint64_t inos[2] = { parent, ino };
	struct lsm_batch *b;
	struct ns_lockset ls;
	int rc;

	if (ns->opt.read_only)
		return 0;
	b = lsm_batch_new();
	if (!b)
		return ns_enomem(err);
	ns_lock(ns, &ls, inos, 2, true);
	rc = drop_locked(ns, parent, name, len, ino, why, b, err);
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

/* ---- finding names ---- */

struct found {
	uint64_t parent, ino;
	size_t nlen;
	char name[CODEC_NAME_MAX + 1];
};

struct found_list {
	struct found *v;
	size_t n, cap;
};

static int found_add(struct found_list *l, uint64_t parent, uint64_t ino,
		     const char *name, size_t nlen)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct found *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n].parent = parent;
	l->v[l->n].ino = ino;
	l->v[l->n].nlen = nlen;
	memcpy(l->v[l->n].name, name, nlen);
	l->v[l->n].name[nlen] = '\0';
	l->n++;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every entry (of directory ONLY_DIR, or of all when 0) naming one of
 * the N sorted inodes WANT (N 0: every expired regular file, checked by
 * its record) into L: one range scan. */
static int scan_names(struct ns *ns, uint64_t only_dir, const uint64_t *want,
		      size_t n, struct found_list *l, bool *live,
		      struct lsm_err *err)
{
	uint8_t start[9] = { CODEC_K_DENTRY };
	struct lsm_iter *it;
	uint64_t now = ns_now_ns();
	size_t slen = 1;
	int rc = lsm_iter_new(ns->db, NULL, &it, err);

	if (rc < 0)
		return rc;
	if (only_dir)
		slen = codec_prefix(start, CODEC_K_DENTRY, only_dir);
	for (lsm_iter_seek(it, start, slen); rc == 0 && lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen, vlen, nlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v = lsm_iter_value(it, &vlen);
		struct codec_inode in;
		const char *name;
		uint64_t parent, ino;
		uint32_t type;

		if (klen < slen || memcmp(k, start, slen) != 0)
			break;
		if (codec_parse_dentry_key(k, klen, &parent, &name, &nlen) ||
		    codec_dentry_decode(v, vlen, &ino, &type) < 0)
			continue; /* damage: lsmfs-ctl check reports it */
		if (n) {
			if (!bsearch(&ino, want, n, sizeof(*want), cmp_u64))
				continue;
		} else if (type != S_IFREG ||
			   ns_get_inode(ns, ino, &in, NULL, NULL, NULL) < 0 ||
			   !ns_expired_at(&in, now)) {
			*live = true;
			continue;
		}
		if (found_add(l, parent, ino, name, nlen) < 0)
			rc = ns_enomem(err);
	}
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc;
}

/* Drops every name of L; the names that went are told to FN. */
static int drop_found(struct ns *ns, const struct found_list *l,
		      ns_gone_fn fn, void *ctx, unsigned *dropped,
		      struct lsm_err *err)
{
	int rc = 0;

	for (size_t i = 0; rc >= 0 && i < l->n; i++) {
		const struct found *f = &l->v[i];

		rc = ns_drop_name(ns, f->parent, f->name, f->nlen, f->ino,
				  NS_DROP_EXPIRED, err);
		if (rc == 1) {
			(*dropped)++;
			if (fn)
				fn(ctx, NS_DROP_EXPIRED, f->parent, f->ino,
				   f->name, f->nlen);
		}
	}
	return rc < 0 ? rc : 0;
}

int ns_expire_dir(struct ns *ns, uint64_t dir, struct lsm_err *err)
{
	struct found_list l = { 0 };
	unsigned dropped = 0;
	bool live = false;
	int rc;

	if (!ns_ttl_on(ns) || ns->opt.read_only)
		return 0;
	rc = scan_names(ns, dir, NULL, 0, &l, &live, err);
	if (rc == 0 && !live && l.n)
		rc = drop_found(ns, &l, ns->gone_fn, ns->gone_ctx, &dropped,
				err);
	free(l.v);
	return rc < 0 ? rc : dropped > 0;
}

/* ---- the purge ---- */

/* Up to MAX inodes of the index whose expiry lies in (AFTER, UNTIL], into
 * *WANT (sorted), and the name hints of their keys into HINTS.  Index keys
 * gone stale (no record, another expiry) are deleted when STALE is set,
 * else skipped.  *COVERED: UNTIL, or just before the expiry where MAX
 * stopped the walk; *NEXT_NS the first expiry after *COVERED (0: none). */
static int collect_due(struct ns *ns, uint64_t after, uint64_t until,
		       unsigned max, bool stale_too, uint64_t **want,
		       size_t *n, struct found_list *hints, uint64_t *covered,
		       uint64_t *next_ns, struct lsm_err *err)
{
	uint8_t start[CODEC_EXPIRY_KEY_LEN];
	struct lsm_batch *stale = stale_too ? lsm_batch_new() : NULL;
	struct lsm_iter *it;
	int rc;

	*covered = until;
	*next_ns = 0;
	*want = calloc(max ? max : 1, sizeof(**want));
	if ((stale_too && !stale) || !*want) {
		lsm_batch_free(stale);
		return ns_enomem(err);
	}
	rc = lsm_iter_new(ns->db, NULL, &it, err);
	if (rc < 0) {
		lsm_batch_free(stale);
		return rc;
	}
	for (lsm_iter_seek(it, start, codec_expiry_key(start, after + 1, 0));
	     lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t klen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		struct codec_inode in;
		uint64_t exp, ino;
		int g;

		if (klen == 0 || k[0] != CODEC_K_EXPIRY)
			break;
		if (codec_parse_expiry_key(k, klen, &exp, &ino) < 0)
			continue;
		if (exp > until || *n >= max) {
			if (exp <= until) /* the rest of this instant next */
				*covered = exp - 1;
			*next_ns = exp;
			break;
		}
		g = ns_get_inode(ns, ino, &in, NULL, NULL, NULL);
		if (g == -ENOENT || (g == 0 && in.expire_ns != exp)) {
			if (stale && lsm_batch_delete(stale, k, klen) < 0) {
				rc = ns_enomem(err);
				break;
			}
			continue;
		}
		if (g == 0 && in.nlink > 0) {
			size_t vlen;
			const uint8_t *v = lsm_iter_value(it, &vlen);

			(*want)[(*n)++] = ino;
			if (vlen > 8 && vlen <= 8 + CODEC_NAME_MAX &&
			    found_add(hints, codec_get_le64(v), ino,
				      (const char *)v + 8, vlen - 8) < 0) {
				rc = ns_enomem(err);
				break;
			}
		}
	}
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	if (rc == 0 && stale && lsm_batch_count(stale))
		rc = ns_commit_frees(ns, stale, err);
	lsm_batch_free(stale);
	qsort(*want, *n, sizeof(**want), cmp_u64);
	return rc;
}

int ns_expire_run(struct ns *ns, unsigned max, ns_gone_fn fn, void *ctx,
		  unsigned *done, uint64_t *next_ns, struct lsm_err *err)
{
	struct found_list l = { 0 }, hints = { 0 };
	uint64_t *want = NULL, before = ns->expired_files, covered;
	unsigned dropped = 0;
	size_t n = 0;
	bool live = false;
	int rc;

	*done = 0;
	*next_ns = 0;
	if (!ns_ttl_on(ns) || ns->opt.read_only)
		return 0;
	rc = collect_due(ns, 0, ns_now_ns(), max, true, &want, &n, &hints,
			 &covered, next_ns, err);
	/* the names the index keys remember first: a file that had one
	 * name, still there, goes without a scan */
	if (rc == 0 && hints.n)
		rc = drop_found(ns, &hints, fn, ctx, &dropped, err);
	for (size_t i = 0, k = 0; rc == 0 && i < n; i++) {
		struct codec_inode in;

		if (ns_get_inode(ns, want[i], &in, NULL, NULL, NULL) == 0 &&
		    in.nlink > 0)
			want[k++] = want[i];
		if (i + 1 == n)
			n = k;
	}
	/* the others (renamed, linked, no hint): one scan for them all */
	if (rc == 0 && n)
		rc = scan_names(ns, 0, want, n, &l, &live, err);
	if (rc == 0)
		rc = drop_found(ns, &l, fn, ctx, &dropped, err);
	free(l.v);
	free(hints.v);
	free(want);
	*done = (unsigned)(ns->expired_files - before);
	return rc;
}

/* ---- telling the names of files about to expire ---- */

/* Is hint H the only name of its file, and does it still name it? */
static bool hint_is_only_name(struct ns *ns, const struct found *h)
{
	struct codec_inode in;
	uint64_t ino;
	uint32_t type;

	return ns_get_inode(ns, h->ino, &in, NULL, NULL, NULL) == 0 &&
	       in.nlink == 1 &&
	       ns_get_dentry(ns, h->parent, h->name, h->nlen, &ino, &type,
			     NULL) == 0 && ino == h->ino;
}

int ns_expire_names(struct ns *ns, uint64_t after_ns, uint64_t until_ns,
		    unsigned max, ns_gone_fn fn, void *ctx,
		    uint64_t *covered_ns, uint64_t *next_ns,
		    struct lsm_err *err)
{
	struct found_list hints = { 0 }, l = { 0 };
	uint64_t *want = NULL, *told = NULL;
	size_t n = 0, k = 0, ntold = 0;
	bool live = false;
	int rc;

	*covered_ns = until_ns;
	*next_ns = 0;
	if (!ns_ttl_on(ns) || ns->opt.read_only || until_ns <= after_ns)
		return 0;
	rc = collect_due(ns, after_ns, until_ns, max, false, &want, &n, &hints,
			 covered_ns, next_ns, err);
	if (rc == 0 && hints.n && !(told = calloc(hints.n, sizeof(*told))))
		rc = ns_enomem(err);
	/* a hint that is its file's only name, still right, is told as it
	 * is; the others (linked, renamed, no hint): one scan for them all */
	for (size_t i = 0; rc == 0 && i < hints.n; i++) {
		const struct found *h = &hints.v[i];

		if (!hint_is_only_name(ns, h))
			continue;
		fn(ctx, 0, h->parent, h->ino, h->name, h->nlen);
		told[ntold++] = h->ino;
	}
	if (ntold)
		qsort(told, ntold, sizeof(*told), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!ntold ||
		    !bsearch(&want[i], told, ntold, sizeof(*told), cmp_u64))
			want[k++] = want[i];
	if (rc == 0 && k)
		rc = scan_names(ns, 0, want, k, &l, &live, err);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		fn(ctx, 0, l.v[i].parent, l.v[i].ino, l.v[i].name,
		   l.v[i].nlen);
	if (rc < 0)
		*covered_ns = after_ns; /* all again next time */
	free(hints.v);
	free(l.v);
	free(told);
	free(want);
	return rc;
}

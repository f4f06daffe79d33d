/* repair_paths.c - which files of the filesystem in a store lie in given
 * key ranges (those of damaged tables), for lsmfs-ctl repair: one scan of
 * the directory entries over a read-only open, stepping over the ranges
 * themselves when reading fails in them, then a path for each entry whose
 * own key, inode record, data chunks or xattrs may fall in a range. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "ctl.h"

struct rp_ent {
	uint64_t parent, ino;
	uint8_t type;    /* st_mode >> 12 */
	char *name;
	size_t nlen;
};

struct rp {
	struct rp_ent *e;
	size_t n, cap;
	char *path;      /* scratch */
	size_t pcap;
};

static int bytes_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

static bool key_in(const struct ctl_range *r, const void *k, size_t n)
{
	return bytes_cmp(r->lo, r->lo_len, k, n) <= 0 &&
	       bytes_cmp(k, n, r->hi, r->hi_len) <= 0;
}

/* Whether some key starting with the 9-byte prefix of kind K of INO may
 * lie in R. */
static bool prefix_in(const struct ctl_range *r, char k, uint64_t ino)
{
	uint8_t p[CODEC_INO_KEY_LEN];
	size_t n = codec_prefix(p, k, ino);

	if (bytes_cmp(p, n, r->hi, r->hi_len) > 0)
		return false;
	return bytes_cmp(r->lo, r->lo_len, p, n) <= 0 ||
	       (r->lo_len >= n && memcmp(r->lo, p, n) == 0);
}

static int rp_add(struct rp *p, const uint8_t *key, size_t klen,
		  const uint8_t *val, size_t vlen)
{
	struct rp_ent *e;
	const char *name;
	uint32_t mode;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct rp_ent *a = realloc(p->e, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		p->e = a;
		p->cap = cap;
	}
	e = &p->e[p->n];
	if (codec_parse_dentry_key(key, klen, &e->parent, &name,
				   &e->nlen) < 0 ||
	    codec_dentry_decode(val, vlen, &e->ino, &mode) < 0)
		return 0; /* not ours to judge: lsmfs-ctl check does */
	e->type = (uint8_t)(mode >> 12);
	e->name = malloc(e->nlen ? e->nlen : 1);
	if (!e->name)
		return -ENOMEM;
	memcpy(e->name, name, e->nlen);
	p->n++;
	return 0;
}

/* The key just past the nearest range ending at or after POS (the read
 * failed past POS, so inside one), in BUF; NULL when there is none. */
static const void *skip_past(const struct ctl_range *r, size_t nr,
			     const uint8_t *pos, size_t plen, uint8_t *buf,
			     size_t *len)
{
	const struct ctl_range *best = NULL;

	for (size_t i = 0; i < nr; i++)
		if (bytes_cmp(pos, plen, r[i].hi, r[i].hi_len) <= 0 &&
		    (!best || bytes_cmp(r[i].hi, r[i].hi_len, best->hi,
					best->hi_len) < 0))
			best = &r[i];
	if (!best || best->hi_len >= LSM_MAX_KEY_BYTES)
		return NULL;
	memcpy(buf, best->hi, best->hi_len);
	buf[best->hi_len] = '\0';
	*len = best->hi_len + 1;
	return buf;
}

/* Reads every directory entry into P, stepping over the ranges when a
 * read fails inside one. */
static int rp_scan(struct lsm_db *db, const struct ctl_range *r, size_t nr,
		   struct rp *p, struct lsm_err *err)
{
	static uint8_t seek[LSM_MAX_KEY_BYTES], last[LSM_MAX_KEY_BYTES];
	size_t slen = 1, llen = 1;
	struct lsm_iter *it;
	int rc;

	seek[0] = last[0] = CODEC_K_DENTRY;
	for (;;) {
		const void *k, *v;
		size_t klen, vlen;
		const void *next;

		rc = lsm_iter_new(db, NULL, &it, err);
		if (rc < 0)
			return rc;
		for (lsm_iter_seek(it, seek, slen); rc == 0 &&
		     lsm_iter_valid(it); lsm_iter_next(it)) {
			k = lsm_iter_key(it, &klen);
			if (((const uint8_t *)k)[0] != CODEC_K_DENTRY)
				break;
			v = lsm_iter_value(it, &vlen);
			rc = rp_add(p, k, klen, v, vlen);
			memcpy(last, k, klen);
			llen = klen;
		}
		if (rc == 0)
			rc = lsm_iter_status(it, err);
		lsm_iter_free(it);
		if (rc == 0 || rc == -ENOMEM)
			return rc;
		next = skip_past(r, nr, last, llen, seek, &slen);
		if (!next)
			return rc; /* failed outside every range */
		memcpy(last, seek, slen);
		llen = slen;
	}
}

static int cmp_ent_ino(const void *a, const void *b)
{
	const struct rp_ent *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The entry naming directory INO (DIRS sorted by ino), or NULL. */
static const struct rp_ent *find_dir(const struct rp_ent *dirs, size_t n,
				     uint64_t ino)
{
	struct rp_ent key = { .ino = ino };

	return bsearch(&key, dirs, n, sizeof(*dirs), cmp_ent_ino);
}

/* "/a/b/NAME" for entry E, in p->path; NULL without memory. */
static const char *rp_path(struct rp *p, const struct rp_ent *dirs,
			   size_t nd, const struct rp_ent *e, size_t *len)
{
	const struct rp_ent *chain[256];
	size_t depth = 0, need = 0, o = 0;

	for (const struct rp_ent *c = e; c && depth < 256;) {
		chain[depth++] = c;
		need += c->nlen + 1;
		if (c->parent == CODEC_ROOT_INO)
			break;
		c = find_dir(dirs, nd, c->parent);
	}
	need += 24;
	if (need > p->pcap) {
		char *a = realloc(p->path, need);

		if (!a)
			return NULL;
		p->path = a;
		p->pcap = need;
	}
	if (chain[depth - 1]->parent != CODEC_ROOT_INO)
		o += (size_t)snprintf(p->path, 24, "#%llu",
				      (unsigned long long)
				      chain[depth - 1]->parent);
	while (depth--) {
		p->path[o++] = '/';
		memcpy(p->path + o, chain[depth]->name, chain[depth]->nlen);
		o += chain[depth]->nlen;
	}
	*len = o;
	return p->path;
}

static bool ent_in(const struct rp_ent *e, const struct ctl_range *r)
{
	uint8_t key[CODEC_DENTRY_KEY_MAX];
	size_t n = codec_dentry_key(key, e->parent, e->name, e->nlen);

	return key_in(r, key, n) || prefix_in(r, CODEC_K_INODE, e->ino) ||
	       prefix_in(r, CODEC_K_CHUNK, e->ino) ||
	       prefix_in(r, CODEC_K_XATTR, e->ino);
}

static int rp_report(struct rp *p, const struct ctl_range *r, size_t nr,
		     void (*fn)(void *ctx, size_t range, const char *path,
				size_t len),
		     void *ctx)
{
	struct rp_ent *dirs = malloc((p->n + 1) * sizeof(*dirs));
	size_t nd = 0, len;

	if (!dirs)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].type == (S_IFDIR >> 12))
			dirs[nd++] = p->e[i];
	qsort(dirs, nd, sizeof(*dirs), cmp_ent_ino);
	for (size_t i = 0; i < nr; i++) {
		for (size_t j = 0; j < p->n; j++) {
			const char *path;

			if (!ent_in(&p->e[j], &r[i]))
				continue;
			path = rp_path(p, dirs, nd, &p->e[j], &len);
			if (!path) {
				free(dirs);
				return -ENOMEM;
			}
			fn(ctx, i, path, len);
		}
	}
	free(dirs);
	return 0;
}

int ctl_range_paths(const char *dir, const struct ctl_range *r, size_t nr,
		    void (*fn)(void *ctx, size_t range, const char *path,
			       size_t len),
		    void *ctx, struct lsm_err *err)
{
	struct lsm_options o;
	struct lsm_db *db;
	struct rp p = { 0 };
	void *sb = NULL;
	size_t sblen;
	int rc;

	lsm_options_init(&o);
	o.read_only = true;
	o.create_if_missing = false;
	rc = lsm_open(dir, &o, &db, err);
	if (rc < 0)
		return rc;
	rc = lsm_get(db, NULL, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN, &sb,
		     &sblen, NULL);
	free(sb);
	if (rc == 0) {
		lsm_close(db, NULL);
		return 1;
	}
	rc = rp_scan(db, r, nr, &p, err);
	if (rc == 0)
		rc = rp_report(&p, r, nr, fn, ctx);
	if (rc == -ENOMEM)
		lsm_err_set(err, rc, "out of memory");
	for (size_t i = 0; i < p.n; i++)
		free(p.e[i].name);
	free(p.e);
	free(p.path);
	lsm_close(db, NULL);
	return rc;
}

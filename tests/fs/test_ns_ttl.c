/* test_ns_ttl.c - unit tests of expiring files and the capacity bound
 * (fs/ns_expire.c, fs/ns_cap.c, the codec's version-2 inode record and
 * expiry index key): the virtual xattrs, expiry hiding a file from
 * lookups and listings but not from what holds it open, the purge (keys
 * gone, lsmfs-ctl check clean), creation over an expired name, hard
 * links, default_ttl, rmdir of a directory of expired files, a frozen
 * view, and max_size with on_full=error and evict (LRU order). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "ns.h"
#include "ns_fsck.h"
#include "support.h"

#define CS 4096u

struct fx {
	struct tdir *d;
	struct lsm_db *db;
	struct ns *ns;
	struct ns_options no;
	struct ns_cred cred;
};

static void open_ns(struct fx *f)
{
	struct lsm_options o;
	struct lsm_err err = { 0 };
	int rc;

	lsm_options_init(&o);
	rc = lsm_open(tdir_root(f->d), &o, &f->db, &err);
	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	rc = ns_open(f->db, &f->no, &f->ns, &err);
	if (rc)
		fprintf(stderr, "ns_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
}

static void close_ns(struct fx *f)
{
	ns_close(f->ns);
	assert_int_equal(lsm_close(f->db, NULL), 0);
	f->ns = NULL;
	f->db = NULL;
}

static void reopen(struct fx *f)
{
	close_ns(f);
	open_ns(f);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->d = tdir_new();
	f->cred.uid = 1000;
	f->cred.gid = 1000;
	f->cred.umask = 022;
	ns_options_init(&f->no);
	f->no.chunk_size = CS;
	open_ns(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close_ns(f);
	tdir_free(f->d);
	free(f);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits until NS_NS (absolute, CLOCK_REALTIME) has passed. */
static void wait_until(uint64_t ns)
{
	while (ns_now_ns() <= ns)
		sleep_ms(5);
}

static uint64_t mkfile(struct fx *f, uint64_t dir, const char *name,
		       size_t len)
{
	struct ns_attr a;
	char *buf = malloc(len ? len : 1);

	memset(buf, name[0], len);
	assert_int_equal(ns_mknod(f->ns, dir, name, S_IFREG | 0644, 0,
				  &f->cred, NULL, &a, NULL), 0);
	if (len)
		assert_int_equal(ns_write(f->ns, a.ino, 0, buf, len, NULL), 0);
	free(buf);
	return a.ino;
}

/* Sets INO to expire MS milliseconds from now (absolute xattr); returns
 * the expiry. */
static uint64_t expire_in(struct fx *f, uint64_t ino, unsigned ms)
{
	uint64_t e = ns_now_ns() + (uint64_t)ms * 1000000ull;
	char v[48];

	snprintf(v, sizeof(v), "%llu.%09llu",
		 (unsigned long long)(e / 1000000000ull),
		 (unsigned long long)(e % 1000000000ull));
	assert_int_equal(ns_setxattr(f->ns, ino, NS_XATTR_EXPIRES, v,
				     strlen(v), 0, NULL), 0);
	return e;
}

static unsigned count_kind(struct fx *f, char kind)
{
	struct lsm_iter *it;
	uint8_t k = (uint8_t)kind;
	unsigned n = 0;

	assert_int_equal(lsm_iter_new(f->db, NULL, &it, NULL), 0);
	for (lsm_iter_seek(it, &k, 1); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t klen;
		const uint8_t *key = lsm_iter_key(it, &klen);

		if (key[0] != k)
			break;
		n++;
	}
	lsm_iter_free(it);
	return n;
}

static void check_clean(struct fx *f)
{
	struct ns_fsck_stats st;
	struct lsm_err err = { 0 };

	assert_int_equal(ns_fsck(f->db, NULL, &st, &err), 0);
	if (st.problems)
		fprintf(stderr, "fsck: %llu problems\n",
			(unsigned long long)st.problems);
	assert_int_equal(st.problems, 0);
}

static int count_entries(void *ctx, const struct ns_dirent *d)
{
	(void)d;
	(*(unsigned *)ctx)++;
	return 0;
}

static unsigned listed(struct fx *f, uint64_t dir)
{
	unsigned n = 0;

	assert_int_equal(ns_readdir(f->ns, dir, NULL, count_entries, &n, NULL),
			 0);
	return n;
}

/* ---- codec ---- */

static void test_codec_v2(void **state)
{
	struct codec_inode in = { .mode = S_IFREG | 0644, .nlink = 1,
				  .size = 5, .mtime_sec = 7 }, out;
	uint8_t v[CODEC_INODE_MAX_FIXED + 8], k1[CODEC_EXPIRY_KEY_LEN],
		k2[CODEC_EXPIRY_KEY_LEN];
	struct codec_super sb;
	const char *t;
	size_t n, tl;
	uint64_t e, ino;

	(void)state;
	n = codec_inode_encode(v, &in, NULL, 0);
	assert_int_equal(n, CODEC_INODE_FIXED);
	assert_int_equal(v[0], 1); /* no expiry: what older versions wrote */
	in.expire_ns = 1234567890123456789ull;
	n = codec_inode_encode(v, &in, "tgt", 3);
	assert_int_equal(n, CODEC_INODE_MAX_FIXED + 3);
	assert_int_equal(v[0], 2);
	assert_int_equal(codec_inode_decode(v, n, &out, &t, &tl), 0);
	assert_true(out.expire_ns == in.expire_ns);
	assert_int_equal(tl, 3);
	assert_memory_equal(t, "tgt", 3);
	assert_int_equal(out.size, 5);
	/* short, or an expiry of 0 in a version-2 record: not canonical */
	assert_int_equal(codec_inode_decode(v, CODEC_INODE_FIXED + 4, &out,
					    NULL, NULL), -EUCLEAN);
	memset(v + CODEC_INODE_FIXED, 0, 8);
	assert_int_equal(codec_inode_decode(v, n, &out, NULL, NULL), -EUCLEAN);
	v[0] = 3;
	assert_int_equal(codec_inode_decode(v, n, &out, NULL, NULL), -EUCLEAN);
	/* the index orders by expiry, then inode */
	codec_expiry_key(k1, 1000, 99);
	codec_expiry_key(k2, 1001, 16);
	assert_true(memcmp(k1, k2, sizeof(k1)) < 0);
	assert_int_equal(codec_parse_expiry_key(k2, sizeof(k2), &e, &ino), 0);
	assert_true(e == 1001 && ino == 16);
	assert_int_equal(codec_parse_expiry_key(k2, 9, &e, &ino), -EUCLEAN);
	/* superblock versions 1 and 2 decode, 3 does not */
	for (uint32_t ver = 1; ver <= 3; ver++) {
		struct codec_super s = { ver, CS, 4096 };
		uint8_t sv[CODEC_SUPER_LEN];

		codec_super_encode(sv, &s);
		assert_int_equal(codec_super_decode(sv, sizeof(sv), &sb),
				 ver <= 2 ? 0 : -EUCLEAN);
	}
}

/* ---- the xattrs ---- */

static uint32_t sb_version(struct fx *f)
{
	uint8_t v[CODEC_SUPER_LEN];
	struct codec_super sb;
	size_t n;

	assert_int_equal(lsm_get_buf(f->db, NULL, CODEC_SUPER_KEY,
				     CODEC_SUPER_KEY_LEN, v, sizeof(v), &n,
				     NULL), 1);
	assert_int_equal(codec_super_decode(v, n, &sb), 0);
	return sb.version;
}

static void test_xattrs(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mkfile(f, CODEC_ROOT_INO, "a", 10), e;
	struct ns_attr a, d;
	char buf[64];
	size_t len;

	assert_int_equal(sb_version(f), 1); /* no expiry yet */
	assert_int_equal(ns_getxattr(f->ns, ino, NS_XATTR_TTL, buf,
				     sizeof(buf), &len, NULL), -ENODATA);
	assert_int_equal(ns_setxattr(f->ns, ino, NS_XATTR_TTL, "100", 3, 0,
				     NULL), 0);
	assert_int_equal(sb_version(f), 2);
	assert_int_equal(ns_getxattr(f->ns, ino, NS_XATTR_TTL, buf,
				     sizeof(buf), &len, NULL), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "100", 3); /* rounded up */
	assert_int_equal(ns_getxattr(f->ns, ino, NS_XATTR_EXPIRES, buf,
				     sizeof(buf), &len, NULL), 0);
	buf[len] = '\0';
	e = strtoull(buf, NULL, 10);
	assert_true(e >= ns_now_ns() / 1000000000ull + 98 &&
		    e <= ns_now_ns() / 1000000000ull + 100);
	/* the size probe, a short buffer */
	assert_int_equal(ns_getxattr(f->ns, ino, NS_XATTR_TTL, NULL, 0, &len,
				     NULL), 0);
	assert_int_equal(len, 3);
	assert_int_equal(ns_getxattr(f->ns, ino, NS_XATTR_TTL, buf, 2, &len,
				     NULL), -ERANGE);
	/* CREATE over an expiry, junk, directories */
	assert_int_equal(ns_setxattr(f->ns, ino, NS_XATTR_TTL, "5", 1,
				     NS_XATTR_CREATE, NULL), -EEXIST);
	assert_int_equal(ns_setxattr(f->ns, ino, NS_XATTR_TTL, "1h", 2, 0,
				     NULL), -EINVAL);
	assert_int_equal(ns_setxattr(f->ns, ino, NS_XATTR_TTL, "", 0, 0,
				     NULL), -EINVAL);
	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, "dir", S_IFDIR | 0755,
				  0, &f->cred, NULL, &d, NULL), 0);
	assert_int_equal(ns_setxattr(f->ns, d.ino, NS_XATTR_TTL, "5", 1, 0,
				     NULL), -EPERM);
	/* a write keeps the expiry; it survives a reopen */
	assert_int_equal(ns_write(f->ns, ino, 0, "xyz", 3, NULL), 0);
	reopen(f);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(a.in.expire_ns > ns_now_ns());
	assert_int_equal(count_kind(f, CODEC_K_EXPIRY), 1);
	/* not a stored xattr: not listed */
	assert_int_equal(ns_listxattr(f->ns, ino, buf, sizeof(buf), &len,
				      NULL), 0);
	assert_int_equal(len, 0);
	/* removing (or 0) clears it, and its index key */
	assert_int_equal(ns_removexattr(f->ns, ino, NS_XATTR_EXPIRES, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(a.in.expire_ns == 0);
	assert_int_equal(count_kind(f, CODEC_K_EXPIRY), 0);
	assert_int_equal(ns_setxattr(f->ns, ino, NS_XATTR_TTL, "0", 1,
				     NS_XATTR_REPLACE, NULL), -ENODATA);
	check_clean(f);
}

/* ---- expiry at the edge ---- */

static void test_expiry_hides(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mkfile(f, CODEC_ROOT_INO, "a", 5000), e;
	struct ns_attr a;
	char buf[16];
	size_t got;

	mkfile(f, CODEC_ROOT_INO, "keep", 1);
	e = expire_in(f, ino, 150);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &a, NULL), 0);
	assert_int_equal(listed(f, CODEC_ROOT_INO), 2);
	ns_open_handle(f->ns, ino, NULL); /* an open descriptor */
	wait_until(e);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &a, NULL),
			 -ENOENT);
	assert_int_equal(ns_resolve(f->ns, "a", &a, NULL), -ENOENT);
	assert_int_equal(listed(f, CODEC_ROOT_INO), 1);
	/* what readdirplus uses: every entry, and a check per entry */
	unsigned all = 0;
	struct ns_dirent de = { ino, S_IFREG, "a", 1 };

	assert_int_equal(ns_readdir_flags(f->ns, CODEC_ROOT_INO, NULL,
					  NS_READDIR_ALL, count_entries, &all,
					  NULL), 0);
	assert_int_equal(all, 2);
	assert_true(ns_entry_expired(f->ns, &de));
	/* ... but what holds it open still reads it, before and after the
	 * purge, which leaves its data until the last release */
	assert_int_equal(ns_read(f->ns, ino, 0, 4, buf, &got, NULL), 0);
	assert_int_equal(got, 4);
	assert_memory_equal(buf, "aaaa", 4);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(ns_is_expired(f->ns, &a.in));
	assert_true(ns_life_cap(&a, 60) == 0);
	unsigned done;
	uint64_t next;

	assert_int_equal(ns_expire_run(f->ns, 100, NULL, NULL, &done, &next,
				       NULL), 0);
	assert_int_equal(done, 1);
	assert_int_equal(ns_read(f->ns, ino, 0, 4, buf, &got, NULL), 0);
	assert_memory_equal(buf, "aaaa", 4);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_int_equal(a.in.nlink, 0);
	check_clean(f); /* an orphan, as after an unlink */
	assert_int_equal(ns_close_handle(f->ns, ino, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), -ENOENT);
	assert_int_equal(count_kind(f, CODEC_K_CHUNK), 1); /* keep's */
	assert_int_equal(count_kind(f, CODEC_K_EXPIRY), 0);
	assert_int_equal(count_kind(f, CODEC_K_ORPHAN), 0);
	check_clean(f);
}

static void test_purge(void **state)
{
	struct fx *f = *state;
	struct ns_counters c;
	struct ns_attr a;
	uint64_t ino[3], e = 0, next;
	unsigned done;
	char name[8];

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ino[i] = mkfile(f, CODEC_ROOT_INO, name, 3 * CS);
		e = expire_in(f, ino[i], i == 2 ? 100000 : 100);
	}
	/* a hard link shares the expiry: both names go */
	assert_int_equal(ns_link(f->ns, ino[0], CODEC_ROOT_INO, "link", &a,
				 NULL), 0);
	assert_int_equal(ns_expire_run(f->ns, 100, NULL, NULL, &done, &next,
				       NULL), 0);
	assert_int_equal(done, 0); /* nothing due yet */
	assert_true(next > 0 && next <= ns_now_ns() + 100000000ull);
	wait_until(next);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "link", &a, NULL),
			 -ENOENT);
	assert_int_equal(ns_expire_run(f->ns, 100, NULL, NULL, &done, &next,
				       NULL), 0);
	assert_int_equal(done, 2);
	assert_true(next == e); /* f2's */
	ns_counters(f->ns, &c);
	assert_int_equal(c.expired_files, 2);
	assert_int_equal(c.expired_bytes, 6 * CS);
	assert_int_equal(count_kind(f, CODEC_K_CHUNK), 3);
	assert_int_equal(count_kind(f, CODEC_K_EXPIRY), 1);
	assert_int_equal(count_kind(f, CODEC_K_DENTRY), 1);
	assert_int_equal(ns_getattr(f->ns, ino[0], &a, NULL), -ENOENT);
	check_clean(f);
	reopen(f); /* the rest survives a restart */
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "f2", &a, NULL), 0);
	assert_true(a.in.expire_ns == e);
	check_clean(f);
}

static void test_create_over_expired(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mkfile(f, CODEC_ROOT_INO, "a", 100), e;
	struct ns_attr a, d;

	e = expire_in(f, ino, 50);
	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, "a", S_IFREG | 0644,
				  0, &f->cred, NULL, &a, NULL), -EEXIST);
	wait_until(e);
	/* the expired file is purged first: a new file, no expiry */
	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, "a", S_IFREG | 0644,
				  0, &f->cred, NULL, &a, NULL), 0);
	assert_true(a.ino != ino);
	assert_true(a.in.expire_ns == 0);
	assert_int_equal(ns_getattr(f->ns, ino, &d, NULL), -ENOENT);
	/* a link onto an expired name too */
	e = expire_in(f, a.ino, 50);
	ino = mkfile(f, CODEC_ROOT_INO, "b", 1);
	wait_until(e);
	assert_int_equal(ns_link(f->ns, ino, CODEC_ROOT_INO, "a", &d, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &d, NULL), 0);
	assert_true(d.ino == ino);
	/* rmdir of a directory holding only expired files */
	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, "dir", S_IFDIR | 0755,
				  0, &f->cred, NULL, &d, NULL), 0);
	ino = mkfile(f, d.ino, "x", 10);
	e = expire_in(f, ino, 50);
	mkfile(f, d.ino, "y", 10);
	wait_until(e);
	assert_int_equal(ns_rmdir(f->ns, CODEC_ROOT_INO, "dir", NULL),
			 -ENOTEMPTY); /* y is alive */
	assert_int_equal(ns_unlink(f->ns, d.ino, "y", NULL), 0);
	assert_int_equal(ns_rmdir(f->ns, CODEC_ROOT_INO, "dir", NULL), 0);
	assert_int_equal(count_kind(f, CODEC_K_EXPIRY), 0);
	check_clean(f);
}

static void test_default_ttl_and_frozen(void **state)
{
	struct fx *f = *state;
	struct ns_attr a;
	uint64_t ino, before = ns_now_ns();

	f->no.default_ttl = 1000;
	reopen(f);
	ino = mkfile(f, CODEC_ROOT_INO, "a", 10);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(a.in.expire_ns >= before + 1000000000000ull &&
		    a.in.expire_ns <= ns_now_ns() + 1000000000000ull);
	assert_int_equal(sb_version(f), 2);
	/* directories never expire */
	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, "d", S_IFDIR | 0755,
				  0, &f->cred, NULL, &a, NULL), 0);
	assert_true(a.in.expire_ns == 0);
	/* a frozen view shows an expired file */
	f->no.default_ttl = 0;
	reopen(f);
	expire_in(f, ino, 1);
	sleep_ms(5);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &a, NULL),
			 -ENOENT);
	f->no.frozen = true;
	reopen(f);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &a, NULL), 0);
	assert_int_equal(listed(f, CODEC_ROOT_INO), 2);
	/* frozen at an instant before the expiry: there for good */
	f->no.frozen_ns = a.in.expire_ns - 1;
	reopen(f);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &a, NULL), 0);
	assert_int_equal(listed(f, CODEC_ROOT_INO), 2);
	/* frozen at or after it (a snapshot taken once it had expired, the
	 * purge not run yet): absent, as in the live tree then */
	f->no.frozen_ns = a.in.expire_ns;
	reopen(f);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &a, NULL),
			 -ENOENT);
	assert_int_equal(listed(f, CODEC_ROOT_INO), 1);
	f->no.frozen = false;
	f->no.frozen_ns = 0;
	reopen(f);
	check_clean(f);
}

/* default_ttl files: the index key's name hint settles the plain file;
 * a renamed one and a hard-linked one need the scan. */
/* Files a, b and c made under -o default_ttl=TTL (their index keys
 * remember their names), then b renamed to b2 and a linked as a2 (both
 * hints no longer enough), then keep, with no expiry. */
static void hint_cases(struct fx *f, unsigned ttl)
{
	struct ns_attr a;
	uint64_t ia;

	f->no.default_ttl = ttl;
	reopen(f);
	ia = mkfile(f, CODEC_ROOT_INO, "a", 100);
	mkfile(f, CODEC_ROOT_INO, "b", 100);
	mkfile(f, CODEC_ROOT_INO, "c", 100);
	assert_int_equal(ns_rename(f->ns, CODEC_ROOT_INO, "b", CODEC_ROOT_INO,
				   "b2", 0, NULL), 0);
	assert_int_equal(ns_link(f->ns, ia, CODEC_ROOT_INO, "a2", &a, NULL),
			 0);
	f->no.default_ttl = 0;
	reopen(f);
	mkfile(f, CODEC_ROOT_INO, "keep", 10);
}

static void test_purge_hints(void **state)
{
	struct fx *f = *state;
	struct ns_attr a;
	uint64_t next;
	unsigned done;

	hint_cases(f, 1);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "c", &a, NULL), 0);
	wait_until(a.in.expire_ns); /* c was made last */
	assert_int_equal(ns_expire_run(f->ns, 100, NULL, NULL, &done, &next,
				       NULL), 0);
	assert_int_equal(done, 3);
	assert_true(next == 0);
	assert_int_equal(count_kind(f, CODEC_K_DENTRY), 1);
	assert_int_equal(count_kind(f, CODEC_K_EXPIRY), 0);
	assert_int_equal(count_kind(f, CODEC_K_INODE), 2); /* root, keep */
	check_clean(f);
}

/* What ns_expire_names told: names in order, "name@parent". */
struct told {
	unsigned n;
	char names[8][64];
};

static void on_told(void *ctx, int why, uint64_t parent, uint64_t ino,
		    const char *name, size_t nlen)
{
	struct told *t = ctx;

	(void)ino;
	assert_int_equal(why, 0);
	if (t->n < 8)
		snprintf(t->names[t->n], sizeof(t->names[0]), "%.*s@%llu",
			 (int)nlen, name, (unsigned long long)parent);
	t->n++;
}

static bool told_has(const struct told *t, const char *name)
{
	char want[64];

	snprintf(want, sizeof(want), "%s@%llu", name,
		 (unsigned long long)CODEC_ROOT_INO);
	for (unsigned i = 0; i < t->n && i < 8; i++)
		if (!strcmp(t->names[i], want))
			return true;
	return false;
}

/* ns_expire_names: every name of the files expiring in the window (the
 * hint when it is the only name and still right, else found by a scan),
 * none of the others; nothing deleted; MAX cuts a pass short. */
static void test_expire_names(void **state)
{
	struct fx *f = *state;
	struct ns_attr a;
	struct told t = { 0 };
	uint64_t ilate, now, covered, next, exp_a;

	hint_cases(f, 100);
	ilate = mkfile(f, CODEC_ROOT_INO, "late", 10);
	now = ns_now_ns();
	assert_int_equal(ns_set_expiry(f->ns, ilate, now + 1000000000000ull,
				       NULL), 0);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a", &a, NULL), 0);
	exp_a = a.in.expire_ns;

	/* a window before them all: nothing, and the first expiry next */
	assert_int_equal(ns_expire_names(f->ns, now, now + 1000000000ull, 100,
					 on_told, &t, &covered, &next, NULL),
			 0);
	assert_int_equal(t.n, 0);
	assert_true(covered == now + 1000000000ull);
	assert_true(next == exp_a);

	/* a window over the three: their four names, not keep's or late's */
	assert_int_equal(ns_expire_names(f->ns, now, now + 200000000000ull,
					 100, on_told, &t, &covered, &next,
					 NULL), 0);
	assert_int_equal(t.n, 4);
	assert_true(told_has(&t, "a") && told_has(&t, "a2"));
	assert_true(told_has(&t, "b2"));
	assert_true(told_has(&t, "c"));
	assert_true(covered == now + 200000000000ull);
	assert_true(next == now + 1000000000000ull);

	/* MAX 1: one file per pass; going on from COVERED tells the rest */
	memset(&t, 0, sizeof(t));
	assert_int_equal(ns_expire_names(f->ns, now, now + 200000000000ull, 1,
					 on_told, &t, &covered, &next, NULL),
			 0);
	assert_int_equal(t.n, 2); /* a and a2: one file */
	assert_true(told_has(&t, "a") && told_has(&t, "a2"));
	assert_true(covered < now + 200000000000ull);
	for (int pass = 0; pass < 4 && covered < now + 200000000000ull;
	     pass++)
		assert_int_equal(ns_expire_names(f->ns, covered,
						 now + 200000000000ull, 1,
						 on_told, &t, &covered, &next,
						 NULL), 0);
	assert_true(covered == now + 200000000000ull);
	assert_int_equal(t.n, 4);
	assert_true(told_has(&t, "b2") && told_has(&t, "c"));

	/* nothing was deleted */
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "a2", &a, NULL), 0);
	assert_int_equal(count_kind(f, CODEC_K_EXPIRY), 4);
	check_clean(f);
}

struct fsck_got {
	unsigned n;
	char msgs[8][200];
	enum ns_fsck_kind kinds[8];
};

static void on_problem(void *ctx, const struct ns_fsck_problem *p)
{
	struct fsck_got *g = ctx;

	if (g->n < 8) {
		snprintf(g->msgs[g->n], sizeof(g->msgs[0]), "%s", p->msg);
		g->kinds[g->n] = p->kind;
	}
	g->n++;
}

/* lsmfs-ctl check finds N problems, one of KIND saying SUB. */
static void fsck_expect(struct fx *f, unsigned n, enum ns_fsck_kind kind,
			const char *sub)
{
	bool found = false;

	struct ns_fsck_options o = { .report = on_problem };
	struct ns_fsck_stats st;
	struct fsck_got g = { 0 };

	o.ctx = &g;
	assert_int_equal(ns_fsck(f->db, &o, &st, NULL), 0);
	for (unsigned i = 0; i < g.n && i < 8; i++)
		fprintf(stderr, "  fsck: %s\n", g.msgs[i]);
	assert_int_equal(g.n, n);
	for (unsigned i = 0; i < g.n && i < 8; i++)
		found |= g.kinds[i] == kind && strstr(g.msgs[i], sub);
	assert_true(found);
}

/* lsmfs-ctl check: the expiry index against the records. */
static void test_fsck_expiry(void **state)
{
	struct fx *f = *state;
	uint8_t k[CODEC_EXPIRY_KEY_LEN], sb[CODEC_SUPER_LEN];
	struct codec_super s;
	struct ns_attr a;
	uint64_t ino = mkfile(f, CODEC_ROOT_INO, "a", 10), e;

	e = expire_in(f, ino, 100000);
	check_clean(f);
	/* a record with an expiry but no key: never purged */
	assert_int_equal(lsm_delete(f->db, k, codec_expiry_key(k, e, ino),
				    NULL), 0);
	fsck_expect(f, 1, NS_FSCK_INODE, "no expiry index key");
	/* a key that says another expiry */
	assert_int_equal(lsm_put(f->db, k, codec_expiry_key(k, e + 1, ino), "",
				 0, NULL), 0);
	fsck_expect(f, 2, NS_FSCK_KEY, "says"); /* and the missing key */
	assert_int_equal(lsm_delete(f->db, k, codec_expiry_key(k, e + 1, ino),
				    NULL), 0);
	assert_int_equal(lsm_put(f->db, k, codec_expiry_key(k, e, ino), "", 0,
				 NULL), 0);
	check_clean(f);
	/* a key of no inode */
	assert_int_equal(lsm_put(f->db, k, codec_expiry_key(k, e, 999), "", 0,
				 NULL), 0);
	fsck_expect(f, 1, NS_FSCK_KEY, "no record");
	assert_int_equal(lsm_delete(f->db, k, codec_expiry_key(k, e, 999),
				    NULL), 0);
	/* expiries in a version-1 store */
	s.version = CODEC_FORMAT_VERSION;
	s.chunk_size = CS;
	s.ino_limit = 1u << 20;
	codec_super_encode(sb, &s);
	assert_int_equal(lsm_put(f->db, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN,
				 sb, sizeof(sb), NULL), 0);
	fsck_expect(f, 1, NS_FSCK_SUPER, "format version 1");
	(void)a;
}

/* ---- capacity ---- */

static void test_cap_error(void **state)
{
	struct fx *f = *state;
	char buf[40000];
	struct ns_counters c;
	uint64_t a, b;
	struct lsm_err err = { 0 };

	f->no.max_size = 64 * 1024;
	reopen(f);
	memset(buf, 'q', sizeof(buf));
	a = mkfile(f, CODEC_ROOT_INO, "a", sizeof(buf));
	b = mkfile(f, CODEC_ROOT_INO, "b", 0);
	assert_int_equal(ns_write(f->ns, b, 0, buf, sizeof(buf), &err),
			 -ENOSPC);
	assert_non_null(strstr(err.msg, "max_size"));
	assert_int_equal(ns_write(f->ns, b, 0, buf, 20000, NULL), 0);
	/* an overwrite in place needs no room */
	assert_int_equal(ns_write(f->ns, a, 0, buf, sizeof(buf), NULL), 0);
	ns_counters(f->ns, &c);
	assert_int_equal(c.live_bytes, 60000);
	assert_int_equal(c.enospc, 1);
	assert_true(c.max_size == 64 * 1024);
	/* the count survives a reopen; a delete gives room back */
	reopen(f);
	ns_counters(f->ns, &c);
	assert_int_equal(c.live_bytes, 60000);
	assert_int_equal(ns_unlink(f->ns, CODEC_ROOT_INO, "a", NULL), 0);
	ns_counters(f->ns, &c);
	assert_int_equal(c.live_bytes, 20000);
	assert_int_equal(ns_write(f->ns, b, 20000, buf, sizeof(buf), NULL), 0);
	/* a truncation too */
	struct ns_setattr s = { .valid = NS_SET_SIZE, .size = 100 };

	assert_int_equal(ns_setattr(f->ns, b, &s, NULL, NULL), 0);
	ns_counters(f->ns, &c);
	assert_int_equal(c.live_bytes, 100);
	check_clean(f);
}

static void test_cap_evict_lru(void **state)
{
	struct fx *f = *state;
	/* read in this order: f3 least recently, f5 most */
	static const int order[8] = { 3, 0, 6, 1, 7, 2, 4, 5 };
	uint64_t ino[8], big;
	struct ns_counters c;
	struct ns_attr a;
	char name[8], buf[10];
	size_t got;
	char *data = calloc(1, 25000);

	f->no.max_size = 100000;
	f->no.on_full_evict = true;
	reopen(f);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ino[i] = mkfile(f, CODEC_ROOT_INO, name, 10000);
	}
	sleep_ms(20);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(ns_read(f->ns, ino[order[i]], 0, 10, buf,
					 &got, NULL), 0);
		sleep_ms(20);
	}
	/* f3, least recently read, is open: never evicted */
	ns_open_handle(f->ns, ino[3], NULL);
	/* f0 is known to the kernel (a lookup, no descriptor): evicted, it
	 * stays an orphan marked gone (a version-2 record), which needs the
	 * superblock raised first */
	ns_open_ref(f->ns, ino[0]);
	assert_int_equal(sb_version(f), 1);
	big = mkfile(f, CODEC_ROOT_INO, "big", 0);
	/* 80000 + 25000 > 100000: the two next least recently read go */
	assert_int_equal(ns_write(f->ns, big, 0, data, 25000, NULL), 0);
	ns_counters(f->ns, &c);
	assert_int_equal(c.evicted_files, 1);
	assert_int_equal(sb_version(f), 2);
	assert_int_equal(ns_unref(f->ns, ino[0], 1, NULL), 0);
	assert_int_equal(c.live_bytes, 95000);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "f0", &a, NULL),
			 -ENOENT);
	for (int i = 2; i < 8; i++) {
		snprintf(name, sizeof(name), "f%d", order[i]);
		assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, name, &a,
					   NULL), 0);
	}
	assert_int_equal(ns_write(f->ns, big, 25000, data, 25000, NULL), 0);
	ns_counters(f->ns, &c);
	assert_int_equal(c.evicted_files, 3);
	assert_true(c.live_bytes <= 100000);
	/* f6 and f1, next in the order */
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "f6", &a, NULL),
			 -ENOENT);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "f1", &a, NULL),
			 -ENOENT);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "f3", &a, NULL), 0);
	assert_int_equal(ns_close_handle(f->ns, ino[3], NULL), 0);
	/* nothing left to evict but what is written: ENOSPC */
	ns_open_handle(f->ns, big, NULL);
	free(data);
	data = calloc(1, 200000);
	assert_int_equal(ns_write(f->ns, big, 0, data, 200000, NULL), -ENOSPC);
	ns_close_handle(f->ns, big, NULL);
	free(data);
	check_clean(f);
}

/* The recency clock is stored lazily as the atime, at the last close. */
static void test_cap_lazy_atime(void **state)
{
	struct fx *f = *state;
	struct ns_setattr s = { .valid = NS_SET_ATIME };
	struct ns_attr a;
	uint64_t ino;
	int64_t now;

	f->no.max_size = 1 << 20;
	f->no.on_full_evict = true;
	reopen(f);
	ino = mkfile(f, CODEC_ROOT_INO, "a", 10);
	now = (int64_t)(ns_now_ns() / 1000000000ull);
	/* a use within a minute of the stored atime writes nothing */
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	ns_open_handle(f->ns, ino, &a.in);
	assert_int_equal(ns_close_handle(f->ns, ino, NULL), 0);
	s.atime.tv_sec = now - 30;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	ns_open_handle(f->ns, ino, &a.in);
	assert_int_equal(ns_close_handle(f->ns, ino, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(a.in.atime_sec == now - 30);
	/* an hour old: the use is stored */
	s.atime.tv_sec = now - 3600;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	ns_open_handle(f->ns, ino, &a.in);
	assert_int_equal(ns_close_handle(f->ns, ino, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(a.in.atime_sec >= now - 1);
	check_clean(f);
}

/* What the kernel may cache of an expiring file ends NS_CACHE_MARGIN_NS
 * before its expiry (a reply the kernel takes late must not show it past
 * that instant); a file that never expires keeps the cap. */
static void test_life_cap_margin(void **state)
{
	struct ns_attr a;
	double life;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_true(ns_life_cap(&a, 60) == 60);
	a.in.expire_ns = ns_now_ns() + 10000000000ull;
	life = ns_life_cap(&a, 60);
	assert_true(life <= 10.0 - NS_CACHE_MARGIN_NS / 1e9);
	assert_true(life > 9.0 - NS_CACHE_MARGIN_NS / 1e9);
	assert_true(ns_life_cap(&a, 2) == 2);
	a.in.expire_ns = ns_now_ns() + NS_CACHE_MARGIN_NS / 2;
	assert_true(ns_life_cap(&a, 60) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_v2),
		cmocka_unit_test(test_life_cap_margin),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_hides, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_over_expired, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expire_names, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_purge_hints, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fsck_expiry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_default_ttl_and_frozen,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cap_evict_lru, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cap_lazy_atime, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

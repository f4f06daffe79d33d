/* test_fsck.c - the filesystem check (fs/ns_fsck.h): a store built through
 * the namespace library with every kind of object reports nothing; then
 * each test damages it with raw engine writes of codec keys (as a bug or
 * a lost write would) and checks that the damage is reported, with the
 * right kind, inode and path. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ns.h"
#include "ns_fsck.h"
#include "support.h"

#define CS 4096u
#define MAX_GOT 64

struct fx {
	struct tdir *d;
	struct lsm_db *db;
	struct ns *ns;
	struct ns_cred cred;
	uint64_t orphan; /* an unlinked inode still open: listed */
};

/* What a check reported. */
struct got {
	unsigned n;
	uint64_t progress_calls;
	struct {
		enum ns_fsck_kind kind;
		uint64_t ino;
		bool has_path;
		char path[512];
		char msg[256];
	} p[MAX_GOT];
	struct ns_fsck_stats st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lsm_options o;
	struct ns_options no;
	struct lsm_err err = { 0 };

	assert_non_null(f);
	f->d = tdir_new();
	f->cred = (struct ns_cred){ 1000, 1000, 022 };
	lsm_options_init(&o);
	assert_int_equal(lsm_open(tdir_root(f->d), &o, &f->db, &err), 0);
	ns_options_init(&no);
	no.chunk_size = CS;
	assert_int_equal(ns_open(f->db, &no, &f->ns, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ns_close(f->ns);
	assert_int_equal(lsm_close(f->db, NULL), 0);
	tdir_free(f->d);
	free(f);
	return 0;
}

static uint64_t ino_of(struct fx *f, const char *path)
{
	struct ns_attr a;
	struct lsm_err err = { 0 };
	int rc = ns_resolve(f->ns, path, &a, &err);

	if (rc)
		fprintf(stderr, "resolve %s: %s\n", path, err.msg);
	assert_int_equal(rc, 0);
	return a.ino;
}

static uint64_t mk(struct fx *f, const char *parent, const char *name,
		   uint32_t mode)
{
	struct ns_attr a;
	uint64_t dir = parent ? ino_of(f, parent) : 1;

	assert_int_equal(ns_mknod(f->ns, dir, name, mode, 0, &f->cred, NULL,
				  &a, NULL), 0);
	return a.ino;
}

static void put(struct fx *f, const char *path, const char *data,
		size_t len)
{
	assert_int_equal(ns_put_path(f->ns, path, data, len, &f->cred, NULL),
			 0);
}

/* A store with every kind of object and history: nested directories,
 * multi-chunk, sparse, truncated and punched files, a hard link, a
 * symlink, a fifo, xattrs, a renamed directory, a removed one, and an
 * unlinked file still open (on the orphan list). */
static void populate(struct fx *f)
{
	static char big[3 * CS + 100];
	struct ns_setattr sa = { .valid = NS_SET_SIZE, .size = CS + 10 };
	uint64_t s, e;

	memset(big, 'b', sizeof(big));
	put(f, "a/b/c", "hello", 5);
	put(f, "f", "12345", 5);
	put(f, "a/d/big", big, sizeof(big));
	put(f, "a/d/cut", big, sizeof(big));
	assert_int_equal(ns_setattr(f->ns, ino_of(f, "a/d/cut"), &sa, NULL,
				    NULL), 0);
	assert_int_equal(ns_fallocate(f->ns, ino_of(f, "a/d/big"),
				      FALLOC_FL_PUNCH_HOLE |
				      FALLOC_FL_KEEP_SIZE, 0, CS + 1, NULL),
			 0);
	s = mk(f, NULL, "sparse", S_IFREG | 0644);
	assert_int_equal(ns_write(f->ns, s, 10 * CS + 3, "xyz", 3, NULL), 0);
	assert_int_equal(ns_link(f->ns, ino_of(f, "a/b/c"), ino_of(f, "a"),
				 "hl", NULL, NULL), 0);
	assert_int_equal(ns_mknod(f->ns, 1, "l", 0, 0, &f->cred, "a/b/c",
				  NULL, NULL), 0);
	mk(f, NULL, "fifo", S_IFIFO | 0644);
	assert_int_equal(ns_setxattr(f->ns, ino_of(f, "a/b/c"), "user.k",
				     "v", 1, 0, NULL), 0);
	e = mk(f, NULL, "e", S_IFDIR | 0755);
	assert_int_equal(ns_rename(f->ns, ino_of(f, "a"), "d", e, "d2", 0,
				   NULL), 0);
	mk(f, "e", "gone", S_IFDIR | 0755);
	assert_int_equal(ns_rmdir(f->ns, e, "gone", NULL), 0);
	f->orphan = mk(f, NULL, "o", S_IFREG | 0644);
	assert_int_equal(ns_write(f->ns, f->orphan, 0, "data", 4, NULL), 0);
	ns_open_ref(f->ns, f->orphan);
	assert_int_equal(ns_unlink(f->ns, 1, "o", NULL), 0);
}

static void collect(void *ctx, const struct ns_fsck_problem *p)
{
	struct got *g = ctx;

	fprintf(stderr, "  fsck: %s ino %llu %.*s: %s\n",
		ns_fsck_kind_name(p->kind), (unsigned long long)p->ino,
		p->path ? (int)p->path_len : 6, p->path ? p->path : "(none)",
		p->msg);
	assert_true(g->n < MAX_GOT);
	g->p[g->n].kind = p->kind;
	g->p[g->n].ino = p->ino;
	g->p[g->n].has_path = p->path != NULL;
	if (p->path)
		snprintf(g->p[g->n].path, sizeof(g->p[0].path), "%.*s",
			 (int)p->path_len, p->path);
	snprintf(g->p[g->n].msg, sizeof(g->p[0].msg), "%s", p->msg);
	g->n++;
}

static void on_progress(void *ctx, const char *phase, uint64_t keys)
{
	struct got *g = ctx;

	assert_non_null(phase);
	assert_true(keys >= NS_FSCK_PROGRESS_KEYS);
	g->progress_calls++;
}

static void check(struct fx *f, struct got *g)
{
	struct ns_fsck_options o;
	struct lsm_err err = { 0 };
	int rc;

	memset(g, 0, sizeof(*g));
	ns_fsck_options_init(&o);
	o.report = collect;
	o.progress = on_progress;
	o.ctx = g;
	rc = ns_fsck(f->db, &o, &g->st, &err);
	if (rc)
		fprintf(stderr, "ns_fsck: %s\n", err.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(g->st.problems, g->n);
}

/* Asserts a problem of KIND about INO (0: any) with PATH (NULL: any,
 * "": none) whose message holds SUB. */
static void expect(const struct got *g, enum ns_fsck_kind kind, uint64_t ino,
		   const char *path, const char *sub)
{
	for (unsigned i = 0; i < g->n; i++) {
		if (g->p[i].kind != kind || (ino && g->p[i].ino != ino) ||
		    !strstr(g->p[i].msg, sub))
			continue;
		if (!path || (!*path && !g->p[i].has_path) ||
		    (*path && g->p[i].has_path && !strcmp(path, g->p[i].path)))
			return;
	}
	fail_msg("no %s problem about inode %llu at %s saying '%s'",
		 ns_fsck_kind_name(kind), (unsigned long long)ino,
		 path ? path : "any path", sub);
}

/* ---- raw damage: engine writes of codec keys ---- */

static void raw_put(struct fx *f, const void *k, size_t klen,
		    const void *v, size_t vlen)
{
	assert_int_equal(lsm_put(f->db, k, klen, v, vlen, NULL), 0);
}

static void raw_del(struct fx *f, const void *k, size_t klen)
{
	assert_int_equal(lsm_delete(f->db, k, klen, NULL), 0);
}

static void raw_inode(struct fx *f, uint64_t ino, const struct codec_inode *in)
{
	uint8_t k[CODEC_INO_KEY_LEN], v[CODEC_INODE_FIXED];

	codec_inode_key(k, ino);
	raw_put(f, k, sizeof(k), v, codec_inode_encode(v, in, NULL, 0));
}

static struct codec_inode get_inode(struct fx *f, uint64_t ino)
{
	struct ns_attr a;

	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	return a.in;
}

static void raw_entry(struct fx *f, uint64_t dir, const char *name,
		      uint64_t ino, uint32_t mode)
{
	uint8_t k[CODEC_DENTRY_KEY_MAX], v[CODEC_DENTRY_LEN];
	size_t klen = codec_dentry_key(k, dir, name, strlen(name));

	codec_dentry_encode(v, ino, mode);
	raw_put(f, k, klen, v, sizeof(v));
}

static void raw_unentry(struct fx *f, uint64_t dir, const char *name)
{
	uint8_t k[CODEC_DENTRY_KEY_MAX];

	raw_del(f, k, codec_dentry_key(k, dir, name, strlen(name)));
}

static void raw_super(struct fx *f, uint32_t version, uint64_t limit)
{
	struct codec_super sb = { version, CS, limit };
	uint8_t v[CODEC_SUPER_LEN];

	codec_super_encode(v, &sb);
	raw_put(f, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN, v, sizeof(v));
}

/* ---- tests ---- */

static void test_clean(void **state)
{
	struct fx *f = *state;
	struct got g;

	populate(f);
	check(f, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.st.orphans, 1);
	assert_int_equal(g.st.dirs, 5);     /* / a a/b e e/d2 */
	assert_int_equal(g.st.inodes, 13);  /* and c f big cut sparse l
	                                     * fifo o */
	assert_int_equal(g.st.entries, 12); /* the same but / and o, + hl */
	assert_int_equal(g.st.chunks, 9);   /* c f big:3 cut:2 sparse o */
	assert_int_equal(g.st.xattrs, 1);
	/* Flushed to tables and read back: the same. */
	assert_int_equal(lsm_flush(f->db, NULL), 0);
	check(f, &g);
	assert_int_equal(g.n, 0);
}

static void test_empty_store(void **state)
{
	struct fx *f = *state;
	struct tdir *d = tdir_new();
	struct lsm_options o;
	struct lsm_db *db;
	struct ns_fsck_stats st;

	(void)f;
	lsm_options_init(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_int_equal(ns_fsck(db, NULL, &st, NULL), 0);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.inodes, 0);
	/* Engine keys but no superblock: not a filesystem. */
	assert_int_equal(lsm_put(db, "key1", 4, "v", 1, NULL), 0);
	assert_int_equal(ns_fsck(db, NULL, &st, NULL), 0);
	assert_int_equal(st.by_kind[NS_FSCK_SUPER], 1);
	assert_int_equal(st.by_kind[NS_FSCK_KEY], 1);
	assert_int_equal(lsm_close(db, NULL), 0);
	tdir_free(d);
}

static void test_missing_inode(void **state)
{
	struct fx *f = *state;
	uint8_t k[CODEC_INO_KEY_LEN];
	uint64_t c;
	struct got g;

	populate(f);
	c = ino_of(f, "a/b/c");
	raw_del(f, k, codec_inode_key(k, c));
	check(f, &g);
	expect(&g, NS_FSCK_ENTRY, c, "/a/b/c", "no inode record");
	expect(&g, NS_FSCK_ENTRY, c, "/a/hl", "no inode record");
	/* Named by the first entry found that names the inode. */
	expect(&g, NS_FSCK_CHUNK, c, "/a/hl", "1 data chunk, but no inode "
	       "record");
	expect(&g, NS_FSCK_XATTR, c, "/a/hl", "no inode record");
	assert_int_equal(g.n, 4);
}

static void test_dangling_chunk_and_xattr(void **state)
{
	struct fx *f = *state;
	uint8_t k[CODEC_XATTR_KEY_MAX];
	struct got g;

	populate(f);
	raw_put(f, k, codec_chunk_key(k, 999, 0), "x", 1);
	raw_put(f, k, codec_chunk_key(k, 999, 7), "y", 1);
	raw_put(f, k, codec_xattr_key(k, 777, "user.a", 6), "v", 1);
	raw_put(f, k, codec_orphan_key(k, 555), "", 0);
	check(f, &g);
	expect(&g, NS_FSCK_CHUNK, 999, "", "2 data chunks, but no inode");
	expect(&g, NS_FSCK_XATTR, 777, "", "no inode record");
	expect(&g, NS_FSCK_ORPHAN, 555, "", "orphan marker, but no inode");
	assert_int_equal(g.n, 3);
}

static void test_chunk_past_size(void **state)
{
	struct fx *f = *state;
	uint8_t k[CODEC_CHUNK_KEY_LEN];
	char big[CS + 1];
	uint64_t ino;
	struct got g;

	populate(f);
	ino = ino_of(f, "f");
	raw_put(f, k, codec_chunk_key(k, ino, 3), "zz", 2);
	memset(big, 'q', sizeof(big));
	raw_put(f, k, codec_chunk_key(k, ino_of(f, "sparse"), 0), big,
		sizeof(big));
	raw_put(f, k, codec_chunk_key(k, ino_of(f, "fifo"), 0), "d", 1);
	check(f, &g);
	expect(&g, NS_FSCK_CHUNK, ino, "/f",
	       "1 chunk holds bytes past the size 5 (the first: chunk 3)");
	expect(&g, NS_FSCK_CHUNK, ino, "/f", "alloc says 5 bytes, its chunks "
	       "hold 7");
	expect(&g, NS_FSCK_CHUNK, ino_of(f, "sparse"), "/sparse",
	       "chunk 0 holds 4097 bytes (chunk size 4096)");
	expect(&g, NS_FSCK_CHUNK, ino_of(f, "fifo"), "/fifo",
	       "1 data chunk, but it is a fifo");
}

static void test_wrong_nlink(void **state)
{
	struct fx *f = *state;
	uint64_t file, dir, root = CODEC_ROOT_INO;
	struct codec_inode in;
	struct got g;

	populate(f);
	file = ino_of(f, "f");
	dir = ino_of(f, "a");
	in = get_inode(f, file);
	in.nlink = 3;
	raw_inode(f, file, &in);
	in = get_inode(f, dir);
	in.nlink = 7;
	raw_inode(f, dir, &in);
	in = get_inode(f, ino_of(f, "a/hl"));
	in.nlink = 1;
	raw_inode(f, ino_of(f, "a/hl"), &in);
	in = get_inode(f, root);
	in.nlink = 2;
	raw_inode(f, root, &in);
	check(f, &g);
	expect(&g, NS_FSCK_NLINK, file, "/f",
	       "link count 3, but 1 entry names it");
	expect(&g, NS_FSCK_NLINK, dir, "/a",
	       "link count 7, expected 3 (2 + 1 subdirectories)");
	expect(&g, NS_FSCK_NLINK, ino_of(f, "a/hl"), NULL,
	       "link count 1, but 2 entries");
	expect(&g, NS_FSCK_NLINK, root, "/", "expected 4 (2 + 2 sub");
	assert_int_equal(g.n, 4);
}

static void test_orphans(void **state)
{
	struct fx *f = *state;
	uint8_t k[CODEC_INO_KEY_LEN];
	uint64_t lost;
	struct got g;

	populate(f);
	lost = ino_of(f, "f");
	raw_del(f, k, codec_orphan_key(k, f->orphan));
	raw_unentry(f, 1, "f");
	check(f, &g);
	expect(&g, NS_FSCK_ORPHAN, f->orphan, "", "not on the orphan list");
	expect(&g, NS_FSCK_ORPHAN, lost, "", "lost: no entry names it, but "
	       "its link count is 1");
	assert_int_equal(g.n, 2);
	assert_int_equal(g.st.orphans, 0);
	/* A marker on a linked inode. */
	raw_put(f, k, codec_orphan_key(k, ino_of(f, "sparse")), "", 0);
	check(f, &g);
	expect(&g, NS_FSCK_ORPHAN, ino_of(f, "sparse"), "/sparse",
	       "on the orphan list, but an entry still names it");
}

static void test_bogus_entries(void **state)
{
	struct fx *f = *state;
	uint64_t file;
	uint8_t k[CODEC_DENTRY_KEY_MAX], v[CODEC_DENTRY_LEN + 1] = { 0 };
	char path[64];
	struct got g;

	populate(f);
	file = ino_of(f, "f");
	raw_entry(f, 1, "ghost", 5000, S_IFREG);
	raw_entry(f, ino_of(f, "a"), "f-as-dir", file, S_IFDIR);
	raw_entry(f, file, "inside-a-file", ino_of(f, "sparse"), S_IFREG);
	raw_put(f, k, codec_dentry_key(k, 1, "bad", 3), v, sizeof(v));
	raw_entry(f, 1, ".lsmfs", ino_of(f, "sparse"), S_IFREG);
	check(f, &g);
	expect(&g, NS_FSCK_ENTRY, 5000, "/ghost",
	       "names inode 5000, which has no inode record");
	expect(&g, NS_FSCK_ENTRY, file, "/a/f-as-dir",
	       "the entry says a directory, the inode is a regular file");
	snprintf(path, sizeof(path), "#%llu/inside-a-file",
		 (unsigned long long)file);
	expect(&g, NS_FSCK_ENTRY, ino_of(f, "sparse"), path,
	       "is a regular file");
	expect(&g, NS_FSCK_ENTRY, 0, "/bad", "value of 10 bytes");
	expect(&g, NS_FSCK_ENTRY, ino_of(f, "sparse"), "/.lsmfs", "reserved");
	/* f: 3 names now (one a file's own), sparse: 3. */
	expect(&g, NS_FSCK_NLINK, file, NULL, "link count 1, but 2 entries");
	expect(&g, NS_FSCK_NLINK, ino_of(f, "sparse"), NULL,
	       "link count 1, but 3 entries");
}

static void test_superblock(void **state)
{
	struct fx *f = *state;
	uint64_t last;
	struct got g;

	populate(f);
	last = f->orphan;
	raw_super(f, CODEC_FORMAT_VERSION, 16);
	check(f, &g);
	expect(&g, NS_FSCK_SUPER, last, "",
	       "inode limit 16 is not above inode");
	assert_int_equal(g.n, 1);
	raw_super(f, 3, 1u << 20); /* 2: expiring files (test_ns_ttl.c) */
	check(f, &g);
	expect(&g, NS_FSCK_SUPER, 0, "", "unknown format version 3");
	assert_int_equal(g.n, 1); /* nothing else is interpreted */
	raw_put(f, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN, "LSMF!", 5);
	check(f, &g);
	expect(&g, NS_FSCK_SUPER, 0, "", "does not decode (5 bytes)");
	raw_del(f, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN);
	check(f, &g);
	expect(&g, NS_FSCK_SUPER, 0, "", "no superblock");
	assert_int_equal(g.n, 1); /* the rest checks as before */
}

static void test_cycle(void **state)
{
	struct fx *f = *state;
	uint64_t p, q;
	struct got g;

	p = mk(f, NULL, "p", S_IFDIR | 0755);
	q = mk(f, "p", "q", S_IFDIR | 0755);
	put(f, "p/q/file", "x", 1);
	raw_unentry(f, 1, "p");
	raw_entry(f, q, "loop", p, S_IFDIR);
	check(f, &g);
	expect(&g, NS_FSCK_TREE, 0, "", "directory cycle, not reachable "
	       "from the root");
	expect(&g, NS_FSCK_NLINK, CODEC_ROOT_INO, "/", "expected 2");
	expect(&g, NS_FSCK_NLINK, q, NULL, "expected 3 (2 + 1 sub");
}

static void test_detached_and_parent(void **state)
{
	struct fx *f = *state;
	uint64_t u, v, a;
	struct codec_inode in;
	struct got g;

	populate(f);
	u = mk(f, NULL, "u", S_IFDIR | 0755);
	v = mk(f, "u", "v", S_IFDIR | 0755);
	mk(f, "u/v", "w", S_IFDIR | 0755);
	raw_unentry(f, 1, "u");
	a = ino_of(f, "a");
	raw_entry(f, 1, "alias", a, S_IFDIR);
	in = get_inode(f, ino_of(f, "e/d2"));
	in.parent = a;
	raw_inode(f, ino_of(f, "e/d2"), &in);
	check(f, &g);
	expect(&g, NS_FSCK_ORPHAN, u, "", "lost: no entry names it");
	expect(&g, NS_FSCK_TREE, v, NULL, "not reachable from the root");
	for (unsigned i = 0; i < g.n; i++)
		if (g.p[i].ino == v && g.p[i].kind == NS_FSCK_TREE)
			assert_int_equal(strncmp(g.p[i].path, "#", 1), 0);
	expect(&g, NS_FSCK_TREE, a, "/alias", "a second name of a directory");
	expect(&g, NS_FSCK_TREE, ino_of(f, "e/d2"), "/e/d2",
	       "parent field ('..') is");
}

static void test_bad_keys_and_records(void **state)
{
	struct fx *f = *state;
	uint8_t k[CODEC_INO_KEY_LEN], v[3] = { 9, 9, 9 };
	struct codec_inode in;
	struct got g;

	populate(f);
	raw_put(f, "k1", 2, "", 0);
	raw_put(f, "k2", 2, "", 0);
	raw_put(f, "zzz", 3, "", 0);
	raw_put(f, "i\0\0\0", 4, "", 0);
	raw_put(f, k, codec_inode_key(k, 3), v, sizeof(v));
	in = get_inode(f, ino_of(f, "f"));
	in.mode = 0170000 | 0644;
	raw_inode(f, ino_of(f, "f"), &in);
	check(f, &g);
	expect(&g, NS_FSCK_KEY, 0, "", "2 keys of no known kind, from 'k1'");
	expect(&g, NS_FSCK_KEY, 0, "", "1 key of no known kind, from 'zzz'");
	expect(&g, NS_FSCK_KEY, 0, "", "malformed key 'i\\x00\\x00\\x00'");
	expect(&g, NS_FSCK_INODE, 3, "",
	       "does not decode (3 bytes, version 9)");
	expect(&g, NS_FSCK_INODE, ino_of(f, "f"), "/f", "unknown file type");
}

static void test_progress(void **state)
{
	struct fx *f = *state;
	uint8_t k[CODEC_XATTR_KEY_MAX];
	char name[32];
	uint64_t ino;
	struct got g;

	put(f, "many", "x", 1);
	ino = ino_of(f, "many");
	for (unsigned i = 0; i < NS_FSCK_PROGRESS_KEYS + 10; i++) {
		snprintf(name, sizeof(name), "user.%06u", i);
		raw_put(f, k, codec_xattr_key(k, ino, name, strlen(name)),
			"", 0);
	}
	check(f, &g);
	assert_int_equal(g.n, 0);
	assert_true(g.progress_calls >= 1);
	assert_int_equal(g.st.xattrs, NS_FSCK_PROGRESS_KEYS + 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_store, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_inode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dangling_chunk_and_xattr,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunk_past_size, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_nlink, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_orphans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bogus_entries, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_superblock, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached_and_parent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys_and_records,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_codec.c - the namespace codec (fs/codec.c): every decoder on the
 * input bytes, and encode/decode round trips of values read from them.
 *
 * The first input byte is a chunk-size selector; the rest, B, is given to
 * every key and value decoder, to the name and path checks (as a string up
 * to its first NUL), and is also read as fields for the round trips.
 * Properties: whatever a decoder accepts, the matching encoder writes back
 * byte for byte (the superblock's pad word excepted: it is ignored); a
 * decoded directory entry type is a file type (st_mode >> 12); encoding
 * then decoding gives the fields back; an accepted path splits into
 * components that each pass codec_check_name; chunk spans tile a range
 * exactly. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "fuzz.h"

static bool same(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

/* ---- decoders on arbitrary bytes ---- */

static void decode_keys(const uint8_t *b, size_t n)
{
	uint8_t out[CODEC_DENTRY_KEY_MAX > CODEC_XATTR_KEY_MAX
			    ? CODEC_DENTRY_KEY_MAX
			    : CODEC_XATTR_KEY_MAX];
	static const char kinds[] = { CODEC_K_SUPER, CODEC_K_CHUNK,
				      CODEC_K_DENTRY, CODEC_K_INODE,
				      CODEC_K_ORPHAN, CODEC_K_XATTR, 'z' };
	uint64_t a, c;
	const char *name;
	size_t nlen, len;

	if (codec_parse_dentry_key(b, n, &a, &name, &nlen) == 0) {
		FUZZ_CHECK(n >= 10 && n <= CODEC_DENTRY_KEY_MAX);
		FUZZ_CHECK((const uint8_t *)name == b + 9 && nlen == n - 9);
		len = codec_dentry_key(out, a, name, nlen);
		FUZZ_CHECK(same(out, len, b, n));
	}
	if (codec_parse_chunk_key(b, n, &a, &c) == 0) {
		len = codec_chunk_key(out, a, c);
		FUZZ_CHECK(same(out, len, b, n));
	}
	for (size_t i = 0; i < sizeof(kinds); i++) {
		if (codec_parse_ino_key(b, n, kinds[i], &a) < 0)
			continue;
		FUZZ_CHECK(n >= 9 && b[0] == (uint8_t)kinds[i]);
		len = codec_prefix(out, kinds[i], a);
		FUZZ_CHECK(len == 9 && !memcmp(out, b, 9));
		if (kinds[i] == CODEC_K_INODE && n == 9)
			FUZZ_CHECK(codec_inode_key(out, a) == 9 &&
				   !memcmp(out, b, 9));
		if (kinds[i] == CODEC_K_ORPHAN && n == 9)
			FUZZ_CHECK(codec_orphan_key(out, a) == 9 &&
				   !memcmp(out, b, 9));
		if (kinds[i] == CODEC_K_XATTR && n <= CODEC_XATTR_KEY_MAX)
			FUZZ_CHECK(codec_xattr_key(out, a, (const char *)b + 9,
						   n - 9) == n &&
				   !memcmp(out, b, n));
	}
}

static void decode_values(const uint8_t *b, size_t n)
{
	uint8_t out[CODEC_INODE_MAX_FIXED + 4096];
	struct codec_inode in;
	struct codec_super sb;
	const char *target;
	uint32_t type;
	uint64_t ino;
	size_t tlen;

	if (codec_dentry_decode(b, n, &ino, &type) == 0) {
		FUZZ_CHECK(n == CODEC_DENTRY_LEN);
		FUZZ_CHECK((type & ~(uint32_t)S_IFMT) == 0);
		codec_dentry_encode(out, ino, type);
		FUZZ_CHECK(same(out, CODEC_DENTRY_LEN, b, n));
	}
	if (codec_inode_decode(b, n, &in, &target, &tlen) == 0) {
		size_t fixed = b[0] == 2 ? CODEC_INODE_MAX_FIXED :
					   CODEC_INODE_FIXED;

		FUZZ_CHECK(n >= fixed);
		FUZZ_CHECK((b[0] == 2) == (in.expire_ns != 0));
		FUZZ_CHECK((const uint8_t *)target == b + fixed &&
			   tlen == n - fixed);
		if (tlen <= sizeof(out) - CODEC_INODE_MAX_FIXED)
			FUZZ_CHECK(same(out, codec_inode_encode(out, &in,
								target, tlen),
					b, n));
	}
	if (codec_super_decode(b, n, &sb) == 0) {
		uint8_t want[CODEC_SUPER_LEN];

		FUZZ_CHECK(n == CODEC_SUPER_LEN);
		FUZZ_CHECK(sb.version == CODEC_FORMAT_VERSION ||
			   sb.version == CODEC_FORMAT_VERSION_TTL);
		FUZZ_CHECK(sb.chunk_size >= CODEC_MIN_CHUNK &&
			   sb.chunk_size <= CODEC_MAX_CHUNK &&
			   !(sb.chunk_size & (sb.chunk_size - 1)));
		memcpy(want, b, CODEC_SUPER_LEN);
		memset(want + 12, 0, 4); /* pad: ignored on decode */
		codec_super_encode(out, &sb);
		FUZZ_CHECK(same(out, CODEC_SUPER_LEN, want, CODEC_SUPER_LEN));
	}
}

/* Names and paths: S is NUL-terminated, N bytes. */
static void check_names(const char *s, size_t n)
{
	const char *p = s, *comp;
	size_t len, total = 0, count = 0;
	int rc = codec_check_name(s, n);

	if (rc == 0) {
		FUZZ_CHECK(n >= 1 && n <= CODEC_NAME_MAX);
		FUZZ_CHECK(!memchr(s, '/', n) && strlen(s) == n);
		FUZZ_CHECK(strcmp(s, ".") && strcmp(s, ".."));
	} else {
		FUZZ_CHECK(rc == -EINVAL || rc == -ENAMETOOLONG);
	}
	/* The components of any string, whether a valid path or not. */
	while (codec_path_next(&p, &comp, &len)) {
		FUZZ_CHECK(len > 0 && comp >= s && comp + len <= s + n);
		FUZZ_CHECK(!memchr(comp, '/', len) && p == comp + len);
		total += len;
		count++;
	}
	FUZZ_CHECK(*p == '\0' && total <= n);
	rc = codec_check_path(s);
	if (rc == 0) {
		FUZZ_CHECK(count > 0);
		p = s;
		for (size_t i = 0; codec_path_next(&p, &comp, &len); i++) {
			FUZZ_CHECK(codec_check_name(comp, len) == 0);
			FUZZ_CHECK(i > 0 ||
				   !codec_is_reserved(CODEC_ROOT_INO, comp,
						      len));
		}
		/* No empty component: at most one '/' in a row. */
		FUZZ_CHECK(!strstr(s, "//"));
	} else {
		FUZZ_CHECK(rc == -EINVAL || rc == -ENAMETOOLONG ||
			   rc == -EPERM);
	}
}

/* ---- round trips from fields ---- */

static void round_trips(struct fuzz_in *in, uint32_t cs)
{
	uint8_t out[CODEC_INODE_MAX_FIXED + 512];
	struct codec_inode a, b;
	struct codec_super sa, sb;
	const char *target, *name;
	const uint8_t *t;
	size_t tlen, len, nlen;
	uint64_t ino, idx, x;
	uint32_t mode, type;

	a.mode = (uint32_t)fuzz_u64(in);
	a.uid = (uint32_t)fuzz_u64(in);
	a.gid = (uint32_t)fuzz_u64(in);
	a.nlink = (uint32_t)fuzz_u64(in);
	a.size = fuzz_u64(in);
	a.alloc = fuzz_u64(in);
	a.rdev = fuzz_u64(in);
	a.parent = fuzz_u64(in);
	a.atime_sec = (int64_t)fuzz_u64(in);
	a.mtime_sec = (int64_t)fuzz_u64(in);
	a.ctime_sec = (int64_t)fuzz_u64(in);
	a.atime_nsec = (uint32_t)fuzz_u64(in);
	a.mtime_nsec = (uint32_t)fuzz_u64(in);
	a.ctime_nsec = (uint32_t)fuzz_u64(in);
	a.expire_ns = fuzz_u8(in) & 1 ? fuzz_u64(in) : 0;
	t = fuzz_bytes(in, fuzz_u8(in), &tlen);
	len = codec_inode_encode(out, &a, (const char *)t, tlen);
	FUZZ_CHECK(len == (a.expire_ns ? CODEC_INODE_MAX_FIXED :
				       CODEC_INODE_FIXED) + tlen);
	FUZZ_CHECK(codec_inode_decode(out, len, &b, &target, &nlen) == 0);
	FUZZ_CHECK(same(target, nlen, t, tlen));
	FUZZ_CHECK(a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
		   a.nlink == b.nlink && a.size == b.size &&
		   a.alloc == b.alloc && a.rdev == b.rdev &&
		   a.parent == b.parent && a.atime_sec == b.atime_sec &&
		   a.mtime_sec == b.mtime_sec && a.ctime_sec == b.ctime_sec &&
		   a.atime_nsec == b.atime_nsec &&
		   a.mtime_nsec == b.mtime_nsec &&
		   a.ctime_nsec == b.ctime_nsec && a.expire_ns == b.expire_ns);

	ino = fuzz_u64(in);
	mode = (uint32_t)fuzz_u64(in);
	codec_dentry_encode(out, ino, mode);
	FUZZ_CHECK(codec_dentry_decode(out, CODEC_DENTRY_LEN, &x, &type) == 0);
	FUZZ_CHECK(x == ino && type == (mode & S_IFMT));

	sa.version = CODEC_FORMAT_VERSION;
	sa.chunk_size = cs;
	sa.ino_limit = fuzz_u64(in);
	codec_super_encode(out, &sa);
	FUZZ_CHECK(codec_super_decode(out, CODEC_SUPER_LEN, &sb) == 0);
	FUZZ_CHECK(sb.version == sa.version && sb.chunk_size == cs &&
		   sb.ino_limit == sa.ino_limit);

	idx = fuzz_u64(in);
	len = codec_chunk_key(out, ino, idx);
	FUZZ_CHECK(codec_parse_chunk_key(out, len, &x, &idx) == 0 &&
		   x == ino);
	t = fuzz_bytes(in, 1 + fuzz_u8(in) % CODEC_NAME_MAX, &tlen);
	if (tlen) {
		len = codec_dentry_key(out, ino, (const char *)t, tlen);
		FUZZ_CHECK(codec_parse_dentry_key(out, len, &x, &name,
						  &nlen) == 0);
		FUZZ_CHECK(x == ino && same(name, nlen, t, tlen));
	}
}

/* Chunk arithmetic on a range read from IN. */
static void spans(struct fuzz_in *in, uint32_t cs)
{
	uint64_t off = fuzz_u64(in), len = fuzz_u64(in) >> (fuzz_u8(in) % 64);
	uint64_t count, pos, left, c;

	if (len > UINT64_MAX - off)
		len = UINT64_MAX - off; /* the range must not wrap */
	count = codec_span_count(off, len, cs);
	if (len == 0) {
		FUZZ_CHECK(count == 0);
	} else {
		FUZZ_CHECK(count >= 1);
		FUZZ_CHECK(count == (off + len - 1) / cs - off / cs + 1);
	}
	/* Walk the first spans: contiguous, inside their chunks. */
	for (pos = off, left = len, c = 0; left > 0 && c < 64; c++) {
		struct codec_span s = codec_span_first(pos, left, cs);

		FUZZ_CHECK(s.len > 0 && s.off < cs && s.len <= cs - s.off);
		FUZZ_CHECK(s.idx == pos / cs && s.off == pos % cs);
		FUZZ_CHECK(s.len <= left);
		pos += s.len;
		left -= s.len;
	}
	if (left == 0)
		FUZZ_CHECK(c == count);

	{
		uint64_t size = off, n = codec_chunks_for(size, cs);

		FUZZ_CHECK(n == size / cs + (size % cs != 0));
		FUZZ_CHECK(n == 0 || (n - 1) * (uint64_t)cs < size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint32_t cs = CODEC_MIN_CHUNK << (fuzz_u8(&in) % 9);
	const uint8_t *b = in.p;
	size_t n = in.n;
	char *s;

	decode_keys(b, n);
	decode_values(b, n);
	s = malloc(n + 1);
	FUZZ_CHECK(s);
	if (n)
		memcpy(s, b, n);
	s[n] = '\0';
	check_names(s, strlen(s));
	free(s);
	round_trips(&in, cs);
	spans(&in, cs);
	return 0;
}

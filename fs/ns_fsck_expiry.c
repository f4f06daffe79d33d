/* ns_fsck_expiry.c - lsmfs-ctl check of expiring files: every 'e' key
 * names an inode whose record carries that expiry, every record with an
 * expiry has its key (else the file would never be purged), only regular
 * files expire, and a store holding either has superblock version 2. */
#include "ns_fsck_priv.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* Does key K (KLEN bytes) exist in the checked snapshot?  1, 0, -errno. */
static int has_key(struct fsck *f, const uint8_t *k, size_t klen,
		   uint8_t *val, size_t cap, size_t *vlen)
{
	uint8_t dummy;

	return lsm_get_buf(f->db, f->snap, k, klen, cap ? val : &dummy, cap,
			   vlen, f->err);
}

static int check_index(struct fsck *f, uint64_t *keys)
{
	uint8_t start[1] = { CODEC_K_EXPIRY };
	uint8_t rec[CODEC_INODE_MAX_FIXED + CODEC_SYMLINK_MAX + 1];
	struct lsm_iter *it;
	int rc = lsm_iter_new(f->db, f->snap, &it, f->err);

	if (rc < 0)
		return rc;
	for (lsm_iter_seek(it, start, 1); rc >= 0 && lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		uint8_t ikey[CODEC_INO_KEY_LEN];
		struct codec_inode in;
		uint64_t exp, ino;

		if (klen == 0 || k[0] != CODEC_K_EXPIRY)
			break;
		(*keys)++;
		if (codec_parse_expiry_key(k, klen, &exp, &ino) < 0) {
			fsck_problem(f, NS_FSCK_KEY, 0, NULL, 0,
				     "an expiry index key of %zu bytes", klen);
			continue;
		}
		rc = has_key(f, ikey, codec_inode_key(ikey, ino), rec,
			     sizeof(rec), &vlen);
		if (rc == 0)
			fsck_problem(f, NS_FSCK_KEY, ino, NULL, 0,
				     "expiry index key of inode %llu, which "
				     "has no record", (unsigned long long)ino);
		else if (rc > 0 && vlen <= sizeof(rec) &&
			 codec_inode_decode(rec, vlen, &in, NULL, NULL) == 0 &&
			 in.expire_ns != exp)
			fsck_problem(f, NS_FSCK_KEY, ino, NULL, 0,
				     "expiry index key of inode %llu says "
				     "%llu ns, its record %llu",
				     (unsigned long long)ino,
				     (unsigned long long)exp,
				     (unsigned long long)in.expire_ns);
	}
	if (rc >= 0)
		rc = lsm_iter_status(it, f->err);
	lsm_iter_free(it);
	return rc < 0 ? rc : 0;
}

static int check_records(struct fsck *f, uint64_t *expiring)
{
	uint8_t start[1] = { CODEC_K_INODE };
	struct lsm_iter *it;
	int rc = lsm_iter_new(f->db, f->snap, &it, f->err);

	if (rc < 0)
		return rc;
	for (lsm_iter_seek(it, start, 1); rc >= 0 && lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen, vlen, n;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v = lsm_iter_value(it, &vlen);
		uint8_t ekey[CODEC_EXPIRY_KEY_LEN];
		struct codec_inode in;
		uint64_t ino;

		if (klen == 0 || k[0] != CODEC_K_INODE)
			break;
		if (klen != CODEC_INO_KEY_LEN ||
		    codec_inode_decode(v, vlen, &in, NULL, NULL) < 0 ||
		    !in.expire_ns)
			continue; /* the inode scan reports bad records */
		ino = codec_get_be64(k + 1);
		(*expiring)++;
		if (!S_ISREG(in.mode))
			fsck_defer(f, NS_FSCK_INODE, ino, "an expiry on %s",
				   fsck_type_name(in.mode >> 12));
		rc = has_key(f, ekey, codec_expiry_key(ekey, in.expire_ns, ino),
			     NULL, 0, &n);
		if (rc == 0)
			fsck_defer(f, NS_FSCK_INODE, ino, "expires but has no "
				   "expiry index key (would never be purged)");
	}
	if (rc >= 0)
		rc = lsm_iter_status(it, f->err);
	lsm_iter_free(it);
	return rc < 0 ? rc : 0;
}

int fsck_check_expiry(struct fsck *f)
{
	uint64_t keys = 0, expiring = 0;
	int rc = check_index(f, &keys);

	/* a version-1 store should hold no expiry: look at the records
	 * only when the index says there are some, or the version allows */
	if (rc == 0 && (keys || f->version == CODEC_FORMAT_VERSION_TTL))
		rc = check_records(f, &expiring);
	if (rc == 0 && (keys || expiring) &&
	    f->version != CODEC_FORMAT_VERSION_TTL)
		fsck_problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			     "expiring files in a store of format version %u "
			     "(older lsmfs would ignore their expiry)",
			     f->version);
	return rc;
}

/* follow.c - a read-only mount that follows a store another process
 * writes keeps the kernel's caches true: the engine reports every key a
 * catch-up applied (lsm_options.follow_key_fn), and each becomes the
 * invalidation of exactly what it changes - a directory entry (positive or
 * negative), an inode's attributes, a chunk's range of the page cache.
 * When the engine could not see the records (the writer flushed them
 * between two catch-ups) every inode the kernel knows is invalidated, and
 * names fall back on the follower's short entry timeout.  Notifications
 * go out from the catch-up thread with no namespace lock held (libfuse:
 * a notification can wait on a request, which may need that lock). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "codec.h"
#include "fs.h"

void fs_follow_session(struct lsmfs *fs, struct fuse_session *se)
{
	pthread_mutex_lock(&fs->follow_mu);
	fs->se = se;
	pthread_mutex_unlock(&fs->follow_mu);
}

static void inval_all(struct lsmfs *fs, struct fuse_session *se)
{
	size_t n = 0;
	uint64_t *inos = ns_referenced(fs->ns, &n);

	for (size_t i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_inode(se, inos[i], 0, 0);
	free(inos);
}

static void inval_key(struct lsmfs *fs, struct fuse_session *se,
		      const uint8_t *key, size_t klen)
{
	uint64_t ino, idx;
	const char *name;
	size_t nlen;
	uint32_t cs = ns_chunk_size(fs->ns);

	switch (klen ? key[0] : 0) {
	case CODEC_K_DENTRY:
		if (codec_parse_dentry_key(key, klen, &ino, &name, &nlen) == 0)
			fuse_lowlevel_notify_inval_entry(se, ino, name, nlen);
		break;
	case CODEC_K_INODE: /* attributes: size, times, links, mode */
		if (codec_parse_ino_key(key, klen, CODEC_K_INODE, &ino) == 0)
			fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);
		break;
	case CODEC_K_CHUNK:
		if (codec_parse_chunk_key(key, klen, &ino, &idx) == 0)
			fuse_lowlevel_notify_inval_inode(se, ino,
							 (off_t)(idx * cs), cs);
		break;
	default: /* xattrs, orphans, the superblock: not cached */
		break;
	}
}

void fs_follow_key(void *ctx, const void *key, size_t klen)
{
	struct lsmfs *fs = ctx;

	pthread_mutex_lock(&fs->follow_mu);
	if (fs->se && fs->ns) {
		if (key)
			inval_key(fs, fs->se, key, klen);
		else
			inval_all(fs, fs->se);
	}
	pthread_mutex_unlock(&fs->follow_mu);
}

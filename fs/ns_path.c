/* ns_path.c - the key <-> path rule for tools: the key "a/b/c" is the
 * file MNT/a/b/c.  Paths are resolved component by component from the
 * root with the same entries the mount uses; symlinks are not followed
 * (a key names an entry, not what it points to). */
#include "ns_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int check_path(const char *path, struct lsm_err *err)
{
	int rc = codec_check_path(path);

	if (rc == -EPERM)
		return lsm_err_set(err, rc, "'%s': '%s' is reserved", path,
				   CODEC_CTL_NAME);
	if (rc < 0)
		return lsm_err_set(err, rc, "'%s': not a valid key (empty, '.' "
				   "or '..' component, or one over %u bytes)",
				   path, CODEC_NAME_MAX);
	return 0;
}

/* Copies component (C, LEN) into NAME (CODEC_NAME_MAX + 1 bytes). */
static void comp(char *name, const char *c, size_t len)
{
	memcpy(name, c, len);
	name[len] = '\0';
}

int ns_resolve(struct ns *ns, const char *path, struct ns_attr *a,
	       struct lsm_err *err)
{
	char name[CODEC_NAME_MAX + 1];
	const char *c;
	size_t len;
	int rc = ns_getattr(ns, CODEC_ROOT_INO, a, err);

	while (rc == 0 && codec_path_next(&path, &c, &len)) {
		if (!ns_is_dir(&a->in))
			return lsm_err_set(err, -ENOTDIR, "not a directory");
		if (len > CODEC_NAME_MAX)
			return lsm_err_set(err, -ENAMETOOLONG, "name too long");
		comp(name, c, len);
		rc = ns_lookup(ns, a->ino, name, a, err);
	}
	return rc;
}

/* Finds or makes directory NAME in *DIR and moves *DIR to it. */
static int step_mkdir(struct ns *ns, uint64_t *dir, const char *name,
		      const struct ns_cred *c, struct lsm_err *err)
{
	struct ns_attr a;
	int rc = ns_lookup(ns, *dir, name, &a, err);

	if (rc == -ENOENT) {
		rc = ns_mknod(ns, *dir, name, S_IFDIR | 0777, 0, c, NULL, &a,
			      err);
		if (rc == -EEXIST) /* lost a race: use the winner's */
			rc = ns_lookup(ns, *dir, name, &a, err);
	}
	if (rc == 0 && !ns_is_dir(&a.in))
		rc = lsm_err_set(err, -ENOTDIR, "'%s' is not a directory",
				 name);
	if (rc == 0)
		*dir = a.ino;
	return rc;
}

int ns_put_path(struct ns *ns, const char *path, const void *data,
		size_t len, const struct ns_cred *c, struct lsm_err *err)
{
	char name[CODEC_NAME_MAX + 1];
	uint64_t dir = CODEC_ROOT_INO;
	const char *p = path, *cp;
	struct ns_attr a;
	size_t clen;
	int rc = check_path(path, err);

	while (rc == 0 && codec_path_next(&p, &cp, &clen)) {
		comp(name, cp, clen);
		if (codec_path_next(&(const char *){ p }, &cp, &clen) == 0)
			break; /* NAME is the last component */
		rc = step_mkdir(ns, &dir, name, c, err);
	}
	if (rc < 0)
		return rc;
	rc = ns_lookup(ns, dir, name, &a, err);
	if (rc == -ENOENT)
		rc = ns_mknod(ns, dir, name, S_IFREG | 0666, 0, c, NULL, &a,
			      err);
	if (rc == 0)
		rc = ns_replace(ns, a.ino, data, len, err);
	return rc;
}

int ns_get_path(struct ns *ns, const char *path, void **data, size_t *len,
		struct lsm_err *err)
{
	struct ns_attr a;
	size_t got;
	void *buf;
	int rc = check_path(path, err);

	if (rc == 0)
		rc = ns_resolve(ns, path, &a, err);
	if (rc < 0)
		return rc;
	if (ns_is_dir(&a.in))
		return lsm_err_set(err, -EISDIR, "'%s': a directory", path);
	if (a.in.size > LSM_MAX_VALUE_BYTES * 16ull)
		return lsm_err_set(err, -EFBIG, "'%s': too large to load",
				   path);
	buf = malloc(a.in.size ? a.in.size : 1);
	if (!buf)
		return ns_enomem(err);
	rc = ns_read(ns, a.ino, 0, (size_t)a.in.size, buf, &got, err);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*data = buf;
	*len = got;
	return 0;
}

int ns_list_path(struct ns *ns, const char *path,
		 int (*fn)(void *ctx, const struct ns_dirent *d), void *ctx,
		 struct lsm_err *err)
{
	struct ns_attr a;
	int rc = 0;

	if (path[0] != '\0' && strcmp(path, "/") != 0)
		rc = check_path(path, err);
	if (rc == 0)
		rc = ns_resolve(ns, path, &a, err);
	if (rc < 0)
		return rc;
	if (!ns_is_dir(&a.in))
		return lsm_err_set(err, -ENOTDIR, "'%s': not a directory", path);
	return ns_readdir(ns, a.ino, NULL, fn, ctx, err);
}

int ns_delete_path(struct ns *ns, const char *path, struct lsm_err *err)
{
	char name[CODEC_NAME_MAX + 1];
	const char *p = path, *cp;
	uint64_t dir = CODEC_ROOT_INO;
	struct ns_attr a;
	size_t clen;
	int rc = check_path(path, err);

	while (rc == 0 && codec_path_next(&p, &cp, &clen)) {
		comp(name, cp, clen);
		if (codec_path_next(&(const char *){ p }, &cp, &clen) == 0)
			break;
		rc = ns_lookup(ns, dir, name, &a, err);
		if (rc == 0 && !ns_is_dir(&a.in))
			rc = lsm_err_set(err, -ENOTDIR, "not a directory");
		dir = a.ino;
	}
	if (rc < 0)
		return rc;
	rc = ns_lookup(ns, dir, name, &a, err);
	if (rc < 0)
		return rc;
	return ns_is_dir(&a.in) ? ns_rmdir(ns, dir, name, err) :
				  ns_unlink(ns, dir, name, err);
}

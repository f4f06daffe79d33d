/* tdir.c - temporary directories for tests. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

struct tdir {
	char root[PATH_MAX / 2];
};

struct tdir *tdir_new(void)
{
	const char *base = getenv("TMPDIR");
	struct tdir *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	snprintf(d->root, sizeof(d->root), "%s/lsmtest.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(d->root)) {
		free(d);
		return NULL;
	}
	return d;
}

int tdir_rmrf(const char *path)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	char sub[PATH_MAX];

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
			continue;
		tdir_rmrf(sub);
	}
	closedir(dir);
	return rmdir(path) < 0 ? -errno : 0;
}

void tdir_free(struct tdir *d)
{
	if (!d)
		return;
	if (!getenv("LSM_KEEP_TMP"))
		tdir_rmrf(d->root);
	else
		fprintf(stderr, "kept %s\n", d->root);
	free(d);
}

const char *tdir_root(const struct tdir *d)
{
	return d->root;
}

const char *tdir_path(const struct tdir *d, const char *name)
{
	static __thread char slots[8][PATH_MAX];
	static __thread unsigned next;
	char *p = slots[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", d->root, name);
	return p;
}

int tdir_setup(void **state)
{
	*state = tdir_new();
	return *state ? 0 : -1;
}

int tdir_teardown(void **state)
{
	tdir_free(*state);
	*state = NULL;
	return 0;
}

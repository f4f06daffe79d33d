/* mounts.c - lsmfs mounts of a data directory in a mountinfo table (see
 * mounts.h; format: proc(5), /proc/PID/mountinfo). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mounts.h"

/* Undoes mountinfo's octal escapes (\040 space, \011, \012, \134) in
 * place. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

struct mount_line {
	char *mnt, *opts, *type, *source;
};

/* Splits one mountinfo line: ID PARENT MAJ:MIN ROOT MNT OPTS [OPTIONAL...]
 * - TYPE SOURCE SUPEROPTS.  0 on success, -1 for a line of another shape. */
static int split(char *line, struct mount_line *m)
{
	char *f[64], *save = NULL;
	int n = 0, dash = -1;

	for (char *t = strtok_r(line, " \n", &save); t && n < 64;
	     t = strtok_r(NULL, " \n", &save)) {
		if (dash < 0 && n >= 6 && !strcmp(t, "-"))
			dash = n;
		f[n++] = t;
	}
	if (dash < 0 || n < dash + 3)
		return -1;
	m->mnt = f[4];
	m->opts = f[5];
	m->type = f[dash + 1];
	m->source = f[dash + 2];
	unescape(m->mnt);
	unescape(m->source);
	return 0;
}

static bool opts_rw(const char *opts)
{
	return !strcmp(opts, "rw") || !strncmp(opts, "rw,", 3);
}

int mounts_find(const char *table, const char *datadir, char *mnt,
		size_t size, bool *rw)
{
	FILE *f = fopen(table, "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	bool best_rw = false;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		struct mount_line m;

		if (split(line, &m) < 0 || strcmp(m.type, "fuse.lsmfs") ||
		    strcmp(m.source, datadir))
			continue;
		if (found > 0 && (best_rw || !opts_rw(m.opts)))
			continue;
		if (strlen(m.mnt) >= size) {
			found = -ENAMETOOLONG;
			break;
		}
		strcpy(mnt, m.mnt);
		best_rw = opts_rw(m.opts);
		found = 1;
	}
	free(line);
	fclose(f);
	if (found > 0 && rw)
		*rw = best_rw;
	return found;
}

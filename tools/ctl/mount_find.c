/* mount_find.c - reaching the lsmfs mount that serves a data directory:
 * the daemon holds the store's lock, so a command that needs the store
 * while it is mounted asks the daemon through MNT/.lsmfs/ctl instead.
 * The mount is found in /proc/self/mountinfo: type fuse.lsmfs, source the
 * data directory's absolute path (the daemon mounts with fsname=DATADIR). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

/* Undoes mountinfo's octal escapes (\040 space, \011, \012, \134) in S. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' &&
		    r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* From one mountinfo line, the mount point, type and source (in place),
 * and whether it is mounted read-only. */
static int parse_line(char *line, char **mnt, char **type, char **src,
		      bool *ro)
{
	char *save = NULL, *f[6] = { 0 }, *tok;
	int i = 0;

	for (tok = strtok_r(line, " \n", &save); tok && i < 6;
	     tok = strtok_r(NULL, " \n", &save))
		f[i++] = tok; /* id parent dev root mountpoint options */
	if (i < 6)
		return -1;
	*ro = !strcmp(f[5], "ro") || !strncmp(f[5], "ro,", 3);
	while (tok && strcmp(tok, "-") != 0) /* optional fields */
		tok = strtok_r(NULL, " \n", &save);
	if (!tok || !(*type = strtok_r(NULL, " \n", &save)) ||
	    !(*src = strtok_r(NULL, " \n", &save)))
		return -1;
	*mnt = f[4];
	unescape_octal(*mnt);
	unescape_octal(*src);
	return 0;
}

int ctl_find_mount(const char *dir, char *mnt, size_t cap)
{
	char abs[PATH_MAX], *line = NULL, *m, *type, *src;
	size_t len = 0;
	bool ro;
	FILE *f;
	int found = 0;

	if (!realpath(dir, abs))
		return -errno;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &len, f) > 0) {
		/* a read-only mount follows a writer elsewhere */
		if (parse_line(line, &m, &type, &src, &ro) < 0 || ro ||
		    strcmp(type, "fuse.lsmfs") != 0 || strcmp(src, abs) != 0)
			continue;
		if (strlen(m) + 1 > cap)
			continue;
		memcpy(mnt, m, strlen(m) + 1);
		found = 1; /* the last one wins: mounted over an older one */
	}
	free(line);
	fclose(f);
	return found;
}

int ctl_mount_request(const char *mnt, const char *req)
{
	char path[PATH_MAX + 32];
	size_t n = strlen(req);
	ssize_t w;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/.lsmfs/ctl", mnt);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	w = write(fd, req, n); /* answered when the request is done */
	if (w < 0)
		rc = -errno;
	else if ((size_t)w != n)
		rc = -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

uint64_t ctl_dir_bytes(const char *dir)
{
	char path[PATH_MAX];
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	uint64_t sum = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, "RESERVE"))
			continue; /* held back for a full disk, not data */
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

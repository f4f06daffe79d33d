/* cmd_snapshot.c - lsmfs-ctl snapshot: list, take (create) and drop the
 * store's durable snapshots (lsm_snapshot_* in lsm.h).  A store mounted
 * by lsmfs is asked through MNT/.lsmfs/snapshots (mkdir, rmdir, readdir),
 * as the mount holds the store's lock. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

static const char *when(char *buf, size_t cap, int64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%" PRId64, sec);
	return buf;
}

static int list_store(struct ctl_store *s)
{
	struct lsm_snapshot_info *l = NULL;
	struct lsm_err err = { 0 };
	char t[64];
	size_t n = 0;
	int rc = lsm_snapshot_list(s->db, &l, &n, &err);

	if (rc < 0)
		return ctl_fail(s->dir, rc, &err);
	printf("%-24s %4s %20s  %s\n", "NAME", "ID", "SEQUENCE", "CREATED");
	for (size_t i = 0; i < n; i++)
		printf("%-24s %4u %20" PRIu64 "  %s\n", l[i].name, l[i].id,
		       l[i].seq, when(t, sizeof(t), l[i].time_sec));
	free(l);
	return CTL_OK;
}

static int list_mounted(const char *mnt)
{
	char path[PATH_MAX + 512], t[64];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof(path), "%s/.lsmfs/snapshots", mnt);
	d = opendir(path);
	if (!d) {
		ctl_msg("%s: %s", path, strerror(errno));
		return ctl_exit_code(-errno);
	}
	printf("%-24s %s\n", "NAME", "CREATED");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/.lsmfs/snapshots/%s", mnt,
			 de->d_name);
		if (stat(path, &st) < 0)
			continue; /* dropped meanwhile */
		printf("%-24s %s\n", de->d_name,
		       when(t, sizeof(t), (int64_t)st.st_mtime));
	}
	closedir(d);
	return CTL_OK;
}

static int change_mounted(const char *dir, const char *mnt, bool create,
			  const char *name)
{
	char path[PATH_MAX + 128];
	int rc;

	printf("%s is mounted on %s: %s %s/.lsmfs/snapshots/%s\n", dir, mnt,
	       create ? "mkdir" : "rmdir", mnt, name);
	snprintf(path, sizeof(path), "%s/.lsmfs/snapshots/%s", mnt, name);
	rc = create ? mkdir(path, 0755) : rmdir(path);
	if (rc < 0) {
		rc = -errno;
		ctl_msg("%s: %s", path, strerror(-rc));
		return ctl_exit_code(rc);
	}
	return CTL_OK;
}

static int change_store(const struct ctl_cmd *c, const char *dir,
			bool create, const char *name)
{
	struct lsm_snapshot_info si;
	struct lsm_err err = { 0 };
	struct ctl_store s;
	char t[64];
	int rc = ctl_open(&s, c, dir, CTL_OPEN_NOBG);

	if (rc != CTL_OK)
		return rc;
	rc = create ? lsm_snapshot_create(s.db, name, &si, &err)
		    : lsm_snapshot_drop(s.db, name, &err);
	if (rc < 0) {
		ctl_fail(dir, rc, &err);
		ctl_close(&s);
		return rc == -EINVAL ? CTL_USAGE : ctl_exit_code(rc);
	}
	if (create)
		printf("snapshot %s taken: id %u, sequence %" PRIu64 ", %s\n",
		       si.name, si.id, si.seq,
		       when(t, sizeof(t), si.time_sec));
	else
		printf("snapshot %s dropped (compact to free what it held)\n",
		       name);
	return ctl_close(&s);
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct ctl_cmd ro = *c;
	char mnt[PATH_MAX];
	char *pos[argc];
	bool mounted, create;
	int n, rc = ctl_args(c, argc, argv, NULL, 2, 3, pos, &n);

	if (rc >= 0)
		return rc;
	mounted = ctl_find_mount(pos[0], mnt, sizeof(mnt)) == 1;
	if (!strcmp(pos[1], "list") && n == 2) {
		if (mounted)
			return list_mounted(mnt);
		ro.read_only = true;
		return ctl_run_on_store(&ro, 2, (char *[]){ argv[0], pos[0] },
					CTL_OPEN_NOBG, list_store);
	}
	if ((strcmp(pos[1], "create") && strcmp(pos[1], "drop")) || n != 3) {
		ctl_msg("snapshot: use list, create NAME or drop NAME");
		return CTL_USAGE;
	}
	create = !strcmp(pos[1], "create");
	if (lsm_snapshot_name_check(pos[2], NULL) < 0) {
		ctl_msg("snapshot name '%s': use 1 to %d of A-Z a-z 0-9 . _ - "
			"(not starting with '.')", pos[2],
			LSM_SNAPSHOT_NAME_MAX);
		return CTL_USAGE;
	}
	if (mounted)
		return change_mounted(pos[0], mnt, create, pos[2]);
	return change_store(c, pos[0], create, pos[2]);
}

const struct ctl_cmd cmd_snapshot = {
	.name = "snapshot",
	.args = "list | create NAME | drop NAME",
	.summary = "list, take or drop the store's durable snapshots",
	.help = "list: the snapshots, oldest first, with their id, sequence "
		"number and\ncreation time (UTC).  create NAME: takes a "
		"snapshot of the store as it is\nnow (1 to 64 of A-Z a-z 0-9 "
		". _ -, not starting with '.'; at most 64\nsnapshots).  drop "
		"NAME: drops it; a later compaction frees what only it\nkept. "
		" A mounted store is asked through MOUNTPOINT/.lsmfs/snapshots "
		"(mkdir,\nrmdir, ls), where each snapshot is also a "
		"read-only view of the tree.\n",
	.read_only = false,
	.run = run,
};

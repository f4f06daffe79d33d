/* cmd_stats.c - lsmfs-ctl stats: the statistics of a store in the
 * Prometheus text exposition format.  A store served by a mount is asked
 * through the mount (MNT/.lsmfs/stats, found in the kernel's mount table:
 * the daemon's counters, not zeros); otherwise the store is opened
 * read-only and its gauges (levels, bytes, sequence) are shown, with a
 * closing comment giving the tables per level. */
#include <limits.h>
#include <stdlib.h>

#include "ctl.h"
#include "mounts.h"

static int print_stats(struct ctl_store *s)
{
	struct lsm_err err = { 0 };
	unsigned counts[LSM_MAX_LEVELS];
	char *text = NULL;
	int rc = lsm_stats(s->db, &text, &err);

	if (rc < 0)
		return ctl_fail(s->dir, rc, &err);
	fputs(text, stdout);
	free(text);
	lsm_level_tables(s->db, counts, LSM_MAX_LEVELS);
	printf("# tables per level:");
	for (unsigned l = 0; l < LSM_MAX_LEVELS; l++)
		if (counts[l])
			printf(" L%u=%u", l, counts[l]);
	printf("\n");
	return CTL_OK;
}

/* Copies MNT/.lsmfs/stats to stdout: CTL_OK, or CTL_FAIL after a
 * message. */
static int print_mounted(const char *mnt)
{
	char path[PATH_MAX + 16], buf[65536];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/.lsmfs/stats", mnt);
	f = fopen(path, "re");
	if (!f) {
		ctl_msg("%s: %m", path);
		return CTL_FAIL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	if (ferror(f)) {
		ctl_msg("%s: read error", path);
		fclose(f);
		return CTL_FAIL;
	}
	fclose(f);
	printf("# from the mount on %s\n", mnt);
	return CTL_OK;
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char abs[PATH_MAX], mnt[PATH_MAX];
	bool mounted;
	int npos, rc;

	if (!pos) {
		ctl_msg("out of memory");
		return CTL_FAIL;
	}
	rc = ctl_args(c, argc, argv, NULL, 1, 1, pos, &npos);
	mounted = rc < 0 && realpath(pos[0], abs) &&
		  mounts_find(MOUNTS_TABLE, abs, mnt, sizeof(mnt), NULL) > 0;
	free(pos);
	if (rc >= 0)
		return rc;
	if (mounted)
		return print_mounted(mnt);
	return ctl_run_on_store(c, argc, argv, 0, print_stats);
}

const struct ctl_cmd cmd_stats = {
	.name = "stats",
	.args = "",
	.summary = "print the statistics (a mounted store's: the mount's)",
	.help = "Prints the statistics in the Prometheus text exposition "
		"format (# HELP and\n# TYPE per family; lsm_* the engine's, "
		"lsmfs_* the filesystem's).  When\nDATADIR is mounted (found "
		"in /proc/self/mountinfo, the read-write mount\nfirst), the "
		"figures are the mount's, read from MNT/.lsmfs/stats, and a\n"
		"last comment names the mount.  Otherwise the store is opened "
		"read-only:\nits gauges (levels, table bytes, sequence) "
		"describe it, its counters count\nthe work of this invocation "
		"only, and a closing comment gives the number\nof tables per "
		"level.\n",
	.read_only = true,
	.run = run,
};

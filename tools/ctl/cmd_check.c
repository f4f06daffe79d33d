/* cmd_check.c - lsmfs-ctl check: verify every file of a data directory
 * without opening the store (lsm_check_dir); one line per finding. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "lsm_tool.h"

struct findings {
	struct ctl_bar bar;
	unsigned warnings;
};

static void report(void *ctx, const char *file, uint64_t off,
		   const char *problem)
{
	struct findings *f = ctx;

	ctl_bar_end(&f->bar);
	f->warnings += strncmp(problem, LSM_CHECK_WARNING,
			       sizeof(LSM_CHECK_WARNING) - 1) == 0;
	if (off == LSM_CHECK_NO_OFFSET)
		printf("%s: %s\n", file, problem);
	else
		printf("%s@%" PRIu64 ": %s\n", file, off, problem);
	fflush(stdout);
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct findings *f = ctx;

	ctl_bar_update(&f->bar, done, total);
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct findings f = { .warnings = 0 };
	struct lsm_err err = { 0 };
	unsigned problems = 0;
	char *pos[argc];
	int n, rc = ctl_args(c, argc, argv, NULL, 1, 1, pos, &n);

	if (rc >= 0)
		return rc;
	rc = ctl_check_dir(pos[0]);
	if (rc != CTL_OK)
		return rc;
	ctl_bar_init(&f.bar, "checking");
	rc = lsm_check_dir(pos[0], NULL, report, progress, &f, &problems,
			   &err);
	ctl_bar_end(&f.bar);
	if (rc == -ENOENT) {
		ctl_msg("%s", err.msg);
		return CTL_FOREIGN;
	}
	if (rc < 0)
		return ctl_fail(pos[0], rc, &err);
	if (problems)
		printf("%s: %u problem%s found\n", pos[0], problems,
		       problems == 1 ? "" : "s");
	else
		printf("%s: no problems found%s\n", pos[0],
		       f.warnings ? " (see the warnings above)" : "");
	return problems ? CTL_PROBLEMS : CTL_OK;
}

const struct ctl_cmd cmd_check = {
	.name = "check",
	.args = "",
	.summary = "verify every table, log and the manifest",
	.help = "Reads CURRENT and the manifest, checks the level invariants, "
		"reads every\ntable block and its checksum, compares each "
		"table's key range and size with\nthe manifest's, and replays "
		"every live log segment, without opening the\nstore (no lock "
		"is taken; nothing is written).  Prints one line per "
		"finding,\n\"FILE@OFFSET: problem\" (or \"FILE: problem\"), "
		"then a summary line.  Warnings\n(tables the manifest does "
		"not list, left by a crash) do not count as damage.\nA torn "
		"tail of the newest log is normal and not reported.  Shows a "
		"progress\nbar when standard error is a terminal.  Checking a "
		"mounted store may report\nfiles that changed while read.\n\n"
		"Exit status: 0 no damage, 1 damage found, 2 or more: the "
		"check could not\nrun.\n",
	.read_only = true,
	.run = run,
};

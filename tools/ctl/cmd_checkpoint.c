/* cmd_checkpoint.c - lsmfs-ctl checkpoint: a consistent copy of a store,
 * live or not, in a new directory (lsm_checkpoint in lsm_files.h): tables
 * hard-linked, live log segments copied, a fresh manifest.  The copy is a
 * data directory of its own (mount it, back it up, replicate from it). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "lsm_files.h"

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	char *pos[4];
	int npos, rc;
	struct lsm_err err = { 0 };
	struct lsm_files *f = NULL;
	uint64_t seq = 0, bytes = 0;
	struct stat st;

	rc = ctl_args(c, argc, argv, NULL, 2, 2, pos, &npos);
	if (rc >= 0)
		return rc;
	if (stat(pos[0], &st) < 0) {
		ctl_msg("%s: no such data directory", pos[0]);
		return CTL_NO_DIR;
	}
	rc = lsm_checkpoint(pos[0], pos[1], &seq, &err);
	if (rc < 0) {
		if (rc == -EEXIST) {
			ctl_msg("%s already exists: a checkpoint goes to a new "
				"directory", pos[1]);
			return CTL_USAGE;
		}
		return ctl_fail(pos[0], rc, &err);
	}
	if (lsm_files_list(pos[1], &f, &err) == 0) {
		for (size_t i = 0; i < f->ntables; i++)
			bytes += f->tables[i].size;
		printf("checkpoint of %s in %s: sequence %" PRIu64 ", %zu "
		       "table%s (%" PRIu64 " bytes, hard-linked where the "
		       "filesystem allows), %zu log segment%s copied\n",
		       pos[0], pos[1], seq, f->ntables,
		       f->ntables == 1 ? "" : "s", bytes, f->nlogs,
		       f->nlogs == 1 ? "" : "s");
		lsm_files_free(f);
	}
	return CTL_OK;
}

const struct ctl_cmd cmd_checkpoint = {
	.name = "checkpoint",
	.args = "DEST",
	.summary = "copy the store, even while mounted, into new directory DEST",
	.help = "Makes DEST (which must not exist) a consistent copy of the "
		"store as of one\nmoment: its tables are hard-linked (copied "
		"when DEST is on another\nfilesystem), its live log segments "
		"copied, and a fresh manifest written.\nIt runs beside a "
		"mount (no lock is taken) and holds every write the\nstore had "
		"made durable before it began.  DEST is a data directory of "
		"its\nown: mount it, archive it (tar), or replicate from it.\n",
	.read_only = true,
	.run = run,
};

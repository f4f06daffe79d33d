/* cmd_delete.c - lsmfs-ctl delete: remove a file (or empty directory). */
#include <errno.h>

#include "ctl.h"

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct ctl_store s;
	struct lsm_err err = { 0 };
	char *pos[argc];
	int n, rc = ctl_args(c, argc, argv, NULL, 2, 2, pos, &n);

	if (rc >= 0)
		return rc;
	rc = ctl_open(&s, c, pos[0], CTL_OPEN_NS);
	if (rc != CTL_OK)
		return rc;
	rc = ns_delete_path(s.ns, pos[1], &err);
	if (rc == 0)
		rc = lsm_sync(s.db, &err);
	if (rc == -ENOENT) {
		ctl_msg("%s: no such file", pos[1]);
		rc = CTL_PROBLEMS;
	} else if (rc < 0) {
		rc = ctl_fail(pos[1], rc, &err);
	}
	n = ctl_close(&s);
	return rc != CTL_OK ? rc : n;
}

const struct ctl_cmd cmd_delete = {
	.name = "delete",
	.args = "KEY",
	.summary = "remove file KEY (or the empty directory KEY)",
	.help = "Removes the entry as rm (or rmdir for an empty directory) "
		"would through the\nmount.  Exits 1 when KEY does not exist.  "
		"Durable when delete exits 0.\n",
	.read_only = false,
	.run = run,
};

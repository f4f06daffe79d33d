/* cmd_get.c - lsmfs-ctl get: the bytes of the file at a path, raw, to
 * stdout (what `cat MNT/PATH` prints). */
#include <errno.h>
#include <stdlib.h>

#include "ctl.h"

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct ctl_store s;
	struct lsm_err err = { 0 };
	char *pos[argc];
	void *data = NULL;
	size_t len = 0;
	int n, rc = ctl_args(c, argc, argv, NULL, 2, 2, pos, &n);

	if (rc >= 0)
		return rc;
	rc = ctl_open(&s, c, pos[0], CTL_OPEN_NS);
	if (rc != CTL_OK)
		return rc;
	rc = ns_get_path(s.ns, pos[1], &data, &len, &err);
	if (rc == -ENOENT) {
		ctl_msg("%s: no such file", pos[1]);
		rc = CTL_PROBLEMS;
	} else if (rc < 0) {
		rc = ctl_fail(pos[1], rc, &err);
	} else if (fwrite(data, 1, len, stdout) != len || fflush(stdout)) {
		rc = ctl_fail("stdout", -errno, NULL);
	}
	free(data);
	n = ctl_close(&s);
	return rc != CTL_OK ? rc : n;
}

const struct ctl_cmd cmd_get = {
	.name = "get",
	.args = "KEY",
	.summary = "print the contents of file KEY (a path such as a/b/c)",
	.help = "Writes the file's bytes to standard output exactly, with "
		"nothing added.\nExits 1 when KEY does not exist.\n",
	.read_only = true,
	.run = run,
};

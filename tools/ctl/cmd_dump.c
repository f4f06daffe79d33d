/* cmd_dump.c - lsmfs-ctl dump: the records of one table, log segment or
 * manifest, human-readable (lsm_dump_file), keys and values escaped. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "lsm_tool.h"

#define DUMP_VALUE_BYTES 32 /* shown of each value without --full */

static void put_value(const struct lsm_dump_rec *r, bool full)
{
	size_t n = full || r->vlen <= DUMP_VALUE_BYTES ? r->vlen :
		   DUMP_VALUE_BYTES;

	printf(" %zu '", r->vlen);
	ctl_put_escaped(stdout, r->val, n);
	printf("'%s", n < r->vlen ? "..." : "");
}

static void put_entry(const struct lsm_dump_rec *r, bool full)
{
	putchar('\'');
	ctl_put_escaped(stdout, r->key, r->klen);
	printf("' @%" PRIu64 " %s", r->seq, r->is_delete ? "del" : "put");
	if (!r->is_delete)
		put_value(r, full);
	putchar('\n');
}

static void put_edit(const struct lsm_dump_rec *r)
{
	const char *p = r->text;

	printf("@%" PRIu64 " edit\n", r->offset);
	while (*p) {
		size_t n = strcspn(p, "\n");

		printf("  %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

static int on_rec(void *ctx, const struct lsm_dump_rec *r)
{
	bool full = *(bool *)ctx;

	switch (r->kind) {
	case LSM_DUMP_ENTRY:
		put_entry(r, full);
		break;
	case LSM_DUMP_BATCH:
		printf("@%" PRIu64 " batch seq %" PRIu64 ", %" PRIu32 " op%s\n",
		       r->offset, r->seq, r->count, r->count == 1 ? "" : "s");
		break;
	case LSM_DUMP_OP:
		printf("  ");
		put_entry(r, full);
		break;
	case LSM_DUMP_EDIT:
		put_edit(r);
		break;
	}
	return ferror(stdout) ? -EIO : 0;
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct lsm_err err = { 0 };
	bool full = false;
	const struct ctl_flag flags[] = { { "full", &full }, { NULL } };
	char *pos[argc], path[4096];
	int n, rc = ctl_args(c, argc, argv, flags, 2, 2, pos, &n);

	if (rc >= 0)
		return rc;
	if (strchr(pos[1], '/')) {
		snprintf(path, sizeof(path), "%s", pos[1]);
	} else {
		if ((rc = ctl_check_dir(pos[0])) != CTL_OK)
			return rc;
		snprintf(path, sizeof(path), "%s/%s", pos[0], pos[1]);
	}
	rc = lsm_dump_file(path, on_rec, &full, &err);
	if (fflush(stdout) != 0 && rc == 0)
		rc = -EIO;
	if (rc == -EINVAL)
		ctl_msg("%s", err.msg);
	return rc == -EINVAL ? CTL_USAGE : rc < 0 ? ctl_fail(path, rc, &err)
						   : CTL_OK;
}

const struct ctl_cmd cmd_dump = {
	.name = "dump",
	.args = "[--full] FILE",
	.summary = "print the records of a table, log segment or manifest",
	.help = "FILE is a name in DATADIR (NNNNNN.sst, NNNNNN.wal, "
		"MANIFEST-NNNNNN) or a path.\nTables: one line per entry, "
		"\"'KEY' @SEQ put LEN 'VALUE'\" or \"'KEY' @SEQ del\",\n"
		"in key order.  Logs: \"@OFFSET batch seq SEQ, N ops\" followed "
		"by its ops.\nManifests: \"@OFFSET edit\" followed by its "
		"fields.  Keys are the engine's\n(the namespace codec's "
		"encoding of paths); bytes outside printable ASCII\nare shown "
		"as \\xNN.  Values are cut at 32 bytes unless --full.  Reads "
		"the\nfile only: works on a mounted store.  A damaged record "
		"ends the dump with\nexit status 5 after the records before "
		"it.\n\n  --full  print whole values\n",
	.read_only = true,
	.run = run,
};

/* cmd_check.c - lsmfs-ctl check: verify every file of a data directory
 * without opening the store (lsm_check_dir), then, unless --no-fs, open it
 * read-only and check the filesystem it holds (ns_fsck); one line per
 * finding. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "lsm_tool.h"
#include "ns_fsck.h"

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

/* ---- the filesystem layer ---- */

/* A progress line on stderr (a terminal only), erased before output. */
struct fs_findings {
	bool tty;
	bool drawn;
};

static void fs_erase(struct fs_findings *f)
{
	if (f->drawn)
		fputs("\r\033[K", stderr);
	f->drawn = false;
}

/* "PATH (inode N): KIND: message", "inode N: ..." or "KIND: ...". */
static void fs_report(void *ctx, const struct ns_fsck_problem *p)
{
	struct fs_findings *f = ctx;

	fs_erase(f);
	if (p->path) {
		ctl_put_escaped(stdout, p->path, p->path_len);
		if (p->ino)
			printf(" (inode %" PRIu64 ")", p->ino);
		fputs(": ", stdout);
	} else if (p->ino) {
		printf("inode %" PRIu64 ": ", p->ino);
	}
	printf("%s: %s\n", ns_fsck_kind_name(p->kind), p->msg);
	fflush(stdout);
}

static void fs_progress(void *ctx, const char *phase, uint64_t keys)
{
	struct fs_findings *f = ctx;

	if (!f->tty)
		return;
	fprintf(stderr, "\rchecking the filesystem: %s, %" PRIu64
		" keys read\033[K", phase, keys);
	fflush(stderr);
	f->drawn = true;
}

static void fs_summary(const char *dir, const struct ns_fsck_stats *st)
{
	printf("%s: filesystem: %" PRIu64 " inodes (%" PRIu64
	       " directories), %" PRIu64 " entries, %" PRIu64
	       " data chunks, %" PRIu64 " xattrs, %" PRIu64
	       " orphans awaiting reclaim: ", dir, st->inodes, st->dirs,
	       st->entries, st->chunks, st->xattrs, st->orphans);
	if (st->problems)
		printf("%" PRIu64 " problem%s\n", st->problems,
		       st->problems == 1 ? "" : "s");
	else
		printf("consistent\n");
}

int ctl_check_fs(const char *dir, uint64_t *problems)
{
	const struct ctl_cmd *c = &cmd_check;
	struct fs_findings f = { .tty = isatty(STDERR_FILENO) == 1 };
	struct ns_fsck_options o;
	struct ns_fsck_stats st;
	struct lsm_err err = { 0 };
	struct ctl_store s;
	int rc = ctl_open(&s, c, dir, CTL_OPEN_NOBG);

	if (rc != CTL_OK)
		return rc;
	ns_fsck_options_init(&o);
	o.report = fs_report;
	o.progress = fs_progress;
	o.ctx = &f;
	rc = ns_fsck(s.db, &o, &st, &err);
	fs_erase(&f);
	if (rc < 0) {
		ctl_fail(dir, rc, &err);
		ctl_close(&s);
		return ctl_exit_code(rc);
	}
	fs_summary(dir, &st);
	*problems += st.problems;
	return ctl_close(&s);
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct findings f = { .warnings = 0 };
	struct lsm_err err = { 0 };
	unsigned engine = 0;
	uint64_t problems;
	bool no_fs = false;
	const struct ctl_flag flags[] = { { "no-fs", &no_fs }, { NULL } };
	char *pos[argc];
	int n, rc = ctl_args(c, argc, argv, flags, 1, 1, pos, &n);

	if (rc >= 0)
		return rc;
	rc = ctl_check_dir(pos[0]);
	if (rc != CTL_OK)
		return rc;
	ctl_bar_init(&f.bar, "checking");
	rc = lsm_check_dir(pos[0], NULL, report, progress, &f, &engine,
			   &err);
	ctl_bar_end(&f.bar);
	if (rc == -ENOENT) {
		ctl_msg("%s", err.msg);
		return CTL_FOREIGN;
	}
	if (rc < 0)
		return ctl_fail(pos[0], rc, &err);
	problems = engine;
	if (engine && !no_fs)
		printf("%s: filesystem not checked: the store is damaged\n",
		       pos[0]);
	if (!engine && !no_fs && (rc = ctl_check_fs(pos[0], &problems)))
		return rc;
	if (problems)
		printf("%s: %" PRIu64 " problem%s found\n", pos[0], problems,
		       problems == 1 ? "" : "s");
	else
		printf("%s: no problems found%s\n", pos[0],
		       f.warnings ? " (see the warnings above)" : "");
	return problems ? CTL_PROBLEMS : CTL_OK;
}

const struct ctl_cmd cmd_check = {
	.name = "check",
	.args = "[--no-fs]",
	.summary = "verify the tables, logs, manifest and the filesystem",
	.help = "Reads CURRENT and the manifest, checks the level invariants, "
		"reads every\ntable block and its checksum, compares each "
		"table's key range and size with\nthe manifest's, and replays "
		"every live log segment, without opening the\nstore (no lock "
		"is taken; nothing is written).  Prints one line per "
		"finding,\n\"FILE@OFFSET: problem\" (or \"FILE: problem\").  "
		"Warnings (tables the manifest\ndoes not list, left by a "
		"crash) do not count as damage.  A torn tail of the\nnewest "
		"log is normal and not reported.\n\n"
		"Then, when that found no damage, opens the store read-only "
		"and checks the\nfilesystem in it, as fsck does: every entry "
		"names an inode of its type, link\ncounts match the entries "
		"(directories: 2 + subdirectories), data, xattrs\nand orphan "
		"markers belong to live inodes, no chunk holds bytes past the "
		"size,\nunlinked inodes are on the orphan list, the "
		"superblock's inode limit is above\nevery inode in use, and "
		"the directories form one tree under the root.  One\nline "
		"per problem, \"PATH (inode N): KIND: what\" (\"inode N: "
		"...\" when no path\nis known), then a filesystem summary.  "
		"Then a summary line.\n\n  --no-fs   skip the filesystem "
		"check\n\nShows progress when standard error is a "
		"terminal.  Checking a mounted store\nmay report files that "
		"changed while read.\n\n"
		"Exit status: 0 no damage, 1 damage found, 2 or more: the "
		"check could not\nrun.\n",
	.read_only = true,
	.run = run,
};

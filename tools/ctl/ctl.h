/* ctl.h - what lsmfs-ctl's subcommands share: the command table entry,
 * exit codes, argument parsing, opening a store with clear one-line errors,
 * escaped printing and a progress bar on stderr (only on a terminal). */
#ifndef LSMFS_CTL_H
#define LSMFS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lsm.h"
#include "ns.h"

/* Exit codes (also in man/lsmfs-ctl.1). */
enum ctl_exit {
	CTL_OK = 0,
	CTL_PROBLEMS = 1,  /* check found damage; get/delete: no such key */
	CTL_BUSY = 2,      /* the data directory is in use by a process */
	CTL_NO_DIR = 3,    /* the data directory does not exist */
	CTL_FOREIGN = 4,   /* the directory is not an lsmfs store */
	CTL_DAMAGED = 5,   /* the store is damaged (checksum, structure) */
	CTL_FAIL = 6,      /* any other error (I/O, memory, bad key) */
	CTL_USAGE = 64,    /* bad command line */
};

struct ctl_cmd {
	const char *name;
	const char *args;     /* after DATADIR, e.g. "KEY [VALUE | -]" */
	const char *summary;  /* one line for the command list */
	const char *help;     /* the rest of `lsmfs-ctl help NAME` */
	bool read_only;       /* opens the store read-only */
	/* ARGV[0] is the command name; returns an exit code. */
	int (*run)(const struct ctl_cmd *c, int argc, char **argv);
};

extern const struct ctl_cmd cmd_get, cmd_put, cmd_delete, cmd_scan,
	cmd_stats, cmd_compact, cmd_check, cmd_dump, cmd_info, cmd_repair,
	cmd_checkpoint, cmd_snapshot;

/* A boolean long option (--NAME) of a command. */
struct ctl_flag {
	const char *name;
	bool *val;
};

/* Parses ARGV (ARGV[0] = command name): --help/-h, the FLAGS (NULL-name
 * terminated, may be NULL) and "--" ending options; the positional
 * arguments (DATADIR first) go to POS (room for ARGC entries), *NPOS of
 * them, which must number MIN..MAX.  Returns -1 to go on, or an exit code
 * after printing help (CTL_OK) or a usage error (CTL_USAGE). */
int ctl_args(const struct ctl_cmd *c, int argc, char **argv,
	     const struct ctl_flag *flags, int min, int max, char **pos,
	     int *npos);
/* Prints the command's usage and help to F. */
void ctl_help(const struct ctl_cmd *c, FILE *f);

/* Prints "lsmfs-ctl: fmt" and a newline on stderr. */
void ctl_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The exit code for engine/namespace error RC (see enum ctl_exit). */
int ctl_exit_code(int rc);
/* Prints ERR's message (or WHAT: strerror) and returns its exit code. */
int ctl_fail(const char *what, int rc, const struct lsm_err *err);

/* An open store: the engine and (when asked) the namespace. */
struct ctl_store {
	struct lsm_db *db;
	struct ns *ns;
	const char *dir;
	bool read_only;
};

#define CTL_OPEN_NS 0x1u      /* also open the namespace (fs/ns.h) */
#define CTL_OPEN_CREATE 0x2u  /* create and format a missing store */
#define CTL_OPEN_NOBG 0x4u    /* no background compaction */

/* Opens DIR (read-only when C says so) after checking that it exists and
 * holds a store; prints a one-line error and returns its exit code, or
 * CTL_OK. */
int ctl_open(struct ctl_store *s, const struct ctl_cmd *c, const char *dir,
	     unsigned flags);
/* Closes S; prints an error and returns its exit code, or CTL_OK. */
int ctl_close(struct ctl_store *s);
/* The whole of a command that takes DATADIR only: parses ARGV, opens the
 * store (FLAGS as ctl_open), runs BODY and closes; the exit code. */
int ctl_run_on_store(const struct ctl_cmd *c, int argc, char **argv,
		     unsigned flags, int (*body)(struct ctl_store *s));
/* Opens DIR read-only and checks the filesystem in it (ns_fsck): one line
 * per problem and a summary on stdout; *PROBLEMS grows by what it finds.
 * An exit code (cmd_check.c). */
int ctl_check_fs(const char *dir, uint64_t *problems);
/* A range of engine keys, both ends included (borrowed). */
struct ctl_range {
	const void *lo, *hi;
	size_t lo_len, hi_len;
};
/* Opens DIR read-only and calls FN for each entry of the filesystem in it
 * whose own key, inode record, data or xattrs may lie in range number
 * RANGE of the NR ranges R, with the entry's path ("/a/b", or "#N/b" when
 * the walk up stops at directory N); PATH is borrowed for the call.  A read
 * failing inside a range is stepped over (entries in it cannot be named).
 * 0, 1 when DIR holds no filesystem (no superblock), or a negative errno
 * with ERR filled (e.g. the store does not open) (repair_paths.c). */
int ctl_range_paths(const char *dir, const struct ctl_range *r, size_t nr,
		    void (*fn)(void *ctx, size_t range, const char *path,
			       size_t len),
		    void *ctx, struct lsm_err *err);
/* Checks that DIR exists and is a directory (CTL_NO_DIR after a message). */
int ctl_check_dir(const char *dir);

/* The writable lsmfs mount serving data directory DIR: its mount point
 * into MNT (CAP bytes); 1 found, 0 none, or -errno (mount_find.c). */
int ctl_find_mount(const char *dir, char *mnt, size_t cap);
/* Writes request REQ ("compact\n") to MNT/.lsmfs/ctl and waits for the
 * daemon's answer: 0, or the request's -errno. */
int ctl_mount_request(const char *mnt, const char *req);
/* Bytes of the files in data directory DIR (the RESERVE left out). */
uint64_t ctl_dir_bytes(const char *dir);

/* Writes (P, N) to F escaped as lsm_escape does. */
void ctl_put_escaped(FILE *f, const void *p, size_t n);
/* Undoes ctl_put_escaped's \xNN and \\ in place; -1 on a bad escape. */
int ctl_unescape(char *s, size_t *len);
/* Formats a byte count as "12.3 MiB" into BUF (32 bytes). */
const char *ctl_bytes(char *buf, uint64_t n);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
struct ctl_bar {
	const char *label;
	bool tty;
	bool drawn;
	int last_permille;
};
void ctl_bar_init(struct ctl_bar *b, const char *label);
void ctl_bar_update(struct ctl_bar *b, uint64_t done, uint64_t total);
void ctl_bar_end(struct ctl_bar *b); /* erases the bar */

#endif /* LSMFS_CTL_H */

/* main.c - lsmfs-ctl: inspect and administer an lsmfs data directory.
 *   lsmfs-ctl [--help | --version] [--log=WHERE] [--log-level=LEVEL]
 *             COMMAND DATADIR [ARGS]
 * Dispatches to one small file per subcommand (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "logsink.h"

static const struct ctl_cmd *const commands[] = {
	&cmd_get, &cmd_put, &cmd_delete, &cmd_scan, &cmd_stats,
	&cmd_compact, &cmd_check, &cmd_repair, &cmd_dump, &cmd_info,
	&cmd_checkpoint, &cmd_snapshot,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fputs("Usage: lsmfs-ctl [--help | --version] [--log=WHERE] "
	      "[--log-level=LEVEL]\n                 COMMAND DATADIR [ARGS]\n"
	      "       lsmfs-ctl help [COMMAND]\n\n"
	      "Inspects and administers an lsmfs data directory.  Keys are "
	      "paths as the\nmount shows them (a/b/c is MNT/a/b/c).  Commands "
	      "marked (ro) open the store\nread-only; the others need it "
	      "unmounted (not in use by another process).\n\nCommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %-5s %s\n", commands[i]->name,
			commands[i]->read_only ? "(ro)" : "",
			commands[i]->summary);
	fputs("\nThe engine's messages go to --log (stderr, syslog or a file "
	      "[stderr])\nfrom --log-level (error, warn, info, debug [warn]).\n",
	      f);
	fputs("\nExit status: 0 success, 1 check found problems or no such "
	      "key (repair:\ndamage left), 2 data directory in use, 3 no such "
	      "data directory, 4 not an\nlsmfs store, 5 store damaged (repair: "
	      "still does not open), 6 other error,\n64 bad command line.  See "
	      "lsmfs-ctl(1).\n", f);
}

static const struct ctl_cmd *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static int help(int argc, char **argv)
{
	const struct ctl_cmd *c;

	if (argc < 3) {
		usage(stdout);
		return CTL_OK;
	}
	c = find(argv[2]);
	if (!c) {
		ctl_msg("no command '%s' (try lsmfs-ctl --help)", argv[2]);
		return CTL_USAGE;
	}
	ctl_help(c, stdout);
	return CTL_OK;
}

/* Takes the leading --log=WHERE and --log-level=LEVEL out of ARGV and
 * opens the log sink.  -1 to go on, else an exit code. */
static int log_args(int *argc, char ***argv)
{
	const char *target = "stderr", *level = "warn";
	enum logsink_level lvl;
	struct lsm_err err = { 0 };

	while (*argc > 1) {
		const char *a = (*argv)[1];

		if (!strncmp(a, "--log=", 6))
			target = a + 6;
		else if (!strncmp(a, "--log-level=", 12))
			level = a + 12;
		else
			break;
		(*argv)[1] = (*argv)[0];
		(*argc)--;
		(*argv)++;
	}
	if (logsink_parse_level(level, &lvl) < 0) {
		ctl_msg("bad --log-level '%s': use error, warn, info or debug",
			level);
		return CTL_USAGE;
	}
	if (logsink_open("lsmfs-ctl", target, lvl, &err) < 0) {
		ctl_msg("--log=%s: %s", target, err.msg);
		return CTL_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const struct ctl_cmd *c;
	int rc = log_args(&argc, &argv);

	if (rc >= 0)
		return rc;

	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return CTL_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("lsmfs-ctl %s (liblsm %s)\n", LSM_VERSION_STRING,
		       lsm_version());
		return CTL_OK;
	}
	if (!strcmp(argv[1], "help"))
		return help(argc, argv);
	c = find(argv[1]);
	if (!c) {
		ctl_msg("unknown command '%s' (try lsmfs-ctl --help)",
			argv[1]);
		return CTL_USAGE;
	}
	return c->run(c, argc - 1, argv + 1);
}

/* cmd_stats.c - lsmfs-ctl stats: the engine's statistics (lsm_stats text,
 * Prometheus exposition style) and a summary of tables per level. */
#include <stdlib.h>

#include "ctl.h"

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

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	return ctl_run_on_store(c, argc, argv, 0, print_stats);
}

const struct ctl_cmd cmd_stats = {
	.name = "stats",
	.args = "",
	.summary = "print the engine's statistics",
	.help = "Prints lsm_stats lines \"lsm_NAME VALUE\" (Prometheus "
		"exposition format) and\na closing comment with the number of "
		"tables per level.  Gauges (levels,\ntable bytes, sequence) "
		"describe the store; counters count the work of this\n"
		"invocation only (a mounted store's counters are in "
		"MNT/.lsmfs/stats).\n",
	.read_only = true,
	.run = run,
};

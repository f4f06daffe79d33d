/* cmd_compact.c - lsmfs-ctl compact: compact a key range (default: the
 * whole store) down to the deepest level, with a progress bar polled from
 * the engine's statistics in a second thread.  A store mounted by lsmfs is
 * compacted by its daemon, asked through MNT/.lsmfs/ctl. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "lsm_tool.h"

struct poll {
	struct lsm_db *db;
	struct ctl_bar bar;
	uint64_t total, base;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static int add_size(void *ctx, const struct lsm_table_info *t)
{
	*(uint64_t *)ctx += t->size;
	return 0;
}

/* The compaction_bytes_read counter from lsm_stats. */
static uint64_t bytes_read(struct lsm_db *db)
{
	static const char name[] = "\nlsm_compaction_bytes_read ";
	char *text = NULL, *p;
	uint64_t n = 0;

	if (lsm_stats(db, &text, NULL) == 0 && (p = strstr(text, name)))
		n = strtoull(p + strlen(name), NULL, 10);
	free(text);
	return n;
}

static void *poller(void *arg)
{
	struct poll *p = arg;
	struct timespec ts;

	pthread_mutex_lock(&p->mu);
	while (!p->done) {
		ctl_bar_update(&p->bar, bytes_read(p->db) - p->base, p->total);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void print_levels(struct lsm_db *db, const char *when)
{
	unsigned counts[LSM_MAX_LEVELS];

	lsm_level_tables(db, counts, LSM_MAX_LEVELS);
	printf("%s:", when);
	for (unsigned l = 0; l < LSM_MAX_LEVELS; l++)
		if (counts[l])
			printf(" L%u=%u", l, counts[l]);
	printf("\n");
}

static int compact(struct ctl_store *s, char **range, bool has_range)
{
	struct poll p = { .db = s->db, .done = false };
	struct lsm_err err = { 0 };
	size_t slen = 0, elen = 0;
	pthread_t th;
	bool polling;
	int rc;

	if (has_range && (ctl_unescape(range[0], &slen) < 0 ||
			  ctl_unescape(range[1], &elen) < 0)) {
		ctl_msg("bad \\x escape in START or END");
		return CTL_USAGE;
	}
	lsm_tables(s->db, add_size, &p.total, NULL);
	p.base = bytes_read(s->db);
	ctl_bar_init(&p.bar, "compacting");
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	print_levels(s->db, "before");
	polling = p.bar.tty && pthread_create(&th, NULL, poller, &p) == 0;
	rc = lsm_compact_range(s->db, has_range ? range[0] : NULL, slen,
			       has_range ? range[1] : NULL, elen, &err);
	pthread_mutex_lock(&p.mu);
	p.done = true;
	pthread_cond_signal(&p.cv);
	pthread_mutex_unlock(&p.mu);
	if (polling)
		pthread_join(th, NULL);
	ctl_bar_end(&p.bar);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	if (rc < 0)
		return ctl_fail(s->dir, rc, &err);
	print_levels(s->db, "after");
	return CTL_OK;
}

/* The whole store, by the daemon that has DIR mounted on MNT. */
static int compact_mounted(const char *dir, const char *mnt)
{
	char a[32], b[32];
	uint64_t before = ctl_dir_bytes(dir);
	int rc;

	printf("%s is mounted on %s: compacting through %s/.lsmfs/ctl\n",
	       dir, mnt, mnt);
	fflush(stdout);
	rc = ctl_mount_request(mnt, "compact\n");
	if (rc < 0) {
		ctl_msg("%s: the compaction the mount ran failed: %s (its log "
			"says more)", dir, strerror(-rc));
		return ctl_exit_code(rc);
	}
	printf("on disk: %s -> %s\n", ctl_bytes(a, before),
	       ctl_bytes(b, ctl_dir_bytes(dir)));
	return CTL_OK;
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct ctl_store s;
	char mnt[PATH_MAX];
	char *pos[argc];
	int n, rc = ctl_args(c, argc, argv, NULL, 1, 3, pos, &n);

	if (rc >= 0)
		return rc;
	if (n == 2) {
		ctl_msg("compact takes both START and END, or neither");
		return CTL_USAGE;
	}
	if (ctl_find_mount(pos[0], mnt, sizeof(mnt)) == 1) {
		if (n == 3) {
			ctl_msg("%s is mounted on %s: only the whole store can "
				"be compacted through the mount (no START END)",
				pos[0], mnt);
			return CTL_BUSY;
		}
		return compact_mounted(pos[0], mnt);
	}
	rc = ctl_open(&s, c, pos[0], CTL_OPEN_NOBG);
	if (rc != CTL_OK)
		return rc;
	rc = compact(&s, pos + 1, n == 3);
	n = ctl_close(&s);
	return rc != CTL_OK ? rc : n;
}

const struct ctl_cmd cmd_compact = {
	.name = "compact",
	.args = "[START END]",
	.summary = "compact the store (or an engine key range) now",
	.help = "Merges every table overlapping [START, END] down to the "
		"deepest level holding\ndata, dropping overwritten versions "
		"and deleted entries; prints the tables\nper level before and "
		"after.  START and END are engine keys as dump prints\nthem "
		"(\\xNN escapes allowed), not paths; without them the whole "
		"store is\ncompacted.  Shows a progress bar when standard "
		"error is a terminal.\nA store mounted by lsmfs is compacted "
		"by the mount (the whole store only):\nthe command asks "
		"through MOUNTPOINT/.lsmfs/ctl and waits until it is done.\n",
	.read_only = false,
	.run = run,
};

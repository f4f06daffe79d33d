/* db_snapshot.c - durable named snapshots (lsm.h, "Durable snapshots").
 *
 * A durable snapshot is a sequence number with a name, an id and a time,
 * kept in the version set's list (vs.snaps) and logged to the manifest as
 * field 66, the whole list in each edit that changes it (and in the first
 * record of every manifest); the ro_compat feature `snapshots` is set
 * while the list is not empty, so that a build that does not know field 66
 * cannot write the store (and compact away what a snapshot pins).
 * Compaction treats the durable snapshots like the in-memory ones
 * (db->snapshots): db_snapshot_seqs gives it both, and it keeps the newest
 * version of every key in each stripe between two of them
 * (compaction.c, drop_entry).  A read handle (lsm_snapshot_open) is an
 * ordinary in-memory snapshot at the durable one's sequence number, so it
 * keeps reading after a drop until it is released.
 *
 * Locking: everything here runs under db->mu (the manifest append too, as
 * compaction's install does). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_impl.h"

int lsm_snapshot_name_check(const char *name, struct lsm_err *err)
{
	size_t len = name ? strnlen(name, LSM_SNAPSHOT_NAME_MAX + 1) : 0;

	if (!name || !snapshot_name_valid(name, len))
		return lsm_err_set(err, -EINVAL,
				   "snapshot name '%.*s': use 1 to %d of "
				   "A-Z a-z 0-9 . _ - (not starting with '.')",
				   (int)(len < 80 ? len : 80), name ? name : "",
				   LSM_SNAPSHOT_NAME_MAX);
	return 0;
}

/* The index of snapshot NAME in vs.snaps, or -1 (under mu). */
static long find(const struct lsm_db *db, const char *name)
{
	for (size_t i = 0; i < db->vs.nsnaps; i++)
		if (strcmp(db->vs.snaps[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* Logs the list SNAPS (N entries) as the store's snapshots, setting or
 * clearing the ro_compat feature with it (under mu). */
static int log_list(struct lsm_db *db, const struct lsm_snapshot_info *snaps,
		    size_t n, struct lsm_err *err)
{
	struct version_edit e;
	uint64_t ro = db->vs.features.ro_compat;
	int rc;

	version_edit_init(&e);
	rc = version_edit_set_snapshots(&e, snaps, n);
	if (rc < 0)
		return lsm_err_set(err, rc, "out of memory");
	ro = n ? ro | LSM_FEAT_RO_COMPAT_SNAPSHOTS
	       : ro & ~(uint64_t)LSM_FEAT_RO_COMPAT_SNAPSHOTS;
	if (ro != db->vs.features.ro_compat) {
		e.has_features = true;
		e.features = db->vs.features;
		e.features.ro_compat = ro;
	}
	{
		uint64_t seq = atomic_load(&db->last_seq);

		if (db->vs.last_seq < seq)
			db->vs.last_seq = seq;
	}
	rc = db_log_and_apply(db, &e, err);
	if (rc < 0 && db_manifest_error_fatal(db, rc))
		db_set_bg_error(db, rc, err);
	version_edit_free(&e);
	return rc;
}

static int writable(struct lsm_db *db, struct lsm_err *err)
{
	if (db->read_only || db->opts.follow)
		return lsm_err_set(err, -EROFS, "%s: snapshots are taken and "
				   "dropped on the store's writer, not a "
				   "read-only or following open", db->dir);
	if (db->bg_error)
		return lsm_err_set(err, db->bg_error, "%s", db->bg_err.msg);
	if (!vset_writable(&db->vs))
		return lsm_err_set(err, -EROFS, "%s: manifest not writable",
				   db->dir);
	return 0;
}

int lsm_snapshot_create(struct lsm_db *db, const char *name,
			struct lsm_snapshot_info *out, struct lsm_err *err)
{
	struct lsm_snapshot_info *list, *s;
	const struct lsm_snapshot *pin;
	struct timespec now;
	bool used[LSM_SNAPSHOT_ID_MAX + 1] = { false };
	uint32_t id = 0;
	uint64_t seq;
	size_t n;
	int rc = lsm_snapshot_name_check(name, err);

	if (rc < 0)
		return rc;
	if (db->read_only || db->opts.follow)
		return writable(db, err);
	/* The sequence number is pinned by an in-memory snapshot from the
	 * instant it is read until the manifest lists it: a compaction
	 * meanwhile must not drop what it sees (a write after it would hide
	 * an older version otherwise). */
	pin = lsm_snapshot_new(db);
	if (!pin)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	seq = pin->seq;
	/* Every write acknowledged before the call becomes durable before the
	 * snapshot is recorded: after a crash, recovery must not come back
	 * below its sequence number and hand those numbers out again (the
	 * snapshot would then see later writes). */
	rc = lsm_sync(db, err);
	if (rc < 0) {
		lsm_snapshot_release(db, pin);
		return rc;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&db->mu);
	rc = writable(db, err);
	if (rc < 0)
		goto out;
	n = db->vs.nsnaps;
	if (find(db, name) >= 0) {
		rc = lsm_err_set(err, -EEXIST, "snapshot '%s' exists", name);
		goto out;
	}
	if (n >= LSM_SNAPSHOTS_MAX) {
		rc = lsm_err_set(err, -ENOSPC, "%s: %d snapshots exist, the "
				 "most there can be: drop one first", db->dir,
				 LSM_SNAPSHOTS_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		used[db->vs.snaps[i].id] = true;
	for (id = 1; id <= LSM_SNAPSHOT_ID_MAX && used[id]; id++)
		;
	list = malloc((n + 1) * sizeof(*list));
	if (!list) {
		rc = lsm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (n)
		memcpy(list, db->vs.snaps, n * sizeof(*list));
	s = &list[n];
	memset(s, 0, sizeof(*s));
	strcpy(s->name, name);
	s->id = id;
	s->seq = seq;
	s->time_sec = now.tv_sec;
	s->time_nsec = (uint32_t)now.tv_nsec;
	rc = log_list(db, list, n + 1, err);
	if (rc == 0) {
		if (out)
			*out = *s;
		db_log(db, LSM_LOG_INFO, "snapshot '%s' (id %u) taken at "
		       "sequence %llu", name, id, (unsigned long long)seq);
	}
	free(list);
out:
	pthread_mutex_unlock(&db->mu);
	lsm_snapshot_release(db, pin);
	return rc;
}

int lsm_snapshot_drop(struct lsm_db *db, const char *name,
		      struct lsm_err *err)
{
	struct lsm_snapshot_info *list = NULL;
	size_t n;
	long at;
	int rc = lsm_snapshot_name_check(name, err);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	at = find(db, name);
	if (at < 0) {
		rc = lsm_err_set(err, -ENOENT, "no snapshot '%s'", name);
		goto out;
	}
	rc = writable(db, err);
	if (rc < 0)
		goto out;
	n = db->vs.nsnaps - 1;
	if (n && !(list = malloc(n * sizeof(*list)))) {
		rc = lsm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (n) {
		memcpy(list, db->vs.snaps, (size_t)at * sizeof(*list));
		memcpy(list + at, db->vs.snaps + at + 1,
		       (n - (size_t)at) * sizeof(*list));
	}
	rc = log_list(db, list, n, err);
	free(list);
	if (rc == 0) {
		db_log(db, LSM_LOG_INFO, "snapshot '%s' dropped", name);
		/* the idle pass rewrites the tables holding kept versions,
		 * once each (their outputs get newer numbers) */
		db->snap_reclaim_below = db->vs.next_file;
		db_bg_kick(db);
	}
out:
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int lsm_snapshot_list(struct lsm_db *db, struct lsm_snapshot_info **out,
		      size_t *n, struct lsm_err *err)
{
	struct lsm_snapshot_info *p = NULL;
	int rc = 0;

	pthread_mutex_lock(&db->mu);
	if (db->vs.nsnaps) {
		p = malloc(db->vs.nsnaps * sizeof(*p));
		if (!p)
			rc = lsm_err_set(err, -ENOMEM, "out of memory");
		else
			memcpy(p, db->vs.snaps, db->vs.nsnaps * sizeof(*p));
	}
	*n = p ? db->vs.nsnaps : 0;
	pthread_mutex_unlock(&db->mu);
	*out = p;
	return rc;
}

int lsm_snapshot_open(struct lsm_db *db, const char *name,
		      const struct lsm_snapshot **out,
		      struct lsm_snapshot_info *info, struct lsm_err *err)
{
	struct lsm_snapshot *s;
	uint64_t seq = 0;
	long at;
	int rc = lsm_snapshot_name_check(name, err);

	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	/* A follower's compactions are the writer's, which keep what the
	 * durable snapshot sees; holding the state read keeps its tables
	 * open as for lsm_snapshot_new. */
	if (db->opts.follow)
		s->sv = db_super_get(db, &seq);
	pthread_mutex_lock(&db->mu);
	at = find(db, name);
	if (at < 0) {
		pthread_mutex_unlock(&db->mu);
		if (s->sv)
			db_super_put(db, s->sv);
		free(s);
		return lsm_err_set(err, -ENOENT, "no snapshot '%s'", name);
	}
	s->seq = db->vs.snaps[at].seq;
	s->durable = true;
	if (info)
		*info = db->vs.snaps[at];
	s->next = &db->snapshots;
	s->prev = db->snapshots.prev;
	s->prev->next = s;
	db->snapshots.prev = s;
	pthread_mutex_unlock(&db->mu);
	*out = s;
	return 0;
}

void db_snapshot_released(struct lsm_db *db, const struct lsm_snapshot *s)
{
	for (size_t i = 0; i < db->vs.nsnaps; i++)
		if (db->vs.snaps[i].seq == s->seq)
			return; /* still taken */
	if (db->read_only || db->opts.follow)
		return;
	db->snap_reclaim_below = db->vs.next_file;
	db_bg_kick(db);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int db_snapshot_seqs(struct lsm_db *db, uint64_t **out, size_t *n)
{
	size_t cap = 1 + db->vs.nsnaps, k = 0, u = 0;
	const struct lsm_snapshot *s;
	uint64_t *a;

	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		cap++;
	a = malloc(cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		a[k++] = s->seq;
	for (size_t i = 0; i < db->vs.nsnaps; i++)
		a[k++] = db->vs.snaps[i].seq;
	a[k++] = atomic_load(&db->last_seq);
	qsort(a, k, sizeof(*a), cmp_u64);
	for (size_t i = 0; i < k; i++)
		if (u == 0 || a[u - 1] != a[i])
			a[u++] = a[i];
	*out = a;
	*n = u;
	return 0;
}

uint64_t db_oldest_snapshot(struct lsm_db *db)
{
	uint64_t min = atomic_load(&db->last_seq);
	const struct lsm_snapshot *s;

	/* a handle on a durable snapshot joins the list out of order */
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		if (s->seq < min)
			min = s->seq;
	for (size_t i = 0; i < db->vs.nsnaps; i++)
		if (db->vs.snaps[i].seq < min)
			min = db->vs.snaps[i].seq;
	return min;
}

uint64_t db_snapshot_pinned_bytes(struct lsm_db *db)
{
	const struct version *v = db->vs.current;
	uint64_t sum = 0;

	if (!v)
		return 0;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++)
			sum += v->files[l][i]->pinned_bytes;
	return sum;
}

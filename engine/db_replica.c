/* db_replica.c - what replication needs of a store: its identity and
 * generations (engine/doc/manifest.md, "Identity").  lsm_apply (the
 * write path of a replica) is in db_write.c, the log archive in
 * db_archive.c. */
#include <errno.h>
#include <string.h>

#include "db_impl.h"

int lsm_identity_get(struct lsm_db *db, struct lsm_identity *out)
{
	int rc = 0;

	pthread_mutex_lock(&db->mu);
	if (db->vs.has_identity)
		*out = db->vs.identity;
	else
		rc = -ENOENT; /* a store made before identities, read-only */
	pthread_mutex_unlock(&db->mu);
	return rc;
}

/* True when history P extends history R: the same id, and every
 * generation R knows starts where P says. */
static bool extends(const struct lsm_identity *p, const struct lsm_identity *r)
{
	if (memcmp(p->id, r->id, LSM_STORE_ID_BYTES) != 0)
		return false;
	for (unsigned i = 0; i < r->nhistory; i++) {
		const struct lsm_generation *g = &r->history[i];
		bool found = false;

		for (unsigned j = 0; j < p->nhistory; j++)
			if (p->history[j].generation == g->generation) {
				if (p->history[j].start_seq != g->start_seq)
					return false;
				found = true;
			}
		/* generations older than P keeps are past checking */
		if (!found && g->generation >= p->history[0].generation)
			return false;
	}
	return p->generation >= r->generation;
}

int lsm_identity_adopt(struct lsm_db *db, const struct lsm_identity *primary,
		       struct lsm_err *err)
{
	struct version_edit e;
	int rc;

	if (!db->opts.replica || db->read_only)
		return lsm_err_set(err, -EINVAL, "%s: only a replica adopts its "
				   "primary's history", db->dir);
	if (primary->nhistory == 0 || primary->nhistory > LSM_HISTORY_MAX)
		return lsm_err_set(err, -EINVAL, "bad history length %u",
				   primary->nhistory);
	pthread_mutex_lock(&db->mu);
	if (db->vs.has_identity && !extends(primary, &db->vs.identity)) {
		pthread_mutex_unlock(&db->mu);
		return lsm_err_set(err, -EINVAL, "%s: the primary's history does "
				   "not extend this replica's (diverged)",
				   db->dir);
	}
	if (db->vs.has_identity &&
	    !memcmp(&db->vs.identity.history, &primary->history,
		    sizeof(primary->history)) &&
	    db->vs.identity.nhistory == primary->nhistory) {
		pthread_mutex_unlock(&db->mu);
		return 0; /* nothing new */
	}
	version_edit_init(&e);
	e.has_identity = true;
	e.identity = *primary;
	e.identity.replica = true;
	e.identity.generation = primary->history[primary->nhistory - 1]
					.generation;
	rc = db_log_and_apply(db, &e, err);
	if (rc == 0 && db_super_install(db) < 0)
		rc = lsm_err_set(err, -ENOMEM, "out of memory");
	version_edit_free(&e);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int lsm_epochs_get(struct lsm_db *db, struct lsm_epoch *out, unsigned cap,
		   unsigned *n)
{
	pthread_mutex_lock(&db->mu);
	*n = db->vs.nepochs < cap ? db->vs.nepochs : cap;
	memcpy(out, db->vs.epochs + (db->vs.nepochs - *n),
	       *n * sizeof(*out));
	pthread_mutex_unlock(&db->mu);
	return 0;
}

/* The epoch of LIST (N) that sequence SEQ lies in, or NULL (before the
 * first). */
static const struct lsm_epoch *epoch_of(const struct lsm_epoch *list,
					unsigned n, uint64_t seq)
{
	const struct lsm_epoch *at = NULL;

	for (unsigned i = 0; i < n && list[i].start_seq <= seq; i++)
		at = &list[i];
	return at;
}

int lsm_epochs_adopt(struct lsm_db *db, const struct lsm_epoch *e,
		     unsigned n, struct lsm_err *err)
{
	struct version_edit ed;
	const struct lsm_epoch *mine;
	uint64_t seq;
	int rc;

	if (!db->opts.replica || db->read_only)
		return lsm_err_set(err, -EINVAL, "%s: only a replica adopts its "
				   "primary's epochs", db->dir);
	if (n == 0 || n > LSM_EPOCHS_MAX)
		return lsm_err_set(err, -EINVAL, "bad epoch count %u", n);
	for (unsigned i = 0; i < n; i++)
		if (e[i].tag == 0 || e[i].start_seq == 0 ||
		    (i && e[i].start_seq <= e[i - 1].start_seq))
			return lsm_err_set(err, -EINVAL, "epochs out of order");
	pthread_mutex_lock(&db->mu);
	seq = atomic_load(&db->last_seq);
	mine = epoch_of(db->vs.epochs, db->vs.nepochs, seq);
	if (mine && mine->start_seq >= e[0].start_seq) {
		const struct lsm_epoch *theirs = epoch_of(e, n, seq);

		if (!theirs || theirs->tag != mine->tag ||
		    theirs->start_seq != mine->start_seq) {
			pthread_mutex_unlock(&db->mu);
			return lsm_err_set(err, -EINVAL, "%s: sequence %llu "
					   "lies in another epoch on the "
					   "primary (diverged)", db->dir,
					   (unsigned long long)seq);
		}
	}
	if (db->vs.nepochs == n &&
	    !memcmp(db->vs.epochs, e, n * sizeof(*e))) {
		pthread_mutex_unlock(&db->mu);
		return 0; /* nothing new */
	}
	version_edit_init(&ed);
	ed.has_epochs = true;
	ed.nepochs = n;
	memcpy(ed.epochs, e, n * sizeof(*e));
	/* (a writable open set the feature: vset_rewrite) */
	rc = db_log_and_apply(db, &ed, err);
	version_edit_free(&ed);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

/* expire.c - the daemon's expiry thread: purges expired files in the
 * background (ns_expire_run, as often as the expiry index asks, at most
 * once per FS_EXPIRE_MAX_MS when nothing is due) and tells the kernel of
 * every name a purge or an eviction removed (fuse_lowlevel_notify_delete),
 * so that its caches drop the file and forget the inode.  Before that,
 * NS_CACHE_MARGIN_NS ahead of each expiry, it has the kernel drop every
 * name of the file (fuse_lowlevel_notify_inval_entry): the kernel may
 * hold one from before the TTL was set, for the whole entry timeout,
 * and from the instant of expiry each lookup must come to the daemon,
 * which answers ENOENT, whether or not the purge has run yet.
 * Notifications are sent from this thread only: never from a request
 * handler, and with no namespace lock held. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"

#define FS_EXPIRE_BATCH 1024u     /* files per purge pass */
#define FS_EXPIRE_MAX_MS 1000u    /* longest sleep between passes */
#define FS_EXPIRE_MIN_MS 10u      /* shortest (a file that would not go) */
#define FS_GONE_MAX 65536u        /* notifications kept; more are dropped:
				   * the kernel then learns at its next
				   * lookup, capped by the timeouts */

struct gone {
	struct gone *next;
	int why; /* NS_DROP_*: deleted; 0: about to expire (invalidate) */
	uint64_t parent, ino;
	size_t nlen;
	char name[];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop, kicked;
	bool rewind; /* a TTL was set: tell the names due soon again */
	struct gone *head, **tail;
	unsigned n;
	struct lsmfs *fs;
} ex = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

void fs_gone(void *ctx, int why, uint64_t parent, uint64_t ino,
	     const char *name, size_t nlen)
{
	struct gone *g;

	(void)ctx;
	fs_log(FS_LOG_DEBUG, "%s '%.*s' (inode %llu, directory %llu)",
	       why == NS_DROP_EVICT ? "evicted" :
	       why ? "expired" : "expires soon, dropped from the kernel",
	       (int)nlen, name, (unsigned long long)ino,
	       (unsigned long long)parent);
	pthread_mutex_lock(&ex.mu);
	if (ex.running && ex.n < FS_GONE_MAX &&
	    (g = malloc(sizeof(*g) + nlen + 1)) != NULL) {
		g->next = NULL;
		g->why = why;
		g->parent = parent;
		g->ino = ino;
		g->nlen = nlen;
		memcpy(g->name, name, nlen);
		g->name[nlen] = '\0';
		*ex.tail = g;
		ex.tail = &g->next;
		ex.n++;
		pthread_cond_signal(&ex.cv);
	}
	pthread_mutex_unlock(&ex.mu);
}

static void notify_all(struct lsmfs *fs)
{
	struct gone *g;

	pthread_mutex_lock(&ex.mu);
	g = ex.head;
	ex.head = NULL;
	ex.tail = &ex.head;
	ex.n = 0;
	pthread_mutex_unlock(&ex.mu);
	while (g) {
		struct gone *next = g->next;

		/* ENOENT: the kernel did not have the name; nothing to do */
		if (g->why)
			fuse_lowlevel_notify_delete(fs->session, g->parent,
						    g->ino, g->name, g->nlen);
		else
			fuse_lowlevel_notify_inval_entry(fs->session,
							 g->parent, g->name,
							 g->nlen);
		free(g);
		g = next;
	}
}

/* Milliseconds from NOW until instant AT (0 when past), at most CAP. */
static uint64_t ms_until(uint64_t at, uint64_t now, uint64_t cap)
{
	uint64_t ms;

	if (at <= now)
		return 0;
	ms = (at - now) / 1000000u + 1;
	return ms < cap ? ms : cap;
}

static void *expire_main(void *arg)
{
	struct lsmfs *fs = arg;
	unsigned failures = 0;
	/* every file expiring up to TOLD has had its names dropped from the
	 * kernel's cache */
	uint64_t told = ns_now_ns(), told_next = 0;

	pthread_mutex_lock(&ex.mu);
	while (!ex.stop) {
		struct lsm_err err = { 0 };
		uint64_t next = 0, now, wait_ms = FS_EXPIRE_MAX_MS;
		unsigned done = 0;
		struct timespec ts;
		int rc;

		if (ex.rewind) {
			ex.rewind = false;
			told = ns_now_ns();
			told_next = 0;
		}
		pthread_mutex_unlock(&ex.mu);
		rc = ns_expire_run(fs->ns, FS_EXPIRE_BATCH, fs_gone, fs, &done,
				   &next, &err);
		now = ns_now_ns();
		if (rc == 0 && told < now + NS_CACHE_MARGIN_NS) {
			/* a file expired before it was told goes by the purge */
			if (told < now)
				told = now;
			/* twice the margin ahead: one pass (and at most one
			 * scan of the entries) per margin, not per file */
			rc = ns_expire_names(fs->ns, told,
					     now + 2 * NS_CACHE_MARGIN_NS,
					     FS_EXPIRE_BATCH, fs_gone, fs, &told,
					     &told_next, &err);
		}
		if (rc < 0 && failures++ % 60 == 0)
			fs_log(FS_LOG_WARN, "purging expired files: %s",
			       err.msg);
		else if (rc == 0)
			failures = 0;
		if (done)
			fs_log(FS_LOG_DEBUG, "purged %u expired files", done);
		notify_all(fs);
		now = ns_now_ns();
		if (next && next <= now)
			wait_ms = done ? 0 : FS_EXPIRE_MIN_MS;
		else if (next)
			wait_ms = ms_until(next, now, wait_ms);
		/* the next file to tell, NS_CACHE_MARGIN_NS before it expires */
		if (told_next && wait_ms)
			wait_ms = ms_until(told_next - NS_CACHE_MARGIN_NS, now,
					   wait_ms);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(wait_ms / 1000);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&ex.mu);
		if (!ex.stop && !ex.head && !ex.kicked && wait_ms)
			pthread_cond_timedwait(&ex.cv, &ex.mu, &ts);
		ex.kicked = false;
	}
	pthread_mutex_unlock(&ex.mu);
	return NULL;
}

void fs_expire_kick(void)
{
	pthread_mutex_lock(&ex.mu);
	ex.kicked = true;
	ex.rewind = true;
	pthread_cond_signal(&ex.cv);
	pthread_mutex_unlock(&ex.mu);
}

void fs_expire_start(struct lsmfs *fs)
{
	if (fs->read_only)
		return;
	pthread_mutex_lock(&ex.mu);
	ex.fs = fs;
	ex.stop = false;
	ex.rewind = false;
	ex.head = NULL;
	ex.tail = &ex.head;
	ex.n = 0;
	ex.running = pthread_create(&ex.thread, NULL, expire_main, fs) == 0;
	pthread_mutex_unlock(&ex.mu);
	if (!ex.running)
		fs_log(FS_LOG_WARN, "no expiry thread: expired files are "
		       "hidden but not purged until the next mount");
}

void fs_expire_stop(struct lsmfs *fs)
{
	struct gone *g;

	(void)fs;
	pthread_mutex_lock(&ex.mu);
	if (!ex.running) {
		pthread_mutex_unlock(&ex.mu);
		return;
	}
	ex.stop = true;
	pthread_cond_signal(&ex.cv);
	pthread_mutex_unlock(&ex.mu);
	pthread_join(ex.thread, NULL);
	pthread_mutex_lock(&ex.mu);
	ex.running = false;
	g = ex.head;
	ex.head = NULL;
	ex.tail = &ex.head;
	pthread_mutex_unlock(&ex.mu);
	while (g) {
		struct gone *next = g->next;

		free(g);
		g = next;
	}
}

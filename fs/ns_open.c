/* ns_open.c - the references that keep an inode alive after its last
 * unlink: the kernel's lookup count of every inode it knows, and open file
 * handles.  One entry per referenced inode in a chained hash table under
 * open_mu, which doubles when it holds more entries than buckets, so a
 * reference costs the same with a thousand or ten million known inodes. */
#include "ns_priv.h"

#include <stdlib.h>

static size_t slot_of(uint64_t ino, size_t mask)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ (h >> 29)) & mask;
}

/* Where INO's entry is, or where it would go: the link that points at it
 * (or at NULL).  The table must have buckets. */
static struct ns_openref **open_slot(struct ns *ns, uint64_t ino)
{
	struct ns_openref **p = &ns->open.bucket[slot_of(ino, ns->open.mask)];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

/* A lookup in a table that may have no buckets yet: NULL when absent. */
static struct ns_openref *open_find(struct ns *ns, uint64_t ino)
{
	return ns->open.bucket ? *open_slot(ns, ino) : NULL;
}

/* Doubles the buckets once the entries outnumber them.  When the new
 * array cannot be had the table keeps working, with longer chains. */
static void open_grow(struct ns *ns)
{
	struct ns_openrefs *t = &ns->open;
	size_t n = (t->mask + 1) * 2, mask = n - 1;
	struct ns_openref **b;

	if (t->count <= t->mask + 1 || n < t->mask + 1)
		return;
	b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		while (t->bucket[i]) {
			struct ns_openref *r = t->bucket[i];
			size_t j = slot_of(r->ino, mask);

			t->bucket[i] = r->next;
			r->next = b[j];
			b[j] = r;
		}
	}
	free(t->bucket);
	t->bucket = b;
	t->mask = mask;
}

/* One more reference to INO (open_mu held): its entry, or NULL when none
 * could be recorded (no memory: refs_lost is set, and orphans wait for
 * the next unmount or mount). */
static struct ns_openref *ref_locked(struct ns *ns, uint64_t ino)
{
	struct ns_openref **p, *r;

	if (!ns->open.bucket) {
		ns->open.bucket = calloc(NS_OPEN_MIN_BUCKETS,
					 sizeof(*ns->open.bucket));
		ns->open.mask = NS_OPEN_MIN_BUCKETS - 1;
		if (!ns->open.bucket) {
			ns->refs_lost = true;
			return NULL;
		}
	}
	p = open_slot(ns, ino);
	if (*p) {
		(*p)->count++;
		return *p;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		ns->refs_lost = true;
		return NULL;
	}
	r->ino = ino;
	r->count = 1;
	*p = r;
	ns->open.count++;
	open_grow(ns);
	return r;
}

void ns_open_ref(struct ns *ns, uint64_t ino)
{
	pthread_mutex_lock(&ns->open_mu);
	(void)ref_locked(ns, ino);
	pthread_mutex_unlock(&ns->open_mu);
}

void ns_open_handle(struct ns *ns, uint64_t ino, const struct codec_inode *in)
{
	struct ns_openref *r;

	pthread_mutex_lock(&ns->open_mu);
	r = ref_locked(ns, ino); /* the reference and the handle at once */
	if (r)
		r->handles++;
	pthread_mutex_unlock(&ns->open_mu);
	ns_cap_opened(ns, ino, in);
}

bool ns_has_handle(struct ns *ns, uint64_t ino)
{
	struct ns_openref *r;
	bool open;

	pthread_mutex_lock(&ns->open_mu);
	r = open_find(ns, ino);
	open = ns->refs_lost || (r && r->handles > 0);
	pthread_mutex_unlock(&ns->open_mu);
	return open;
}

int ns_close_handle(struct ns *ns, uint64_t ino, struct lsm_err *err)
{
	struct ns_openref *r;
	bool last = false;

	pthread_mutex_lock(&ns->open_mu);
	r = open_find(ns, ino);
	if (r && r->handles > 0)
		last = --r->handles == 0;
	pthread_mutex_unlock(&ns->open_mu);
	/* The use is stored while the reference still holds the inode (a
	 * reclaim cannot run between): only then is it dropped. */
	if (last && ns->clock)
		ns_cap_persist_use(ns, ino);
	return ns_close_ref(ns, ino, err);
}

bool ns_is_open(struct ns *ns, uint64_t ino)
{
	bool open;

	pthread_mutex_lock(&ns->open_mu);
	open = ns->refs_lost || open_find(ns, ino) != NULL;
	pthread_mutex_unlock(&ns->open_mu);
	return open;
}

int ns_unref(struct ns *ns, uint64_t ino, uint64_t n, struct lsm_err *err)
{
	struct ns_openref **p, *r;
	bool last = false;

	pthread_mutex_lock(&ns->open_mu);
	p = ns->open.bucket ? open_slot(ns, ino) : NULL;
	if (p && *p && (*p)->count <= n) {
		r = *p;
		*p = r->next;
		free(r);
		ns->open.count--;
		last = true;
	} else if (p && *p) {
		(*p)->count -= n;
		if ((*p)->handles > (*p)->count)
			(*p)->handles = (*p)->count;
	}
	pthread_mutex_unlock(&ns->open_mu);
	if (!last || ns->opt.read_only)
		return 0;
	return ns_reclaim(ns, ino, err);
}

int ns_close_ref(struct ns *ns, uint64_t ino, struct lsm_err *err)
{
	return ns_unref(ns, ino, 1, err);
}

uint64_t *ns_referenced(struct ns *ns, size_t *n)
{
	uint64_t *a = NULL;
	size_t k = 0;

	pthread_mutex_lock(&ns->open_mu);
	if (ns->open.count == 0)
		goto out;
	a = malloc(ns->open.count * sizeof(*a));
	if (!a)
		goto out;
	for (size_t i = 0; i <= ns->open.mask; i++)
		for (struct ns_openref *r = ns->open.bucket[i]; r; r = r->next)
			a[k++] = r->ino;
out:
	pthread_mutex_unlock(&ns->open_mu);
	*n = k;
	return a;
}

void ns_clear_refs(struct ns *ns)
{
	pthread_mutex_lock(&ns->open_mu);
	for (size_t i = 0; ns->open.bucket && i <= ns->open.mask; i++) {
		while (ns->open.bucket[i]) {
			struct ns_openref *r = ns->open.bucket[i];

			ns->open.bucket[i] = r->next;
			free(r);
		}
	}
	free(ns->open.bucket);
	ns->open.bucket = NULL;
	ns->open.mask = 0;
	ns->open.count = 0;
	ns->refs_lost = false;
	pthread_mutex_unlock(&ns->open_mu);
}

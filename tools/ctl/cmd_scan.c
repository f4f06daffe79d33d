/* cmd_scan.c - lsmfs-ctl scan: the regular files whose paths fall in a
 * range, in bytewise path order, as "path<TAB>size" lines (or with their
 * contents).  A depth-first walk of the directories that can hold paths in
 * the range; each directory's entries are visited in the order of their
 * names, a directory's name counting as NAME/ so the output is sorted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

struct range {
	const char *start, *end; /* [start, end); end NULL: unbounded */
	size_t slen, elen;
};

struct walk {
	struct ns *ns;
	struct range r;
	bool values;
	char *path;   /* current directory's path + '/', grows */
	size_t len, cap;
	unsigned long files;
	struct lsm_err err;
};

struct ent {
	char *key;    /* name, plus '/' for a directory */
	size_t klen;
	uint64_t ino;
	bool dir, reg;
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static int bytecmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	return r ? r : alen < blen ? -1 : alen > blen;
}

static bool in_range(const struct range *r, const char *p, size_t n)
{
	return bytecmp(p, n, r->start, r->slen) >= 0 &&
	       (!r->end || bytecmp(p, n, r->end, r->elen) < 0);
}

/* Whether some path beginning with P (N bytes) can lie in R. */
static bool subtree_in_range(const struct range *r, const char *p, size_t n)
{
	if (memcmp(p, r->start, n < r->slen ? n : r->slen) < 0)
		return false;
	return !r->end || bytecmp(p, n, r->end, r->elen) < 0;
}

static int collect(void *ctx, const struct ns_dirent *d)
{
	struct ents *es = ctx;
	struct ent *e;

	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 64;
		struct ent *v = realloc(es->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		es->v = v;
		es->cap = cap;
	}
	e = &es->v[es->n];
	e->dir = S_ISDIR(d->type);
	e->reg = S_ISREG(d->type);
	e->ino = d->ino;
	e->klen = d->nlen + e->dir;
	e->key = malloc(e->klen + 1);
	if (!e->key)
		return -ENOMEM;
	memcpy(e->key, d->name, d->nlen);
	e->key[d->nlen] = '/'; /* kept only for a directory (klen) */
	e->key[e->klen] = '\0';
	es->n++;
	return 0;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return bytecmp(x->key, x->klen, y->key, y->klen);
}

static void free_ents(struct ents *es)
{
	for (size_t i = 0; i < es->n; i++)
		free(es->v[i].key);
	free(es->v);
}

static bool path_append(struct walk *w, const char *p, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = (w->len + n + 1) * 2;
		char *q = realloc(w->path, cap);

		if (!q)
			return false;
		w->path = q;
		w->cap = cap;
	}
	memcpy(w->path + w->len, p, n);
	w->len += n;
	w->path[w->len] = '\0';
	return true;
}

/* Prints the contents of INO (SIZE bytes) escaped. */
static int print_value(struct walk *w, uint64_t ino, uint64_t size)
{
	static char buf[1 << 20];
	uint64_t off = 0;
	size_t got;
	int rc;

	while (off < size) {
		size_t want = size - off < sizeof(buf) ? (size_t)(size - off) :
			      sizeof(buf);

		rc = ns_read(w->ns, ino, off, want, buf, &got, &w->err);
		if (rc < 0)
			return rc;
		if (got == 0)
			break;
		ctl_put_escaped(stdout, buf, got);
		off += got;
	}
	return 0;
}

static int print_file(struct walk *w, const struct ent *e)
{
	struct ns_attr a;
	int rc = ns_getattr(w->ns, e->ino, &a, &w->err);

	if (rc < 0)
		return rc;
	ctl_put_escaped(stdout, w->path, w->len);
	if (w->values) {
		putchar('\t');
		rc = print_value(w, e->ino, a.in.size);
		putchar('\n');
	} else {
		printf("\t%llu\n", (unsigned long long)a.in.size);
	}
	w->files++;
	return rc;
}

static int walk_dir(struct walk *w, uint64_t dir);

static int visit(struct walk *w, const struct ent *e)
{
	size_t len = w->len;
	int rc = 0;

	if (!path_append(w, e->key, e->klen))
		return -ENOMEM;
	if (e->dir && subtree_in_range(&w->r, w->path, w->len))
		rc = walk_dir(w, e->ino);
	else if (e->reg && in_range(&w->r, w->path, w->len))
		rc = print_file(w, e);
	w->len = len;
	w->path[len] = '\0';
	return rc;
}

static int walk_dir(struct walk *w, uint64_t dir)
{
	struct ents es = { 0 };
	int rc = ns_readdir(w->ns, dir, NULL, collect, &es, &w->err);

	if (rc == -ENOMEM)
		lsm_err_set(&w->err, rc, "out of memory");
	if (rc == 0)
		qsort(es.v, es.n, sizeof(*es.v), cmp_ent);
	for (size_t i = 0; rc == 0 && i < es.n; i++)
		rc = visit(w, &es.v[i]);
	free_ents(&es);
	return rc;
}

/* START alone means the paths beginning with START: [START, successor). */
static char *prefix_end(const char *start, size_t *elen)
{
	size_t n = strlen(start);
	char *end = strdup(start);

	while (end && n > 0 && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (!end || n == 0) {
		free(end);
		return NULL;
	}
	end[n - 1]++;
	*elen = n;
	return end;
}

static int scan(struct ctl_store *s, struct walk *w)
{
	int rc;

	w->ns = s->ns;
	rc = walk_dir(w, CODEC_ROOT_INO);
	free(w->path);
	if (fflush(stdout) != 0)
		return ctl_fail("stdout", -errno, NULL);
	return rc < 0 ? ctl_fail(s->dir, rc, &w->err) : CTL_OK;
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct walk w = { .r = { .start = "" } };
	struct ctl_flag flags[] = { { "values", &w.values }, { NULL } };
	struct ctl_store s;
	char *pos[argc], *end = NULL;
	int n, rc = ctl_args(c, argc, argv, flags, 1, 3, pos, &n);

	if (rc >= 0)
		return rc;
	if (n >= 2) {
		w.r.start = pos[1];
		w.r.slen = strlen(pos[1]);
	}
	if (n == 3) {
		w.r.end = pos[2];
		w.r.elen = strlen(pos[2]);
	} else if (n == 2) {
		w.r.end = end = prefix_end(pos[1], &w.r.elen);
	}
	rc = ctl_open(&s, c, pos[0], CTL_OPEN_NS);
	if (rc == CTL_OK) {
		rc = scan(&s, &w);
		n = ctl_close(&s);
		rc = rc != CTL_OK ? rc : n;
	}
	free(end);
	return rc;
}

const struct ctl_cmd cmd_scan = {
	.name = "scan",
	.args = "[--values] [START [END]]",
	.summary = "list the files whose paths are in a range",
	.help = "Prints one line per regular file, in bytewise order of "
		"paths: \"PATH<TAB>SIZE\",\nor with --values "
		"\"PATH<TAB>CONTENTS\".  Paths and contents are printed with "
		"bytes\noutside printable ASCII as \\xNN and a backslash as "
		"\\\\.\n\n  (no range)   every file\n  START        the "
		"paths beginning with START (\"a/\": what ls -R MNT/a shows)\n"
		"  START END    the paths P with START <= P < END\n\n"
		"  --values     print the contents instead of the size\n",
	.read_only = true,
	.run = run,
};

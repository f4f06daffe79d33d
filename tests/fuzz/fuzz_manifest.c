/* fuzz_manifest.c - manifest recovery (vset_recover over a CURRENT and a
 * manifest made from the input) and version edit decoding
 * (version_edit_decode of every record).
 *
 * The first input byte M:
 *   bit 0      0: the manifest is the rest of the input, as is;
 *              1: the rest is a list of records (u16le length | bytes)
 *                 that the target frames with wal_append;
 *   bit 1      1: CURRENT comes first in the input (a length byte, then
 *                 its text); 0: CURRENT is "MANIFEST-000001\n";
 *   bits 2..5  max_levels - 1 (modulo 12).
 * Properties: recovery fails only with -EUCLEAN, -EBADMSG or -ENOENT, with
 * a message and no descriptor left open; a recovered state is consistent
 * (version_check passes, every table and the manifest numbered below
 * next_file, levels below max_levels, last_seq in range); a writable
 * recovery of the same files succeeds with the same state and rewrites the
 * manifest so that recovering that gives the same state again.  A record
 * that decodes as an edit re-encodes to bytes that decode to the same
 * edit and re-encode to the same bytes. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "ikey.h"
#include "memio.h"
#include "version.h"
#include "wal.h"

#define DB_DIR "/db"
#define CURRENT DB_DIR "/CURRENT"
#define DEFAULT_MANIFEST DB_DIR "/MANIFEST-000001"

/* ---- edits ---- */

static bool same(const uint8_t *a, size_t alen, const uint8_t *b,
		 size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

static bool edits_equal(const struct version_edit *a,
			const struct version_edit *b)
{
	size_t i;

	if (a->has_log_number != b->has_log_number ||
	    a->has_next_file != b->has_next_file ||
	    a->has_last_seq != b->has_last_seq ||
	    a->has_comparator != b->has_comparator ||
	    (a->has_log_number && a->log_number != b->log_number) ||
	    (a->has_next_file && a->next_file != b->next_file) ||
	    (a->has_last_seq && a->last_seq != b->last_seq) ||
	    a->nadded != b->nadded || a->ndeleted != b->ndeleted ||
	    a->npointers != b->npointers || a->nwals != b->nwals ||
	    a->has_features != b->has_features ||
	    a->has_snapshots != b->has_snapshots || a->nsnaps != b->nsnaps ||
	    (a->has_features &&
	     (a->features.compat != b->features.compat ||
	      a->features.ro_compat != b->features.ro_compat ||
	      a->features.incompat != b->features.incompat)))
		return false;
	for (i = 0; i < a->nsnaps; i++)
		if (strcmp(a->snaps[i].name, b->snaps[i].name) != 0 ||
		    a->snaps[i].id != b->snaps[i].id ||
		    a->snaps[i].seq != b->snaps[i].seq ||
		    a->snaps[i].time_sec != b->snaps[i].time_sec ||
		    a->snaps[i].time_nsec != b->snaps[i].time_nsec)
			return false;
	for (i = 0; i < a->nwals; i++)
		if (a->wals[i].number != b->wals[i].number ||
		    a->wals[i].sealed != b->wals[i].sealed ||
		    a->wals[i].size != b->wals[i].size)
			return false;
	for (i = 0; i < a->nadded; i++) {
		const struct file_meta *x = a->added[i].f, *y = b->added[i].f;

		if (a->added[i].level != b->added[i].level ||
		    x->number != y->number || x->size != y->size ||
		    x->has_counts != y->has_counts ||
		    x->pinned_bytes != y->pinned_bytes ||
		    !same(x->smallest, x->smallest_len, y->smallest,
			  y->smallest_len) ||
		    !same(x->largest, x->largest_len, y->largest,
			  y->largest_len))
			return false;
	}
	for (i = 0; i < a->ndeleted; i++)
		if (a->deleted[i].level != b->deleted[i].level ||
		    a->deleted[i].number != b->deleted[i].number)
			return false;
	for (i = 0; i < a->npointers; i++)
		if (a->pointers[i].level != b->pointers[i].level ||
		    !same(a->pointers[i].key, a->pointers[i].len,
			  b->pointers[i].key, b->pointers[i].len))
			return false;
	return true;
}

static void check_edit(const uint8_t *p, size_t len)
{
	struct version_edit a, b;
	struct buf e1 = BUF_INIT, e2 = BUF_INIT;
	struct lsm_err err = { 0 };
	size_t i;
	int rc = version_edit_decode(&a, p, len, &err);

	if (rc < 0) {
		FUZZ_CHECK(rc == -EUCLEAN && err.code == rc && err.msg[0]);
		FUZZ_CHECK(a.nadded == 0 && a.added == NULL); /* freed */
		return;
	}
	for (i = 0; i < a.nadded; i++) {
		const struct file_meta *f = a.added[i].f;

		FUZZ_CHECK(a.added[i].level >= 0 &&
			   a.added[i].level < LSM_MAX_LEVELS);
		FUZZ_CHECK(ikey_valid(f->smallest, f->smallest_len));
		FUZZ_CHECK(ikey_valid(f->largest, f->largest_len));
		FUZZ_CHECK(ikey_cmp(f->smallest, f->smallest_len, f->largest,
				    f->largest_len) <= 0);
	}
	for (i = 0; i < a.ndeleted; i++)
		FUZZ_CHECK(a.deleted[i].level >= 0 &&
			   a.deleted[i].level < LSM_MAX_LEVELS);
	if (a.has_last_seq)
		FUZZ_CHECK(a.last_seq <= IKEY_MAX_SEQ);
	FUZZ_CHECK(a.nsnaps <= LSM_SNAPSHOTS_MAX);
	for (i = 0; i < a.nsnaps; i++) {
		FUZZ_CHECK(a.snaps[i].id >= 1 &&
			   a.snaps[i].id <= LSM_SNAPSHOT_ID_MAX);
		FUZZ_CHECK(snapshot_name_valid(a.snaps[i].name,
					       strlen(a.snaps[i].name)));
	}
	version_edit_encode(&a, &e1);
	FUZZ_CHECK(buf_ok(&e1));
	FUZZ_CHECK(e1.len <= len); /* minimal varints, nothing repeated */
	FUZZ_CHECK(version_edit_decode(&b, e1.p, e1.len, &err) == 0);
	FUZZ_CHECK(edits_equal(&a, &b));
	version_edit_encode(&b, &e2);
	FUZZ_CHECK(same(e1.p, e1.len, e2.p, e2.len));
	version_edit_free(&a);
	version_edit_free(&b);
	buf_free(&e1);
	buf_free(&e2);
}

static int edit_record(void *ctx, const uint8_t *rec, size_t len,
		       uint64_t off, struct lsm_err *err)
{
	(void)ctx;
	(void)off;
	(void)err;
	check_edit(rec, len);
	return 0;
}

/* ---- the recovered state ---- */

struct state {
	struct buf files[LSM_MAX_LEVELS]; /* number | size | keys, per file */
	struct buf pointers[LSM_MAX_LEVELS];
	struct buf snaps; /* the durable snapshots, field by field */
	uint64_t log_number, last_seq, next_file;
};

static void state_take(struct state *s, const struct version_set *vs)
{
	const struct version *v = vs->current;

	memset(s, 0, sizeof(*s));
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			const struct file_meta *f = v->files[l][i];

			buf_put_u64le(&s->files[l], f->number);
			buf_put_u64le(&s->files[l], f->size);
			buf_put_lenbytes(&s->files[l], f->smallest,
					 f->smallest_len);
			buf_put_lenbytes(&s->files[l], f->largest,
					 f->largest_len);
		}
		buf_append(&s->pointers[l], vs->pointers[l].p,
			   vs->pointers[l].len);
		FUZZ_CHECK(buf_ok(&s->files[l]) && buf_ok(&s->pointers[l]));
	}
	for (size_t i = 0; i < vs->nsnaps; i++) {
		const struct lsm_snapshot_info *si = &vs->snaps[i];

		buf_put_u64le(&s->snaps, si->id);
		buf_put_u64le(&s->snaps, si->seq);
		buf_put_u64le(&s->snaps, (uint64_t)si->time_sec);
		buf_put_u64le(&s->snaps, si->time_nsec);
		buf_put_lenbytes(&s->snaps, si->name, strlen(si->name));
	}
	FUZZ_CHECK(buf_ok(&s->snaps));
	s->log_number = vs->log_number;
	s->last_seq = vs->last_seq;
	s->next_file = vs->next_file;
}

static bool state_equal(const struct state *a, const struct state *b)
{
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		if (!same(a->files[l].p, a->files[l].len, b->files[l].p,
			  b->files[l].len) ||
		    !same(a->pointers[l].p, a->pointers[l].len,
			  b->pointers[l].p, b->pointers[l].len))
			return false;
	return a->log_number == b->log_number && a->last_seq == b->last_seq &&
	       same(a->snaps.p, a->snaps.len, b->snaps.p, b->snaps.len);
}

static void state_free(struct state *s)
{
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		buf_free(&s->files[l]);
		buf_free(&s->pointers[l]);
	}
	buf_free(&s->snaps);
}

/* Consistency of a recovered version set. */
static void check_vset(const struct version_set *vs)
{
	const struct version *v = vs->current;
	struct lsm_err err = { 0 };

	FUZZ_CHECK(v && version_check(v, &err) == 0);
	FUZZ_CHECK(vs->manifest_number < vs->next_file);
	FUZZ_CHECK(vs->log_number < vs->next_file);
	FUZZ_CHECK(vs->last_seq <= IKEY_MAX_SEQ);
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		if ((unsigned)l >= vs->max_levels) {
			FUZZ_CHECK(v->nfiles[l] == 0);
			FUZZ_CHECK(vs->pointers[l].len == 0);
		}
		for (size_t i = 0; i < v->nfiles[l]; i++)
			FUZZ_CHECK(v->files[l][i]->number < vs->next_file);
	}
}

static int recover(struct lsm_io *io, unsigned max_levels, bool read_only,
		   struct state *s)
{
	struct version_set vs;
	struct lsm_err err = { 0 };
	int rc;

	vset_init(&vs, io, DB_DIR, max_levels, read_only);
	rc = vset_recover(&vs, &err);
	if (rc < 0) {
		if (!read_only)
			fprintf(stderr, "vset_recover: %s\n", err.msg);
		/* damage, or format features this build cannot open */
		FUZZ_CHECK(rc == -EUCLEAN || rc == -EBADMSG || rc == -ENOENT ||
			   rc == -EPROTONOSUPPORT ||
			   (rc == -EROFS && !read_only));
		FUZZ_CHECK(err.code == rc && err.msg[0]);
	} else {
		check_vset(&vs);
		state_take(s, &vs);
	}
	vset_destroy(&vs);
	FUZZ_CHECK(memio_open_fds(io) == 0);
	return rc;
}

/* ---- input ---- */

static void frame(struct lsm_io *io, const char *path, struct fuzz_in *in)
{
	struct lsm_err err = { 0 };
	struct wal *w;

	FUZZ_CHECK(wal_create(io, path, &w, &err) == 0);
	while (in->n > 0) {
		size_t want = fuzz_u16(in), len;
		struct wal_rec r;

		r.p = fuzz_bytes(in, want, &len);
		r.len = len;
		if (len)
			FUZZ_CHECK(wal_append(w, &r, 1, &err) == 0);
	}
	FUZZ_CHECK(wal_close(w, true, &err) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	unsigned max_levels = 1 + ((mode >> 2) & 15) % 12;
	char manifest[128] = DEFAULT_MANIFEST;
	struct state s1, s2, s3;
	struct wal_replay_info info;
	struct lsm_io *io;
	int rc, rw = 0;

	if (size > (1u << 20))
		return 0;
	io = memio_new();
	FUZZ_CHECK(io);
	if (mode & 2) {
		size_t clen;
		const uint8_t *cur = fuzz_bytes(&in, fuzz_u8(&in), &clen);

		FUZZ_CHECK(memio_put(io, CURRENT, cur, clen) == 0);
		/* The manifest goes where CURRENT points, if anywhere. */
		if (clen > 1 && clen < 64 && cur[clen - 1] == '\n' &&
		    !memchr(cur, '/', clen) && !memchr(cur, '\0', clen)) {
			memcpy(manifest, DB_DIR "/", sizeof(DB_DIR));
			memcpy(manifest + sizeof(DB_DIR), cur, clen - 1);
			manifest[sizeof(DB_DIR) + clen - 1] = '\0';
		}
	} else {
		FUZZ_CHECK(memio_put(io, CURRENT, "MANIFEST-000001\n", 16) ==
			   0);
	}
	if (mode & 1)
		frame(io, manifest, &in);
	else
		FUZZ_CHECK(memio_put(io, manifest, in.p, in.n) == 0);

	/* Every record on its own. */
	wal_replay(io, manifest, true, edit_record, NULL, &info, NULL);

	rc = recover(io, max_levels, true, &s1);
	if (rc == 0)
		rw = recover(io, max_levels, false, &s2);
	if (rc == 0 && rw == -EROFS) {
		/* readable but not writable by this build (ro_compat) */
		state_free(&s1);
	} else if (rc == 0) {
		/* Writable: rewrote the manifest; read that back (unless
		 * the numbers ran out: then nothing was written) */
		if (rw == -EUCLEAN &&
		    s1.next_file + 1 >= VSET_FILE_NUMBER_LIMIT) {
			state_free(&s1);
			memio_free(io);
			return 0;
		}
		FUZZ_CHECK(rw == 0);
		FUZZ_CHECK(state_equal(&s1, &s2));
		FUZZ_CHECK(s2.next_file >= s1.next_file);
		FUZZ_CHECK(recover(io, max_levels, true, &s3) == 0);
		FUZZ_CHECK(state_equal(&s2, &s3));
		FUZZ_CHECK(s3.next_file == s2.next_file);
		state_free(&s1);
		state_free(&s2);
		state_free(&s3);
	}
	memio_free(io);
	return 0;
}

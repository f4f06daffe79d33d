/* bootstrap.c - bringing a replica to a primary's state when the log
 * alone cannot: the sender takes a checkpoint of the primary (hard links,
 * so a long copy never chases files the writer deletes) and sends it
 * file by file, naming only the files the replica already holds with the
 * same name, size and crc.  The receiver writes what arrives under
 * DIR/replica-bootstrap (created inside DIR, files opened O_EXCL |
 * O_NOFOLLOW relative to its descriptor, names checked), verifies every
 * table and opens the set read-only, and only then installs it:
 *
 *   1. DIR/REPLICA-REBUILD is written (the install may be finished by a
 *      later run from here on);
 *   2. CURRENT is removed (DIR holds no store for a moment: a follower
 *      reports errors rather than mix two stores);
 *   3. the old store's files that the set does not reuse are removed;
 *   4. the set's files move up into DIR, CURRENT last;
 *   5. the staging directory and the marker go.
 * A crash before 1 leaves a staging directory the next run removes; a
 * crash after it is rolled forward by boot_recover. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lr_crc.h"
#include <sodium.h>
#include "repl.h"

/* Identities of files already read (file_ident), by device, inode, size
 * and modification time: tables never change in place, and a checkpoint's
 * tables are hard links of the primary's, so a reconnecting replica or a
 * second bootstrap does not read every table again.  Direct-mapped; a
 * collision only costs a read. */
#define CRC_CACHE 4096

static struct crc_slot {
	dev_t dev;
	ino_t ino;
	uint64_t size;
	struct timespec mtime;
	uint32_t crc;
	bool used;
} crc_cache[CRC_CACHE];
static pthread_mutex_t crc_mu = PTHREAD_MUTEX_INITIALIZER;

static struct crc_slot *crc_slot(const struct stat *st)
{
	uint64_t h = ((uint64_t)st->st_ino * UINT64_C(0x9e3779b97f4a7c15)) ^
		     (uint64_t)st->st_dev;

	return &crc_cache[(h >> 20) % CRC_CACHE];
}

static bool same_file(const struct crc_slot *c, const struct stat *st)
{
	return c->used && c->dev == st->st_dev && c->ino == st->st_ino &&
	       c->size == (uint64_t)st->st_size &&
	       c->mtime.tv_sec == st->st_mtim.tv_sec &&
	       c->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int file_ident(const char *path, uint64_t *size, uint32_t *crc)
{
	static __thread unsigned char buf[1 << 16];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	struct crc_slot *slot;
	crypto_generichash_state h;
	unsigned char digest[16];
	uint32_t c = 0;
	uint64_t total = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || sodium_init() < 0) {
		int rc = errno ? -errno : -EIO;

		close(fd);
		return rc;
	}
	slot = crc_slot(&st);
	pthread_mutex_lock(&crc_mu);
	if (same_file(slot, &st)) {
		*size = slot->size;
		*crc = slot->crc;
		pthread_mutex_unlock(&crc_mu);
		close(fd);
		return 0;
	}
	pthread_mutex_unlock(&crc_mu);
	crypto_generichash_init(&h, NULL, 0, sizeof(digest));
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;

			close(fd);
			return rc;
		}
		crypto_generichash_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	crypto_generichash_final(&h, digest, sizeof(digest));
	for (int i = 0; i < 4; i++) /* the 16 bytes folded to 4 */
		c |= (uint32_t)(digest[i] ^ digest[4 + i] ^ digest[8 + i] ^
				digest[12 + i]) << (8 * i);
	*size = total;
	*crc = c;
	if (total == (uint64_t)st.st_size) { /* unchanged while read */
		pthread_mutex_lock(&crc_mu);
		*slot = (struct crc_slot){ st.st_dev, st.st_ino, total,
					   st.st_mtim, c, true };
		pthread_mutex_unlock(&crc_mu);
	}
	return 0;
}

static int rmrf_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[PATH_MAX];

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		pjoin(sub, path, e->d_name);
		if (unlink(sub) < 0 && (errno == EISDIR || errno == EPERM))
			rmrf_dir(sub);
	}
	closedir(d);
	return rmdir(path) < 0 ? -errno : 0;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* ---- sender ---- */

/* Files of a checkpoint in the order they are sent: tables, log
 * segments, the manifest, CURRENT last. */
static int file_rank(const char *name)
{
	size_t n = strlen(name);

	if (n > 4 && !strcmp(name + n - 4, ".sst"))
		return 0;
	if (n > 4 && !strcmp(name + n - 4, ".wal"))
		return 1;
	if (!strncmp(name, "MANIFEST-", 9))
		return 2;
	return 3;
}

static int cmp_files(const void *a, const void *b)
{
	const char *x = ((const struct lr_file_begin *)a)->id.name;
	const char *y = ((const struct lr_file_begin *)b)->id.name;
	int rx = file_rank(x), ry = file_rank(y);

	return rx != ry ? rx - ry : strcmp(x, y);
}

static const struct lr_file_id *held(const struct lr_hello *h,
				     const char *name)
{
	for (uint32_t i = 0; h && i < h->nfiles; i++)
		if (!strcmp(h->files[i].name, name))
			return &h->files[i];
	return NULL;
}

struct boot_set {
	char tmp[PATH_MAX];
	struct lr_file_begin *files;
	size_t n;
	uint64_t seq, bytes; /* bytes to send (files not reused) */
};

void boot_free(struct boot_set *b)
{
	if (!b)
		return;
	rmrf_dir(b->tmp);
	free(b->files);
	free(b);
}

uint64_t boot_seq(const struct boot_set *b) { return b->seq; }
uint64_t boot_bytes(const struct boot_set *b) { return b->bytes; }
size_t boot_files(const struct boot_set *b) { return b->n; }

int boot_prepare(const char *dir, const struct lr_hello *h,
		 struct boot_set **out, struct lsm_err *err)
{
	static _Atomic unsigned counter;
	struct boot_set *b = calloc(1, sizeof(*b));
	char path[PATH_MAX];
	DIR *d;
	struct dirent *e;
	size_t cap = 0;
	int rc = 0;

	if (!b)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	snprintf(b->tmp, sizeof(b->tmp), "%s/replicate-checkpoint-%ld-%u", dir,
		 (long)getpid(), counter++);
	rc = lsm_checkpoint(dir, b->tmp, &b->seq, err);
	if (rc < 0) {
		b->tmp[0] = '\0';
		boot_free(b);
		return rc;
	}
	d = opendir(b->tmp);
	if (!d) {
		rc = lsm_err_set(err, -errno, "%s: %s", b->tmp, strerror(errno));
		boot_free(b);
		return rc;
	}
	while (rc == 0 && (e = readdir(d))) {
		struct lr_file_begin *fb;
		const struct lr_file_id *have;

		if (e->d_name[0] == '.' || !lr_name_ok(e->d_name))
			continue;
		if (b->n == cap) {
			void *nf = realloc(b->files, (cap = cap ? 2 * cap : 64) *
					   sizeof(*b->files));
			if (!nf) {
				rc = lsm_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			b->files = nf;
		}
		fb = &b->files[b->n];
		memset(fb, 0, sizeof(*fb));
		/* lr_name_ok bounded its length by LR_MAX_NAME */
		memcpy(fb->id.name, e->d_name, strlen(e->d_name) + 1);
		pjoin(path, b->tmp, e->d_name);
		have = held(h, fb->id.name);
		{
			struct stat st;

			if (stat(path, &st) < 0) {
				rc = lsm_err_set(err, -errno, "%s: %s", path,
						 strerror(errno));
				break;
			}
			fb->id.size = (uint64_t)st.st_size;
		}
		/* a checksum up front only where it may spare the copy: the
		 * others get theirs computed as they are sent (FILE_END) */
		if (have && have->size == fb->id.size) {
			rc = file_ident(path, &fb->id.size, &fb->id.crc);
			if (rc < 0) {
				lsm_err_set(err, rc, "%s: %s", path,
					    strerror(-rc));
				break;
			}
			fb->reuse = have->crc == fb->id.crc;
		}
		if (!fb->reuse)
			fb->id.crc = 0;
		if (!fb->reuse)
			b->bytes += fb->id.size;
		b->n++;
	}
	closedir(d);
	if (rc < 0) {
		boot_free(b);
		return rc;
	}
	qsort(b->files, b->n, sizeof(*b->files), cmp_files);
	*out = b;
	return 0;
}

static int send_file(struct lr_conn *c, const char *dir,
		     const struct lr_file_begin *fb, struct lr_buf *b,
		     struct lsm_err *err)
{
	static __thread uint8_t chunk[LR_FILE_CHUNK];
	char path[PATH_MAX];
	uint64_t off = 0;
	uint32_t crc = 0;
	int fd, rc;

	if ((rc = lr_enc_file_begin(b, fb)) < 0 ||
	    (rc = lr_send(c, LR_FILE_BEGIN, b->p, b->len, err)) < 0)
		return rc;
	if (fb->reuse)
		return 0;
	pjoin(path, dir, fb->id.name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lsm_err_set(err, -errno, "%s: %s", path, strerror(errno));
	while (off < fb->id.size) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = lsm_err_set(err, n < 0 ? -errno : -EIO,
					 "%s: read: %s", path,
					 n < 0 ? strerror(errno) : "short");
			break;
		}
		if ((rc = lr_enc_file_data(b, off, chunk, (uint32_t)n)) < 0 ||
		    (rc = lr_send(c, LR_FILE_DATA, b->p, b->len, err)) < 0)
			break;
		crc = lr_crc32(crc, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	close(fd);
	if (rc == 0 && (rc = lr_enc_file_end(b, (uint32_t)crc)) == 0)
		rc = lr_send(c, LR_FILE_END, b->p, b->len, err);
	return rc;
}

int boot_send(struct boot_set *set, struct lr_conn *c, struct lsm_err *err)
{
	struct lr_buf b = { 0 };
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < set->n; i++)
		rc = send_file(c, set->tmp, &set->files[i], &b, err);
	if (rc == 0 && (rc = lr_enc_boot_end(&b, set->seq)) == 0)
		rc = lr_send(c, LR_BOOT_END, b.p, b.len, err);
	lr_buf_free(&b);
	return rc;
}

/* Removes checkpoints a killed sender left in DIR. */
void boot_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		long pid;
		unsigned k;

		if (sscanf(e->d_name, "replicate-checkpoint-%ld-%u", &pid,
			   &k) != 2)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld", pid);
		if (pid == (long)getpid() || access(path, F_OK) == 0)
			continue; /* ours, or a live sender's */
		pjoin(path, dir, e->d_name);
		rmrf_dir(path);
	}
	closedir(d);
}

/* ---- receiver ---- */

struct incoming {
	char name[LR_MAX_NAME + 1];
	bool reuse;
};

static int is_store_file(const char *name)
{
	return lr_name_ok(name) || (strlen(name) > 4 &&
				    !strcmp(name + strlen(name) - 4, ".tmp"));
}

/* Steps 2-5 of the install (see the top), also a crash's roll-forward. */
static int install(const char *dir, const struct incoming *set, size_t n,
		   struct lsm_err *err)
{
	char staging[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int rc;

	pjoin(staging, dir, BOOT_STAGING);
	pjoin(to, dir, "CURRENT");
	pjoin(from, staging, "CURRENT");
	if (access(from, F_OK) == 0) {
		/* not installed yet: clear the old store */
		if (unlink(to) < 0 && errno != ENOENT)
			return lsm_err_set(err, -errno, "%s: %s", to,
					   strerror(errno));
		if ((rc = sync_dir(dir)) < 0)
			return lsm_err_set(err, rc, "%s: sync: %s", dir,
					   strerror(-rc));
		d = opendir(dir);
		if (!d)
			return lsm_err_set(err, -errno, "%s: %s", dir,
					   strerror(errno));
		while ((e = readdir(d))) {
			bool keep = false;
			char sub[PATH_MAX];

			if (!is_store_file(e->d_name) ||
			    !strcmp(e->d_name, "CURRENT"))
				continue;
			for (size_t i = 0; set && i < n; i++)
				if (set[i].reuse &&
				    !strcmp(set[i].name, e->d_name))
					keep = true;
			pjoin(sub, staging, e->d_name);
			if (!set && access(sub, F_OK) != 0)
				keep = true; /* roll-forward: the set reuses
					      * what it does not carry */
			if (keep)
				continue;
			pjoin(sub, dir, e->d_name);
			unlink(sub);
		}
		closedir(d);
		d = opendir(staging);
		if (!d)
			return lsm_err_set(err, -errno, "%s: %s", staging,
					   strerror(errno));
		rc = 0;
		while ((e = readdir(d))) {
			if (!lr_name_ok(e->d_name) ||
			    !strcmp(e->d_name, "CURRENT"))
				continue;
			pjoin(from, staging, e->d_name);
			pjoin(to, dir, e->d_name);
			if (rename(from, to) < 0 && rc == 0)
				rc = lsm_err_set(err, -errno, "%s -> %s: %s",
						 from, to, strerror(errno));
		}
		closedir(d);
		if (rc == 0 && (rc = sync_dir(dir)) < 0)
			lsm_err_set(err, rc, "%s: sync: %s", dir, strerror(-rc));
		pjoin(from, staging, "CURRENT");
		pjoin(to, dir, "CURRENT");
		if (rc == 0 && rename(from, to) < 0)
			rc = lsm_err_set(err, -errno, "%s: %s", to,
					 strerror(errno));
		if (rc == 0 && (rc = sync_dir(dir)) < 0)
			lsm_err_set(err, rc, "%s: sync: %s", dir, strerror(-rc));
		if (rc < 0)
			return rc;
	}
	rmrf_dir(staging);
	pjoin(to, dir, BOOT_MARKER);
	unlink(to);
	rc = sync_dir(dir);
	return rc < 0 ? lsm_err_set(err, rc, "%s: sync: %s", dir,
				    strerror(-rc)) : 0;
}

int boot_recover(const char *dir, struct lsm_err *err)
{
	char marker[PATH_MAX], staging[PATH_MAX];
	int rc;

	pjoin(marker, dir, BOOT_MARKER);
	pjoin(staging, dir, BOOT_STAGING);
	if (access(marker, F_OK) == 0) {
		logsink_printf(LOGSINK_WARN, "receive", "%s: finishing the install of a "
		     "bootstrap a crash interrupted", dir);
		return install(dir, NULL, 0, err);
	}
	rc = rmrf_dir(staging); /* an unfinished download */
	return rc == -ENOENT ? 0 : rc < 0 ? lsm_err_set(err, rc, "%s: %s",
							  staging,
							  strerror(-rc)) : 0;
}

struct recv_file {
	int fd;
	uint64_t size, written;
	uint32_t want_crc;
	uint32_t crc;
	char name[LR_MAX_NAME + 1];
};

/* Every table that came over is read and checked block by block before
 * the set replaces anything (the log segments and the manifest are
 * checked by the open that follows the install). */
static int verify_set(const char *staging, const struct incoming *set,
		      size_t n, struct lsm_err *err)
{
	char path[PATH_MAX];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t l = strlen(set[i].name);

		if (set[i].reuse || l < 4 || strcmp(set[i].name + l - 4, ".sst"))
			continue;
		pjoin(path, staging, set[i].name);
		rc = lsm_table_verify(path, NULL, err);
	}
	return rc;
}

int boot_receive(const char *dir, struct lr_conn *c, uint64_t *seq,
		 uint64_t total_bytes, const struct repl_opts *o,
		 struct lsm_err *err)
{
	char staging[PATH_MAX], path[PATH_MAX];
	struct incoming *set = NULL;
	size_t n = 0, cap = 0;
	struct recv_file f = { .fd = -1 };
	uint64_t total = 0, files = 0;
	int sfd = -1, rc;
	time_t last_progress = 0;

	pjoin(staging, dir, BOOT_STAGING);
	rmrf_dir(staging);
	if (mkdir(staging, 0700) < 0)
		return lsm_err_set(err, -errno, "%s: %s", staging,
				   strerror(errno));
	sfd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return lsm_err_set(err, -errno, "%s: %s", staging,
				   strerror(errno));
	for (;;) {
		enum lr_type type;
		const uint8_t *p;
		size_t len;

		rc = lr_recv(c, &type, &p, &len, 60000, err);
		if (rc < 0)
			break;
		if (type == LR_FILE_BEGIN) {
			struct lr_file_begin fb;

			if (f.fd >= 0) {
				rc = lsm_err_set(err, -EPROTO, "a file began "
						 "inside %s", f.name);
				break;
			}
			if ((rc = lr_dec_file_begin(p, len, &fb, err)) < 0)
				break;
			if (n == cap) {
				struct incoming *ns = realloc(set, (cap = cap ?
					2 * cap : 64) * sizeof(*set));
				if (!ns) {
					rc = lsm_err_set(err, -ENOMEM,
							 "out of memory");
					break;
				}
				set = ns;
			}
			snprintf(set[n].name, sizeof(set[n].name), "%s",
				 fb.id.name);
			set[n].reuse = fb.reuse;
			n++;
			files++;
			if (fb.reuse) {
				uint64_t size;
				uint32_t crc;

				/* never trust a claim: look at our copy */
				pjoin(path, dir, fb.id.name);
				rc = file_ident(path, &size, &crc);
				if (rc < 0 || size != fb.id.size ||
				    crc != fb.id.crc) {
					rc = lsm_err_set(err, -EPROTO, "the "
							 "sender reuses %s, "
							 "which differs here",
							 fb.id.name);
					break;
				}
				continue;
			}
			f.fd = openat(sfd, fb.id.name, O_WRONLY | O_CREAT |
				      O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (f.fd < 0) {
				rc = lsm_err_set(err, -errno, "%s/%s: %s",
						 staging, fb.id.name,
						 strerror(errno));
				break;
			}
			f.size = fb.id.size;
			f.written = 0;
			f.want_crc = fb.id.crc;
			f.crc = 0;
			snprintf(f.name, sizeof(f.name), "%s", fb.id.name);
		} else if (type == LR_FILE_DATA) {
			struct lr_file_data fd;

			if ((rc = lr_dec_file_data(p, len, &fd, err)) < 0)
				break;
			if (f.fd < 0 || fd.offset != f.written ||
			    fd.len > f.size - f.written) {
				rc = lsm_err_set(err, -EPROTO, "file data out "
						 "of place (%s at %" PRIu64 ")",
						 f.fd < 0 ? "no file" : f.name,
						 fd.offset);
				break;
			}
			for (uint32_t w = 0; w < fd.len;) {
				ssize_t k = pwrite(f.fd, fd.data + w,
						   fd.len - w,
						   (off_t)(f.written + w));

				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0) {
					rc = lsm_err_set(err, -errno,
							 "%s/%s: %s%s", staging,
							 f.name,
							 strerror(errno),
							 errno == ENOSPC ?
							 " (the replica's disk"
							 " is full)" : "");
					break;
				}
				w += (uint32_t)k;
			}
			if (rc < 0)
				break;
			f.crc = lr_crc32(f.crc, fd.data, fd.len);
			sync_file_range(f.fd, (off64_t)f.written, fd.len,
					SYNC_FILE_RANGE_WRITE);
			f.written += fd.len;
			total += fd.len;
		} else if (type == LR_FILE_END) {
			uint32_t end_crc = 0;

			if ((rc = lr_dec_file_end(p, len, &end_crc, err)) < 0)
				break;
			if (f.want_crc == 0)
				f.want_crc = end_crc;
			if (f.fd < 0 || f.written != f.size ||
			    (uint32_t)f.crc != f.want_crc ||
			    end_crc != f.want_crc) {
				rc = lsm_err_set(err, -EBADMSG, "%s arrived "
						 "damaged (%" PRIu64 " of %" PRIu64
						 " bytes, crc %08x, want %08x)",
						 f.fd < 0 ? "?" : f.name,
						 f.written, f.size,
						 (unsigned)f.crc, f.want_crc);
				break;
			}
			/* synced with the others after the last one: their
			 * writeback was started as they came in */
			close(f.fd);
			f.fd = -1;
		} else if (type == LR_BOOT_END) {
			if (f.fd >= 0) {
				rc = lsm_err_set(err, -EPROTO, "bootstrap "
						 "ended inside %s", f.name);
				break;
			}
			rc = lr_dec_boot_end(p, len, seq, err);
			break;
		} else if (type == LR_ERROR) {
			rc = repl_peer_error(p, len, "the sender failed", err);
			break;
		} else {
			rc = lsm_err_set(err, -EPROTO, "unexpected message %d "
					 "during a bootstrap", (int)type);
			break;
		}
		if (o && o->progress && time(NULL) != last_progress) {
			last_progress = time(NULL);
			fprintf(stderr, "\rbootstrap: %" PRIu64 " files, %.1f of "
				"%.1f MiB (%.0f%%), %.1f MiB to go   ", files,
				total / 1048576.0, total_bytes / 1048576.0,
				total_bytes ? 100.0 * total / total_bytes : 100.0,
				(total_bytes > total ? total_bytes - total : 0) /
				1048576.0);
		}
	}
	if (o && o->progress)
		fprintf(stderr, "\rbootstrap: %" PRIu64 " files, %.1f MiB%s"
			"                         \n", files, total / 1048576.0,
			rc == 0 ? ", done" : ", failed");
	if (f.fd >= 0)
		close(f.fd);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int sf;

		if (set[i].reuse)
			continue;
		sf = openat(sfd, set[i].name, O_RDONLY | O_NOFOLLOW |
			    O_CLOEXEC);
		if (sf < 0 || fsync(sf) < 0)
			rc = lsm_err_set(err, -errno, "%s/%s: fsync: %s",
					 staging, set[i].name, strerror(errno));
		if (sf >= 0)
			close(sf);
	}
	if (rc == 0)
		rc = sync_dir(staging) < 0 ? lsm_err_set(err, -EIO, "%s: sync",
							 staging) : 0;
	if (rc == 0)
		rc = verify_set(staging, set, n, err);
	if (rc == 0) {
		int mfd;

		pjoin(path, dir, BOOT_MARKER);
		mfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
			   O_NOFOLLOW, 0600);
		if (mfd < 0 || fsync(mfd) < 0)
			rc = lsm_err_set(err, -errno, "%s: %s", path,
					 strerror(errno));
		if (mfd >= 0)
			close(mfd);
		if (rc == 0 && sync_dir(dir) < 0)
			rc = lsm_err_set(err, -EIO, "%s: sync", dir);
	}
	if (rc == 0)
		rc = install(dir, set, n, err);
	else
		rmrf_dir(staging);
	close(sfd);
	free(set);
	return rc;
}

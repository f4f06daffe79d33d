/* repl.h - lsmfs-replicate's parts: the sending side (a primary's data
 * directory: bootstrap sets and log records), the receiving side (a
 * replica directory: installs bootstraps, applies records), the log
 * cursor the sender reads the primary's log with, and logging.  The
 * design and its guarantees: replicate/README.md. */
#ifndef LSMFS_REPL_H
#define LSMFS_REPL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lsm.h"
#include "logsink.h"
#include "lsm_files.h"
#include "proto.h"

/* Log lines go through fs/logsink.h (the same sink, format and options
 * as lsmfs and lsmfs-ctl). */
/* OUT (PATH_MAX bytes) = DIR/NAME; -ENAMETOOLONG (OUT empty) if long. */
static inline int pjoin(char *out, const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);

	if (a + 1 + b + 1 > 4096) {
		out[0] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(out, dir, a);
	out[a] = '/';
	memcpy(out + a + 1, name, b + 1);
	return 0;
}

/* ---- common.c ---- */
uint64_t repl_mono_ms(void);  /* CLOCK_MONOTONIC in ms */
uint64_t repl_real_ns(void);  /* CLOCK_REALTIME in ns */
/* The peer's LR_ERROR message (P, LEN) as an error: its code (or -EIO)
 * with "WHO: its message" in ERR; -EPROTO when the message is malformed. */
int repl_peer_error(const uint8_t *p, size_t len, const char *who,
		    struct lsm_err *err);

/* ---- options of either side ---- */
struct repl_opts {
	bool once;            /* catch up, then exit */
	bool unsynced;        /* ship records the primary has not synced */
	bool compress;        /* zlib the stream */
	bool progress;        /* a progress line on stderr */
	int idle_ms;          /* heartbeat period of an idle sender */
	const char *stats_path; /* Prometheus text, rewritten every second */
	const char *peer;     /* a name for logs and stats labels */
};

/* Set by SIGTERM/SIGINT: both loops stop at the next message. */
extern volatile int repl_stop;

/* ---- cursor.c: the primary's log as one stream of records ---- */
struct cursor;
/* A cursor over the log of DIR positioned after sequence SEQ: returns
 * 0 when every record after SEQ that the primary still has lies ahead
 * (its live segments and archive reach back to SEQ), -ERANGE when they
 * do not (the replica needs a bootstrap), -EXDEV when a record spans SEQ
 * (the replica cannot be a prefix: diverged). */
int cursor_open(const char *dir, uint64_t seq, bool unsynced,
		struct cursor **out, struct lsm_err *err);
void cursor_free(struct cursor *c);
/* Calls FN for each record available now (synced by the cursor itself
 * unless UNSYNCED), at most MAX_BYTES of batches in one call.  Returns
 * the number of records delivered (0: nothing new yet), or a negative
 * errno: -ERANGE when the segment being read vanished unread (deleted,
 * not archived: a bootstrap is needed). */
int cursor_next(struct cursor *c, size_t max_bytes,
		int (*fn)(void *ctx, const struct lsm_log_record *r),
		void *ctx, struct lsm_err *err);
uint64_t cursor_seq(const struct cursor *c);   /* last delivered */
/* An fd that becomes readable when the data directory changes (inotify),
 * or -1 (then poll). */
int cursor_wait_fd(const struct cursor *c);
void cursor_drain(struct cursor *c);            /* consume the events */

/* ---- sender.c: serve one replica over C ---- */
/* Runs until the peer leaves, an error, or repl_stop.  0 on a clean end
 * (the receiver finished, --once), else a negative errno with ERR. */
int sender_run(const char *dir, struct lr_conn *c, const struct repl_opts *o,
	       struct lsm_err *err);

/* Writes every replica's figures, as the sender sees them, to PATH
 * (Prometheus text, labelled by replica). */
void sender_stats_write(const char *path);

/* ---- receiver.c: follow a primary into DIR over C ---- */
/* 0 when --once caught up; -ECONNRESET etc. when the connection broke
 * (the caller reconnects); other negative errnos are fatal. */
int receiver_run(const char *dir, struct lr_conn *c, const struct repl_opts *o,
		 struct lsm_err *err);

/* ---- bootstrap.c ---- */
/* Sender: a checkpoint of DIR (under DIR/replicate-checkpoint-*), each
 * file with its size and crc, those the replica listed in H with the same
 * name, size and crc marked reused (only named, never sent).  Then
 * boot_send sends it; boot_free removes the checkpoint. */
struct boot_set;
int boot_prepare(const char *dir, const struct lr_hello *h,
		 struct boot_set **out, struct lsm_err *err);
int boot_send(struct boot_set *set, struct lr_conn *c, struct lsm_err *err);
void boot_free(struct boot_set *set); /* accepts NULL */
uint64_t boot_seq(const struct boot_set *set);   /* its last sequence */
uint64_t boot_bytes(const struct boot_set *set); /* to send */
size_t boot_files(const struct boot_set *set);
/* Receiver: takes the set into DIR/replica-bootstrap, then installs it in
 * DIR in place of what DIR held (see bootstrap.c for the order and
 * crash safety).  *SEQ: the set's last sequence number. */
int boot_receive(const char *dir, struct lr_conn *c, uint64_t *seq,
		 uint64_t total_bytes, const struct repl_opts *o,
		 struct lsm_err *err);
/* Finishes or undoes an install a crash interrupted (DIR/REPLICA-REBUILD
 * marks one).  0 when there was none or it was cleaned up. */
int boot_recover(const char *dir, struct lsm_err *err);
/* Removes checkpoints a killed sender left in DIR. */
void boot_sweep(const char *dir);
/* The identity of the contents of file PATH, for deciding that a replica
 * already holds a file the sender would send (the hello's and FILE_BEGIN's
 * `crc` field): BLAKE2b (libsodium) of the whole file folded to 32 bits.
 * Not a CRC-32: a table's blocks end in their own CRC-32, and a CRC-32 of
 * the whole file is then the same for any contents of blocks of the same
 * lengths (CRC's residue), so two different tables of one name and size
 * passed for the same file (found with value pointers: a diverged replica
 * kept its own table).  Remembered by file identity: a file read before
 * and unchanged since is not read again. */
int file_ident(const char *path, uint64_t *size, uint32_t *crc);

#define BOOT_STAGING "replica-bootstrap"
#define BOOT_MARKER "REPLICA-REBUILD"

#endif

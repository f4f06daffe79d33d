/* faulty_io.h - a struct lsm_io wrapper for fault injection in tests.
 *
 * Give the engine &fio->io.  Every call is passed to the wrapped io unless
 * a fault is armed for it: then it fails with the chosen negative errno and
 * does nothing.  The wrapper also models what a power cut loses (see
 * faulty_io_power_cut).  All functions are thread-safe (one mutex; the
 * wrapped pread/pwrite/fsync run outside it, and a power cut waits for
 * those in flight). */
#ifndef LSM_TEST_FAULTY_IO_H
#define LSM_TEST_FAULTY_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "lsm_io.h"

struct faulty_io_state;

struct faulty_io {
	struct lsm_io io;              /* what the engine gets */
	struct faulty_io_state *st;    /* private */
};

/* The kinds of calls that can be counted and failed. */
enum fio_op {
	FIO_OPEN,      /* every open, whatever the flags */
	FIO_READ,      /* pread */
	FIO_WRITE,     /* pwrite */
	FIO_FSYNC,     /* fsync of a file */
	FIO_RENAME,
	FIO_UNLINK,
	FIO_SYNC_DIR,
	FIO_TRUNCATE,  /* ftruncate */
	FIO_MKDIR,
	FIO_ANY_WRITE, /* any of write|fsync|rename|unlink|sync_dir|truncate|
	                * mkdir */
	FIO_NOPS,
};

/* Wraps BASE (which must outlive the wrapper); NULL on ENOMEM. */
struct faulty_io *faulty_io_new(const struct lsm_io *base);
/* Frees FIO (accepts NULL); removes the wrapper's own backup files. */
void faulty_io_free(struct faulty_io *fio);

/* Arms a fault: the NTH call of kind OP counted from now (1 = the next
 * one) fails with ERR (e.g. -EIO, -ENOSPC); with PERSISTENT every later
 * call of that kind fails too.  One fault per kind; arming again replaces
 * it.  A failed call has no effect on the files. */
void faulty_io_fail_nth(struct faulty_io *fio, enum fio_op op,
			unsigned long nth, int err, bool persistent);

/* When ON, each pwrite transfers at most half the bytes asked (at least
 * 1), so callers must loop. */
void faulty_io_short_writes(struct faulty_io *fio, bool on);

/* Hands the wrapped io's preallocate (fallocate with KEEP_SIZE) to the
 * engine, which by default sees none; it is not counted nor failed (but
 * after a power cut). */
void faulty_io_allow_preallocate(struct faulty_io *fio);

/* Hands the engine a mapping to write its log through (lsm_io.map),
 * emulated: the engine's stores go into a buffer, and reach the file as
 * pwrites (FIO_WRITE: counted, failed and lost at a power cut like any)
 * when the engine says they were made (map_stored: before an fsync and
 * when it leaves the window).  They overwrite bytes inside the file's
 * size, so the power-cut model counts the file as durable only up to
 * where they begin, until the next fsync.  Mapping extends the file to the window's
 * end through ftruncate (FIO_TRUNCATE), as fallocate would.  Off by
 * default: with it a log append makes no call at all. */
void faulty_io_allow_map(struct faulty_io *fio);

/* Calls of kind OP seen since faulty_io_new, failed ones included. */
unsigned long faulty_io_count(struct faulty_io *fio, enum fio_op op);

/* Disarms every fault, turns short writes off and ends the "power off"
 * state of faulty_io_power_cut (the machine boots again).  Counts stay. */
void faulty_io_reset(struct faulty_io *fio);

/* Simulates a power cut at this instant, on the files this io touched.
 *
 * What the model keeps is what the engine may rely on, and no more:
 *  - file data: a file written or truncated through this io keeps the
 *    bytes it had at its last successful fsync (for a file that existed
 *    before: its size when first opened for writing; O_TRUNC counts as
 *    losing that); every later append or extension is lost;
 *  - directory entries: every create, rename and unlink made through this
 *    io and not followed by a sync_dir of the directory it changed (the
 *    target's directory for a rename) is undone, newest first: a created
 *    file is removed, a renamed one gets its old name back (a replaced
 *    target is restored), an unlinked one comes back, with the data the
 *    rule above leaves it.  (The wrapper keeps hard links named
 *    ".fio-bak-N" for that, hidden from list_dir and gone after the cut.)
 * A call that was in flight when the cut began completes first, as if
 * the power went off just after it (so an fsync that returned 0 is always
 * honoured); every mutating call that starts later (open for writing,
 * write, fsync, rename, unlink, sync_dir, ftruncate, mkdir, preallocate)
 * fails with -EIO until faulty_io_reset(), so a crashed handle can be
 * closed without writing.
 *
 * Not modelled: overwrites in place of already-synced bytes (the engine
 * only appends and writes new files), unsynced pages surviving out of
 * order (a later page of an append kept while an earlier one is lost;
 * the log's framing has to tell that from damage, see engine/doc/wal.md),
 * sectors torn inside the synced part, mkdir (a new directory always
 * stays), metadata (modes, times), and files written through other
 * descriptors than this io's.
 * Returns 0, or the first -errno met while rolling files back. */
int faulty_io_power_cut(struct faulty_io *fio);

/* Like faulty_io_power_cut, but what was not synced is not always lost:
 * with the pseudo-random choices that SEED fixes, each file keeps all,
 * none or a prefix of its unsynced bytes, sometimes with the size made
 * durable but the data not (zeros from some point on, as ext4 with
 * data=writeback or XFS may leave), and a prefix, in order, of the
 * pending creates, renames and unlinks survives (a journaling file
 * system commits directory changes in order).  Every outcome is one a
 * real disk may leave; the deterministic cut is the one that loses most.
 */
int faulty_io_power_cut_random(struct faulty_io *fio, unsigned long long seed);

#endif /* LSM_TEST_FAULTY_IO_H */

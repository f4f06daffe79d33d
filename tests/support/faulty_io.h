/* faulty_io.h - a struct lsm_io wrapper for fault injection in tests.
 *
 * Give the engine &fio->io.  Every call is passed to the wrapped io unless
 * a fault is armed for it: then it fails with the chosen negative errno and
 * does nothing.  The wrapper also models what a power cut loses (see
 * faulty_io_power_cut).  All functions are thread-safe (one mutex; the
 * wrapped pread/pwrite/fsync run outside it). */
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

/* Calls of kind OP seen since faulty_io_new, failed ones included. */
unsigned long faulty_io_count(struct faulty_io *fio, enum fio_op op);

/* Disarms every fault, turns short writes off and ends the "power off"
 * state of faulty_io_power_cut (the machine boots again).  Counts stay. */
void faulty_io_reset(struct faulty_io *fio);

/* Simulates a power cut at this instant, on the files this io touched:
 *  - renames not followed by a sync_dir of the target's directory are
 *    undone, newest first (a replaced target is restored: the wrapper
 *    keeps a hard link named ".fio-bak-N" beside it, hidden from list_dir);
 *  - a file created through this io whose directory was not synced since
 *    (creation or rename into it) is removed;
 *  - every other file written or truncated through this io is truncated
 *    back to its size at its last successful fsync (for a file that
 *    existed before: its size when first opened for writing; O_TRUNC
 *    counts as losing that).
 * Not modelled: overwrites in place of already-synced bytes, unlinks (an
 * unlinked file stays gone), mkdir, and files written through other
 * descriptors.  Afterwards every mutating call (open for writing, write,
 * fsync, rename, unlink, sync_dir, ftruncate, mkdir) fails with -EIO until
 * faulty_io_reset(), so a crashed handle can be closed without writing.
 * Returns 0, or the first -errno met while rolling files back. */
int faulty_io_power_cut(struct faulty_io *fio);

#endif /* LSM_TEST_FAULTY_IO_H */

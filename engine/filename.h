/* filename.h - names of the files in a data directory:
 *   NNNNNN.wal        write-ahead log segment
 *   NNNNNN.sst        table
 *   MANIFEST-NNNNNN   manifest (log of version edits)
 *   CURRENT           names the live manifest (one line)
 *   LOCK              lock file holding the owner's pid
 *   RESERVE           disk space held back for a full disk (db_space.c)
 *   NNNNNN.tmp        temporary file (replaced by rename, or garbage)
 * NNNNNN is a decimal file number, at least 6 digits, unique in the dir. */
#ifndef LSM_FILENAME_H
#define LSM_FILENAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum file_kind {
	FILE_WAL,
	FILE_TABLE,
	FILE_MANIFEST,
	FILE_CURRENT,
	FILE_LOCK,
	FILE_RESERVE,
	FILE_TEMP,
	FILE_OTHER,
};

#define LSM_PATH_MAX 4096
/* The log archive's subdirectory (db_archive.c). */
#define LSM_ARCHIVE_DIR "archive"

/* Writes DIR/name into OUT (LSM_PATH_MAX bytes); -ENAMETOOLONG if long. */
int filename_path(char *out, const char *dir, enum file_kind k,
		  uint64_t number);
/* Parses a bare file name; FILE_OTHER for foreign names. */
enum file_kind filename_parse(const char *name, uint64_t *number);

/* Which file a descriptor or a path is (device and inode), all zero when
 * it cannot be told: a follower tells a file apart from another one of the
 * same name (a replaced store reuses numbers, db_follow.c). */
struct file_id {
	uint64_t dev, ino;
};
void file_id_of_fd(int fd, struct file_id *id);
void file_id_of_path(const char *path, struct file_id *id);
/* Whether A and B are known to be different files. */
bool file_id_differs(const struct file_id *a, const struct file_id *b);

#endif /* LSM_FILENAME_H */

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

#endif /* LSM_FILENAME_H */

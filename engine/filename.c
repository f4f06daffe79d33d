/* filename.c - build and parse the names of the files in a data directory
 * (see filename.h).  Parsing is strict and only accepts the exact names
 * filename_path() produces: "000012.wal" yes; "12.wal", "0000012.wal",
 * "+00012.wal", "000012.wal~" or "MANIFEST-" are foreign (FILE_OTHER). */
#include "filename.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NUM_MIN_DIGITS 6

int filename_path(char *out, const char *dir, enum file_kind k,
		  uint64_t number)
{
	int n;

	switch (k) {
	case FILE_WAL:
		n = snprintf(out, LSM_PATH_MAX, "%s/%06" PRIu64 ".wal", dir,
			     number);
		break;
	case FILE_TABLE:
		n = snprintf(out, LSM_PATH_MAX, "%s/%06" PRIu64 ".sst", dir,
			     number);
		break;
	case FILE_TEMP:
		n = snprintf(out, LSM_PATH_MAX, "%s/%06" PRIu64 ".tmp", dir,
			     number);
		break;
	case FILE_MANIFEST:
		n = snprintf(out, LSM_PATH_MAX, "%s/MANIFEST-%06" PRIu64, dir,
			     number);
		break;
	case FILE_CURRENT:
		n = snprintf(out, LSM_PATH_MAX, "%s/CURRENT", dir);
		break;
	case FILE_LOCK:
		n = snprintf(out, LSM_PATH_MAX, "%s/LOCK", dir);
		break;
	case FILE_RESERVE:
		n = snprintf(out, LSM_PATH_MAX, "%s/RESERVE", dir);
		break;
	default:
		return -EINVAL;
	}
	if (n < 0)
		return -EINVAL;
	return n >= LSM_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Parses exactly LEN decimal digits at S in canonical form: at least
 * NUM_MIN_DIGITS, no leading zero beyond the padding, no overflow. */
static bool parse_number(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len < NUM_MIN_DIGITS)
		return false;
	if (len > NUM_MIN_DIGITS && s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static const struct {
	const char *suffix;
	enum file_kind kind;
} numbered[] = {
	{ ".wal", FILE_WAL },
	{ ".sst", FILE_TABLE },
	{ ".tmp", FILE_TEMP },
};

enum file_kind filename_parse(const char *name, uint64_t *number)
{
	static const char manifest[] = "MANIFEST-";
	size_t len = strlen(name);
	uint64_t v = 0;

	if (!strcmp(name, "CURRENT") || !strcmp(name, "LOCK") ||
	    !strcmp(name, "RESERVE")) {
		if (number)
			*number = 0;
		return name[0] == 'C' ? FILE_CURRENT :
		       name[0] == 'L' ? FILE_LOCK : FILE_RESERVE;
	}
	if (!strncmp(name, manifest, sizeof(manifest) - 1)) {
		size_t pre = sizeof(manifest) - 1;

		if (!parse_number(name + pre, len - pre, &v))
			return FILE_OTHER;
		if (number)
			*number = v;
		return FILE_MANIFEST;
	}
	for (size_t i = 0; i < sizeof(numbered) / sizeof(numbered[0]); i++) {
		size_t sl = strlen(numbered[i].suffix);

		if (len <= sl || strcmp(name + len - sl, numbered[i].suffix))
			continue;
		if (!parse_number(name, len - sl, &v))
			return FILE_OTHER;
		if (number)
			*number = v;
		return numbered[i].kind;
	}
	return FILE_OTHER;
}

static void file_id_of(const struct stat *st, struct file_id *id)
{
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
}

void file_id_of_fd(int fd, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (fd >= 0 && fstat(fd, &st) == 0)
		file_id_of(&st, id);
}

void file_id_of_path(const char *path, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) == 0)
		file_id_of(&st, id);
}

bool file_id_differs(const struct file_id *a, const struct file_id *b)
{
	if ((!a->dev && !a->ino) || (!b->dev && !b->ino))
		return false;
	return a->dev != b->dev || a->ino != b->ino;
}

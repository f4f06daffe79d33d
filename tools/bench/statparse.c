/* statparse.c - a forgiving reader of "name value" statistics text, and the
 * engine write amplification computed from it. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "statparse.h"

static const char *skip_blank(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '.';
}

/* Does the name at P (LEN bytes) equal NAME or NAME_total? */
static bool name_matches(const char *p, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len == n)
		return memcmp(p, name, n) == 0;
	return len == n + 6 && memcmp(p, name, n) == 0 &&
	       memcmp(p + n, "_total", 6) == 0;
}

/* Parses one line starting at P for NAME; true with *OUT when it matches. */
static bool parse_line(const char *p, const char *name, double *out)
{
	const char *s = skip_blank(p), *e = s;
	char *end;
	double v;

	while (is_name_char(*e))
		e++;
	if (e > s && e[-1] == ':')   /* "name: value" */
		e--;
	if (e == s || *s == '#' || !name_matches(s, (size_t)(e - s), name))
		return false;
	if (*e == '{') {
		e = strpbrk(e, "}\n");
		if (!e || *e != '}')
			return false;
		e++;
	}
	if (*e != ' ' && *e != '\t' && *e != '=' && *e != ':')
		return false;
	e = skip_blank(e + (*e == '=' || *e == ':'));
	v = strtod(e, &end);
	if (end == e || !isfinite(v))
		return false;
	end = (char *)skip_blank(end);
	if (*end && *end != '\n' && *end != '\r' && *end != ' ' &&
	    !(*end >= '0' && *end <= '9')) /* a trailing timestamp is fine */
		return false;
	*out = v;
	return true;
}

int statparse_get(const char *text, const char *name, double *out)
{
	const char *p = text;

	while (p && *p) {
		if (parse_line(p, name, out))
			return 0;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

/* The value of NAME, or of OLD (the name before units were in the names). */
static int get2(const char *text, const char *name, const char *old,
		double *out)
{
	if (statparse_get(text, name, out) == 0)
		return 0;
	return statparse_get(text, old, out);
}

int statparse_write_amp(const char *text, struct stat_wamp *out)
{
	static const char *const disk_names[][2] = {
		{ "lsm_wal_written_bytes", "lsm_wal_bytes_written" },
		{ "lsm_flush_written_bytes", "lsm_flush_bytes_written" },
		{ "lsm_compaction_written_bytes", "lsm_compaction_bytes_written" },
		{ "lsm_manifest_written_bytes", "lsm_manifest_bytes_written" },
	};
	double user, v, disk = 0;
	int found = 0;

	if (!text || get2(text, "lsm_user_written_bytes",
			  "lsm_user_bytes_written", &user) < 0)
		return -ENOENT;
	for (unsigned i = 0; i < 4; i++) {
		if (get2(text, disk_names[i][0], disk_names[i][1], &v) == 0) {
			disk += v;
			found++;
		}
	}
	if (!found)
		return -ENOENT;
	out->user = user;
	out->disk = disk;
	out->wamp = user > 0 ? disk / user : 0;
	return 0;
}

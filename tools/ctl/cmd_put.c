/* cmd_put.c - lsmfs-ctl put: make a path a regular file holding a value
 * (from the command line or standard input), creating its parents. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "ctl.h"

#define PUT_MAX_BYTES (1ull << 30)
#define PUT_SHOW_KEY 40 /* bytes of a refused key shown */

/* CTL_OK when KEY is a valid path; else prints one line, the key (cut)
 * and what is wrong with it, with the limit it breaks, and CTL_FAIL. */
static int check_key(const char *key)
{
	const char *p = key, *c = NULL;
	size_t len = 0, klen = strlen(key);
	int rc = codec_check_path(key);

	if (rc == 0)
		return CTL_OK;
	while (rc == -ENAMETOOLONG && codec_path_next(&p, &c, &len) &&
	       len <= CODEC_NAME_MAX)
		;
	fputs("lsmfs-ctl: key '", stderr);
	ctl_put_escaped(stderr, key, klen < PUT_SHOW_KEY ? klen : PUT_SHOW_KEY);
	fprintf(stderr, "%s' (%zu bytes): ", klen > PUT_SHOW_KEY ? "..." : "",
		klen);
	if (rc == -ENAMETOOLONG)
		fprintf(stderr, "a component of %zu bytes, over the limit of "
			"%u bytes per name\n", len, CODEC_NAME_MAX);
	else if (rc == -EPERM)
		fprintf(stderr, "the top-level name %s is reserved\n",
			CODEC_CTL_NAME);
	else
		fprintf(stderr, "empty, '.' or '..' components are not "
			"allowed\n");
	return CTL_FAIL;
}

/* Reads all of standard input into *DATA (malloc'ed). */
static int read_stdin(char **data, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *p = malloc(cap), *q;
	size_t got;

	while (p && (got = fread(p + n, 1, cap - n, stdin)) > 0) {
		n += got;
		if (n == cap && cap < PUT_MAX_BYTES) {
			q = realloc(p, cap * 2);
			if (!q)
				break;
			p = q;
			cap *= 2;
		} else if (n == cap) {
			ctl_msg("standard input: more than %llu bytes",
				PUT_MAX_BYTES);
			free(p);
			return CTL_FAIL;
		}
	}
	if (!p || ferror(stdin) || !feof(stdin)) {
		ctl_msg("standard input: %s", p ? strerror(errno) :
			"out of memory");
		free(p);
		return CTL_FAIL;
	}
	*data = p;
	*len = n;
	return CTL_OK;
}

static int put(struct ctl_store *s, const char *key, const char *data,
	       size_t len)
{
	struct lsm_err err = { 0 };
	struct ns_cred cred;
	mode_t mask = umask(0);
	int rc;

	umask(mask);
	cred.uid = (uint32_t)getuid();
	cred.gid = (uint32_t)getgid();
	cred.umask = (uint32_t)mask;
	rc = ns_put_path(s->ns, key, data, len, &cred, &err);
	if (rc == 0)
		rc = lsm_sync(s->db, &err);
	return rc < 0 ? ctl_fail(key, rc, &err) : CTL_OK;
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	struct ctl_store s;
	bool create = false;
	const struct ctl_flag flags[] = { { "create", &create }, { NULL } };
	char *pos[argc], *data = NULL;
	size_t len;
	int n, rc = ctl_args(c, argc, argv, flags, 2, 3, pos, &n);

	if (rc >= 0)
		return rc;
	if ((rc = check_key(pos[1])) != CTL_OK)
		return rc;
	if (n == 3 && strcmp(pos[2], "-") != 0) {
		len = strlen(pos[2]);
	} else if ((rc = read_stdin(&data, &len)) != CTL_OK) {
		return rc;
	}
	rc = ctl_open(&s, c, pos[0], CTL_OPEN_NS |
		      (create ? CTL_OPEN_CREATE : 0));
	if (rc == CTL_OK) {
		rc = put(&s, pos[1], data ? data : pos[2], len);
		n = ctl_close(&s);
		rc = rc != CTL_OK ? rc : n;
	}
	free(data);
	return rc;
}

const struct ctl_cmd cmd_put = {
	.name = "put",
	.args = "[--create] KEY [VALUE | -]",
	.summary = "make file KEY hold VALUE (or standard input)",
	.help = "Creates or replaces the regular file KEY (a path such as "
		"a/b/c), creating\nmissing parent directories like mkdir -p, "
		"owned by the caller and with the\ncaller's umask applied.  "
		"Without VALUE, or with -, the contents are read from\n"
		"standard input, byte for byte.  The write is durable when "
		"put exits 0.\n\n  --create  create and format DATADIR when it "
		"is missing or empty\n",
	.read_only = false,
	.run = run,
};

/* common.c - lsmfs-ctl's shared helpers: argument parsing, messages and
 * exit codes, opening a store with clear errors, escaping, progress bar. */
#include "ctl.h"
#include "logsink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsm_tool.h"

void ctl_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("lsmfs-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void ctl_help(const struct ctl_cmd *c, FILE *f)
{
	fprintf(f, "Usage: lsmfs-ctl %s DATADIR%s%s\n\n%s.%s\n\n%s",
		c->name, *c->args ? " " : "", c->args, c->summary,
		c->read_only ? "  Opens the store read-only: works while it "
		"is mounted (showing the state last written to disk)." : "",
		c->help);
}

static int usage_error(const struct ctl_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct ctl_cmd *c, const char *fmt, ...)
{
	va_list ap;

	fputs("lsmfs-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: lsmfs-ctl %s DATADIR%s%s  (see lsmfs-ctl "
		"help %s)\n", c->name, *c->args ? " " : "", c->args, c->name);
	return CTL_USAGE;
}

static bool set_flag(const struct ctl_flag *flags, const char *name)
{
	for (; flags && flags->name; flags++) {
		if (strcmp(flags->name, name) == 0) {
			*flags->val = true;
			return true;
		}
	}
	return false;
}

int ctl_args(const struct ctl_cmd *c, int argc, char **argv,
	     const struct ctl_flag *flags, int min, int max, char **pos,
	     int *npos)
{
	bool opts = true;
	int n = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && strcmp(a, "--") == 0) {
			opts = false;
		} else if (opts && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
			ctl_help(c, stdout);
			return CTL_OK;
		} else if (opts && a[0] == '-' && a[1] != '\0') {
			if (a[1] != '-' || !set_flag(flags, a + 2))
				return usage_error(c, "unknown option '%s'",
						   a);
		} else {
			pos[n++] = argv[i];
		}
	}
	if (n < min)
		return usage_error(c, "%s", n == 0 ? "missing DATADIR" :
				   "missing argument");
	if (n > max)
		return usage_error(c, "unexpected argument '%s'", pos[max]);
	*npos = n;
	return -1;
}

int ctl_exit_code(int rc)
{
	switch (rc) {
	case 0:
		return CTL_OK;
	case -EBUSY:
		return CTL_BUSY;
	case -EBADMSG:
	case -EUCLEAN:
		return CTL_DAMAGED;
	default:
		return CTL_FAIL;
	}
}

int ctl_fail(const char *what, int rc, const struct lsm_err *err)
{
	if (err && err->code && !strncmp(err->msg, what, strlen(what)))
		ctl_msg("%s", err->msg);
	else if (err && err->code && err->msg[0])
		ctl_msg("%s: %s", what, err->msg);
	else
		ctl_msg("%s: %s", what, strerror(-rc));
	return ctl_exit_code(rc);
}

int ctl_check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		ctl_msg("%s: %s", dir, errno == ENOENT ?
			"no such data directory" : strerror(errno));
		return CTL_NO_DIR;
	}
	if (!S_ISDIR(st.st_mode)) {
		ctl_msg("%s: not a directory", dir);
		return CTL_NO_DIR;
	}
	return CTL_OK;
}

/* An existing directory without CURRENT: not a store (unless creating). */
static int check_store(const char *dir, unsigned flags)
{
	char path[4096];
	struct stat st;

	if ((flags & CTL_OPEN_CREATE) && stat(dir, &st) < 0 && errno == ENOENT)
		return CTL_OK;
	if (ctl_check_dir(dir) != CTL_OK)
		return CTL_NO_DIR;
	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	if ((flags & CTL_OPEN_CREATE) || stat(path, &st) == 0)
		return CTL_OK;
	ctl_msg("%s is not an lsmfs store (no CURRENT file)%s", dir,
		flags & CTL_OPEN_NS && !(flags & CTL_OPEN_CREATE) ?
		"; 'put --create' makes a new one" : "");
	return CTL_FOREIGN;
}

static int open_ns(struct ctl_store *s, unsigned flags)
{
	struct ns_options o;
	struct lsm_err err = { 0 };
	int rc;

	ns_options_init(&o);
	o.read_only = s->read_only;
	o.root_uid = (uint32_t)getuid();
	o.root_gid = (uint32_t)getgid();
	rc = ns_open(s->db, &o, &s->ns, &err);
	if (rc == -EINVAL) {
		ctl_msg("%s is not an lsmfs filesystem store: %s%s", s->dir,
			err.msg, flags & CTL_OPEN_CREATE ? "" :
			" (its engine data is readable with dump and info)");
		return CTL_FOREIGN;
	}
	return rc < 0 ? ctl_fail(s->dir, rc, &err) : CTL_OK;
}

int ctl_open(struct ctl_store *s, const struct ctl_cmd *c, const char *dir,
	     unsigned flags)
{
	struct lsm_options o;
	struct lsm_err err = { 0 };
	int rc;

	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->read_only = c->read_only;
	rc = check_store(dir, flags);
	if (rc != CTL_OK)
		return rc;
	lsm_options_init(&o);
	/* an lsmfs store is written as its mount writes it (a compaction
	 * run here cuts its tables at key kinds too) */
	if (!c->read_only && ns_store_is_lsmfs(dir))
		ns_engine_defaults(&o);
	o.read_only = c->read_only;
	o.create_if_missing = flags & CTL_OPEN_CREATE;
	o.background_compaction = !(flags & CTL_OPEN_NOBG);
	o.log_fn = logsink_engine; /* --log, --log-level (main.c) */
	rc = lsm_open(dir, &o, &s->db, &err);
	if (rc == -ENOENT || rc == -ENOTEMPTY) {
		ctl_msg("%s", err.msg);
		return CTL_FOREIGN;
	}
	if (rc < 0)
		return ctl_fail(dir, rc, &err);
	rc = flags & CTL_OPEN_NS ? open_ns(s, flags) : CTL_OK;
	if (rc != CTL_OK) {
		lsm_close(s->db, NULL);
		s->db = NULL;
	}
	return rc;
}

int ctl_close(struct ctl_store *s)
{
	struct lsm_err err = { 0 };
	int rc;

	ns_close(s->ns);
	s->ns = NULL;
	rc = lsm_close(s->db, &err);
	s->db = NULL;
	return rc < 0 ? ctl_fail(s->dir, rc, &err) : CTL_OK;
}

void ctl_put_escaped(FILE *f, const void *p, size_t n)
{
	char buf[1024];
	const uint8_t *b = p;

	/* In slices, so that escapes never straddle a buffer boundary. */
	while (n > 0) {
		size_t k = n < 200 ? n : 200;

		lsm_escape(buf, sizeof(buf), b, k);
		fputs(buf, f);
		b += k;
		n -= k;
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ctl_unescape(char *s, size_t *len)
{
	size_t i = 0, o = 0, n = strlen(s);

	while (i < n) {
		if (s[i] != '\\') {
			s[o++] = s[i++];
		} else if (s[i + 1] == '\\') {
			s[o++] = '\\';
			i += 2;
		} else if (s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
			   hexval(s[i + 3]) >= 0) {
			s[o++] = (char)(hexval(s[i + 2]) * 16 +
					hexval(s[i + 3]));
			i += 4;
		} else {
			return -1;
		}
	}
	s[o] = '\0';
	*len = o;
	return 0;
}

const char *ctl_bytes(char *buf, uint64_t n)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, 32, "%.1f %s", v, unit[u]);
	return buf;
}

void ctl_bar_init(struct ctl_bar *b, const char *label)
{
	memset(b, 0, sizeof(*b));
	b->label = label;
	b->tty = isatty(STDERR_FILENO) == 1;
	b->last_permille = -1;
}

void ctl_bar_update(struct ctl_bar *b, uint64_t done, uint64_t total)
{
	char d[32], t[32], bar[31];
	int pm = total ? (int)(done >= total ? 1000 : done * 1000 / total) : 0;
	int fill = pm * 30 / 1000;

	if (!b->tty || pm == b->last_permille)
		return;
	b->last_permille = pm;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(30 - fill));
	bar[30] = '\0';
	fprintf(stderr, "\r%s [%s] %3d%%  %s / %s\033[K", b->label, bar,
		pm / 10, ctl_bytes(d, done), ctl_bytes(t, total));
	fflush(stderr);
	b->drawn = true;
}

void ctl_bar_end(struct ctl_bar *b)
{
	if (b->drawn)
		fputs("\r\033[K", stderr);
	b->drawn = false;
}

int ctl_run_on_store(const struct ctl_cmd *c, int argc, char **argv,
		     unsigned flags, int (*body)(struct ctl_store *s))
{
	struct ctl_store s;
	char *pos[argc];
	int n, rc = ctl_args(c, argc, argv, NULL, 1, 1, pos, &n);

	if (rc >= 0)
		return rc;
	rc = ctl_open(&s, c, pos[0], flags);
	if (rc != CTL_OK)
		return rc;
	rc = body(&s);
	n = ctl_close(&s);
	return rc != CTL_OK ? rc : n;
}

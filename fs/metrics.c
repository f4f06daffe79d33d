/* metrics.c - the mount's figures as Prometheus text (metrics.h) and the
 * -o metrics option.  The engine renders its own families (lsm_stats);
 * the filesystem's come first, each family whole. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

_Thread_local struct fs_req_clock fs_req_clock;

void fs_count_reply(struct lsmfs *fs)
{
	struct timespec ts;
	uint64_t now;
	int op = fs_req_clock.op;

	if (op == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	fs_req_clock.op = 0;
	if (now > fs_req_clock.t0)
		atomic_fetch_add_explicit(&fs->cnt.op_ns[op - 1],
					  now - fs_req_clock.t0,
					  memory_order_relaxed);
}

struct text {
	char *p;
	size_t len, cap;
	int rc;
};

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (t->rc == 0) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->rc = -EINVAL;
		} else if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		} else {
			size_t cap = t->cap * 2 + (size_t)n;
			char *p = realloc(t->p, cap);

			if (!p)
				t->rc = -ENOMEM;
			else
				t->p = p, t->cap = cap;
		}
	}
}

static void family(struct text *t, const char *name, const char *type,
		   const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct text *t, const char *name, const char *type,
		const char *help, unsigned long long v)
{
	family(t, name, type, help);
	put(t, "%s %llu\n", name, v);
}

static void per_op(struct text *t, const char *name, const char *help,
		   atomic_uint_fast64_t *v)
{
	family(t, name, "counter", help);
	for (int i = 0; i < FS_OP__COUNT; i++)
		put(t, "%s{op=\"%s\"} %llu\n", name, fs_op_name(i),
		    (unsigned long long)v[i]);
}

static void per_op_seconds(struct text *t, const char *name,
			   const char *help, atomic_uint_fast64_t *ns)
{
	family(t, name, "counter", help);
	for (int i = 0; i < FS_OP__COUNT; i++) {
		unsigned long long v = ns[i];

		put(t, "%s{op=\"%s\"} %llu.%09llu\n", name, fs_op_name(i),
		    v / 1000000000u, v % 1000000000u);
	}
}

/* Expiry (-o default_ttl, user.lsmfs.ttl) and capacity (-o max_size). */
static void cache_families(struct lsmfs *fs, struct text *t)
{
	struct ns_counters c;

	ns_counters(fs->ns, &c);
	one(t, "lsmfs_expired_files_total", "counter", "Expired files "
	    "purged (their last name removed).", c.expired_files);
	one(t, "lsmfs_expired_bytes_total", "counter", "Bytes of file data "
	    "of the expired files purged.", c.expired_bytes);
	one(t, "lsmfs_evicted_files_total", "counter", "Files evicted to "
	    "stay under max_size (on_full=evict).", c.evicted_files);
	one(t, "lsmfs_evicted_bytes_total", "counter", "Bytes of file data "
	    "of the files evicted.", c.evicted_bytes);
	one(t, "lsmfs_full_errors_total", "counter", "Writes refused with "
	    "ENOSPC because they would pass max_size.", c.enospc);
	if (!c.max_size)
		return;
	one(t, "lsmfs_max_size_bytes", "gauge", "The capacity bound "
	    "(-o max_size) on the live bytes of file data.", c.max_size);
	one(t, "lsmfs_live_bytes", "gauge", "Bytes of file data held by "
	    "all files (what max_size bounds; the disk holds more until "
	    "compaction drops what was deleted).",
	    (unsigned long long)(c.live_bytes > 0 ? c.live_bytes : 0));
}

static void fs_families(struct lsmfs *fs, struct text *t)
{
	per_op(t, "lsmfs_operations_total", "FUSE requests served, by "
	       "operation.", fs->cnt.ops);
	per_op(t, "lsmfs_operation_errors_total", "FUSE requests answered "
	       "with an error, by operation.", fs->cnt.errors);
	per_op_seconds(t, "lsmfs_operation_seconds_total", "Time the daemon "
		       "spent on FUSE requests, from receiving each to "
		       "sending its reply, by operation (the rest of a "
		       "round trip is the kernel's and the transport's).",
		       fs->cnt.op_ns);
	one(t, "lsmfs_read_bytes_total", "counter", "Bytes of file data "
	    "read.", (unsigned long long)fs->cnt.bytes_read);
	one(t, "lsmfs_written_bytes_total", "counter", "Bytes of file data "
	    "written.", (unsigned long long)fs->cnt.bytes_written);
	one(t, "lsmfs_corruption_errors_total", "counter", "Requests that "
	    "failed with EIO because the store is damaged.",
	    (unsigned long long)fs->cnt.corruption);
	one(t, "lsmfs_inodes_allocated", "gauge", "Inode numbers handed out "
	    "so far (the allocator's high-water mark).",
	    (unsigned long long)ns_inodes_used(fs->ns));
	one(t, "lsmfs_orphans_reclaimed_at_mount", "gauge", "Unlinked but "
	    "still stored files reclaimed when mounting.",
	    (unsigned long long)fs->cnt.orphans_at_mount);
	one(t, "lsmfs_read_only", "gauge", "1 when mounted read-only.",
	    fs->read_only);
	one(t, "lsmfs_io_uring_requests_total", "counter", "FUSE requests "
	    "served over io_uring (-o io_uring) rather than /dev/fuse.",
	    (unsigned long long)fs->cnt.uring_requests);
	one(t, "lsmfs_forget_messages_total", "counter", "FORGET and "
	    "BATCH_FORGET messages read from the kernel.",
	    (unsigned long long)fs->cnt.forget_msgs);
	one(t, "lsmfs_forgotten_inodes_total", "counter", "Inodes those "
	    "messages named (the kernel dropped them from its cache).",
	    (unsigned long long)fs->cnt.forget_inodes);
	cache_families(fs, t);
}

int metrics_render(struct lsmfs *fs, char **text, size_t *len)
{
	struct text t = { malloc(4096), 0, 4096, 0 };
	char *engine = NULL;

	if (!t.p)
		return -ENOMEM;
	t.p[0] = '\0';
	fs_families(fs, &t);
	if (t.rc == 0 && lsm_stats(fs->db, &engine, NULL) == 0) {
		put(&t, "%s", engine);
		free(engine);
	}
	if (t.rc < 0) {
		free(t.p);
		return t.rc;
	}
	*text = t.p;
	*len = t.len;
	return 0;
}

static int bad_spec(const char *spec, const char *why)
{
	fprintf(stderr, "lsmfs: bad value '%s' for -o metrics: %s\n", spec,
		why);
	return -1;
}

int metrics_parse(const char *spec, struct lsmfs *fs)
{
	const char *port = strrchr(spec, ':');
	unsigned char bin[sizeof(struct in6_addr)];
	size_t alen = port ? (size_t)(port - spec) : 0;
	char addr[sizeof(fs->metrics_addr)];
	unsigned long v;
	char *end;

#ifndef LSMFS_HAVE_MICROHTTPD
	return bad_spec(spec, "this lsmfs was built without libmicrohttpd "
			"(install libmicrohttpd-dev and rebuild); the figures "
			"are in MOUNTPOINT/.lsmfs/stats");
#endif
	port = port ? port + 1 : spec;
	if (alen >= 2 && spec[0] == '[' && spec[alen - 1] == ']')
		spec++, alen -= 2;
	if (alen >= sizeof(addr))
		return bad_spec(spec, "address too long");
	memcpy(addr, spec, alen);
	addr[alen] = '\0';
	if (!alen)
		strcpy(addr, "127.0.0.1");
	if (inet_pton(AF_INET, addr, bin) != 1 &&
	    inet_pton(AF_INET6, addr, bin) != 1)
		return bad_spec(spec, "not a numeric IPv4 or IPv6 address "
				"(use [ADDR:]PORT, e.g. 127.0.0.1:9412)");
	errno = 0;
	v = strtoul(port, &end, 10);
	if (end == port || *end || errno || v == 0 || v > 65535)
		return bad_spec(port, "not a port in [1, 65535]");
	strcpy(fs->metrics_addr, addr);
	fs->metrics_port = (unsigned)v;
	return 0;
}

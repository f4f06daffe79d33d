/* main.c - the lsmfs daemon: `lsmfs DATADIR MOUNTPOINT [-o opts]` (also
 * as run by mount.fuse3 from /etc/fstab).  Parses options, opens the
 * engine and the namespace, reclaims orphans, mounts, forks into the
 * background (after the mount succeeded, so errors reach the caller's
 * terminal and exit status), runs the multi-threaded FUSE loop, and on
 * unmount or SIGTERM/SIGINT closes everything cleanly. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "logsink.h"
#include "metrics.h"
#include "mounts.h"
#include "opts.h"
#ifdef LSMFS_TEST_POWERCUT
#include "powercut.h" /* tests/fs: lsmfs-test only */
#endif

struct daemon_ctx {
	int notify_fd;  /* write end of the pipe to the waiting parent */
};

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct lsmfs *fs = userdata;

	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO; /* always plus: ls -l */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Only when asked: a write then returns once the kernel has it, and a
	 * crash of lsmfs loses what it had not passed on yet. */
	if (fs->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	/* The daemon holds the store exclusively: every change comes
	 * through this kernel, which updates its page cache as it writes.
	 * So a new mtime seen in an attribute reply (our own write) must
	 * not drop the cached pages of the file. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Unless another process writes it (a following read-only mount):
	 * then a new size or mtime must drop the stale pages. */
	if (fs->follow && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA))
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* POSIX ACLs: the kernel enforces them, we store them and keep the
	 * mode in sync; we apply the umask (only where no default ACL is
	 * inherited), so it must not. */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK) && !fs->follow) {
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		fs->acl = true;
	}
	/* Inode numbers are never reused, so one is a file handle: the
	 * kernel may look up "." of an inode it has forgotten (ops_node.c;
	 * NFS export, overlayfs index=on / nfs_export=on). */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* tmpfile.c reads requests with read(2) to see FUSE_TMPFILE, and
	 * writes replies with its writer, which sends those of requests
	 * served over io_uring back on their ring. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
			FUSE_CAP_SPLICE_MOVE);
}

static void op_destroy(void *userdata)
{
	struct lsmfs *fs = userdata;
	struct lsm_err err = { 0 };
	unsigned n = 0;

	ns_clear_refs(fs->ns); /* the kernel holds nothing any more */
	if (!fs->read_only && ns_reclaim_orphans(fs->ns, &n, &err) < 0)
		fs_log(FS_LOG_WARN, "reclaim at unmount: %s", err.msg);
	if (n)
		fs_log(FS_LOG_INFO, "reclaimed %u unlinked files", n);
}

/* Forks; the parent waits for the child's verdict and exits with it. */
static int background(struct daemon_ctx *d)
{
	int p[2];
	pid_t pid;
	char status = 1;

	if (pipe(p) < 0) {
		perror("lsmfs: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("lsmfs: fork");
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(p[0]);
	setsid();
	d->notify_fd = p[1];
	return 0;
}

static void detach(struct daemon_ctx *d, char status)
{
	int fd;

	if (d->notify_fd < 0)
		return;
	if (status == 0) {
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		if (chdir("/") < 0) { /* nothing else to do about it */
		}
	}
	if (write(d->notify_fd, &status, 1) != 1) { /* parent gone */
	}
	close(d->notify_fd);
	d->notify_fd = -1;
}

/* -1: missing; 0: empty directory; 1: has entries. */
static int dir_state(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	int state = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			state = 1;
			break;
		}
	}
	closedir(dir);
	return state;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Whether a read-write mount serves DATADIR now (its mountpoint to MNT). */
static bool served(const char *datadir, char *mnt, size_t size)
{
	bool rw = false;

	return mounts_find(MOUNTS_TABLE, datadir, mnt, size, &rw) > 0 && rw;
}

/* lsm_open, waiting up to fs->lock_timeout while another process holds
 * the lock and no mount serves the store: the daemon of a mount that was
 * just unmounted is still closing it (fusermount3 -u returns before). */
static int open_db(struct lsmfs *fs, struct lsm_options *lo,
		   struct lsm_err *err)
{
	uint64_t start = now_ms(), limit = (uint64_t)(fs->lock_timeout * 1000);
	char mnt[PATH_MAX];
	bool waiting = false;
	int rc;

	for (;;) {
		memset(err, 0, sizeof(*err));
		rc = lsm_open(fs->datadir, lo, &fs->db, err);
		if (rc != -EBUSY)
			break;
		if (served(fs->datadir, mnt, sizeof(mnt))) {
			fprintf(stderr, "lsmfs: %s (it is mounted on %s)\n",
				err->msg, mnt);
			return rc;
		}
		if (now_ms() - start >= limit) {
			fprintf(stderr, "lsmfs: %s (waited %.1f s: -o "
				"lock_timeout)\n", err->msg, fs->lock_timeout);
			return rc;
		}
		if (!waiting)
			fs_log_c(FS_LOG_INFO, "mount", "%s: not mounted, but its "
				 "lock is held: waiting up to %.1f s for the "
				 "holder (an unmounted lsmfs closing it)",
				 fs->datadir, fs->lock_timeout);
		waiting = true;
		usleep(10000);
	}
	if (rc < 0) {
		fprintf(stderr, "lsmfs: %s: %s\n", fs->datadir,
			err->msg[0] ? err->msg : strerror(-rc));
		return rc;
	}
	if (waiting)
		fs_log_c(FS_LOG_INFO, "mount", "%s: lock released after %llu ms",
			 fs->datadir, (unsigned long long)(now_ms() - start));
	return 0;
}

static int open_store(struct lsmfs *fs, struct lsm_options *lo,
		      struct ns_options *no, bool chunk_given)
{
	struct lsm_err err = { 0 };
	unsigned n = 0;
	int rc;

	lo->log_fn = logsink_engine;
	lo->read_only = fs->read_only;
	no->read_only = fs->read_only;
	no->follow = fs->follow;
	no->root_uid = getuid();
	no->root_gid = getgid();
	if (open_db(fs, lo, &err) < 0)
		return -1;
	rc = ns_open(fs->db, no, &fs->ns, &err);
	if (rc == 0 && chunk_given && ns_chunk_size(fs->ns) != no->chunk_size) {
		fprintf(stderr, "lsmfs: -o chunk_size=%u: %s was formatted with "
			"chunk_size=%u, which cannot change; leave the option "
			"out\n", no->chunk_size, fs->datadir,
			ns_chunk_size(fs->ns));
		return -1;
	}
	if (rc == 0 && !fs->read_only)
		rc = ns_reclaim_orphans(fs->ns, &n, &err);
	if (rc < 0) {
		fprintf(stderr, "lsmfs: %s: %s\n", fs->datadir, err.msg);
		return -1;
	}
	fs->cnt.orphans_at_mount = n;
	if (fs_snap_init(fs) < 0) {
		fprintf(stderr, "lsmfs: out of memory\n");
		return -1;
	}
	if (lo->wal_recovery == LSM_WAL_POINT_IN_TIME)
		fs_log(FS_LOG_INFO, "point-in-time recovery: the mount shows "
		       "the writes before the first damage of the log, if any "
		       "(lsmfs-ctl repair makes that for good)");
	if (n)
		fs_log(FS_LOG_INFO, "reclaimed %u orphaned files", n);
	return 0;
}

static void close_store(struct lsmfs *fs)
{
	struct lsm_err err = { 0 };

	fs_ctl_wait(fs);
	fs_snap_close(fs); /* its engine snapshots go before the engine */
	ns_close(fs->ns);
	fs->ns = NULL;
	if (fs->db && lsm_close(fs->db, &err) < 0)
		fs_log(FS_LOG_ERR, "closing the engine: %s", err.msg);
	fs->db = NULL;
}

/* Adds "-o default_permissions,fsname=DATADIR,subtype=lsmfs". */
static int add_mount_opts(struct fuse_args *args, const char *datadir)
{
	char opt[PATH_MAX * 2 + 64], *p = opt;

	p += sprintf(p, "-odefault_permissions,subtype=lsmfs,fsname=");
	for (const char *s = datadir; *s; s++) {
		if (*s == ',' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p = '\0';
	return fuse_opt_add_arg(args, opt);
}

/* Lets libfuse check the options left for it (unknown -o options among
 * them) on a copy of ARGS, before anything touches the data directory. */
static int check_fuse_args(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_lowlevel_ops ops = { 0 };
	struct fuse_session *se;
	int rc = 0;

	for (int i = 0; rc == 0 && i < args->argc; i++)
		rc = fuse_opt_add_arg(&copy, args->argv[i]);
	se = rc == 0 ? fuse_session_new(&copy, &ops, sizeof(ops), NULL) : NULL;
	fuse_opt_free_args(&copy);
	if (!se) {
		fprintf(stderr, "lsmfs: bad options (see above and --help); "
			"nothing was done\n");
		return -1;
	}
	fuse_session_destroy(se);
	return 0;
}

static int check_mountpoint(const struct lsmfs_conf *c,
			    const struct fuse_cmdline_opts *fo)
{
	struct stat st;

	if (!c->datadir || !fo->mountpoint) {
		fprintf(stderr, "lsmfs: missing %s (usage: lsmfs DATADIR "
			"MOUNTPOINT [-o opts]; see --help)\n",
			c->datadir ? "MOUNTPOINT" : "DATADIR");
		return -1;
	}
	if (stat(fo->mountpoint, &st) < 0) {
		fprintf(stderr, "lsmfs: mountpoint %s: %s\n", fo->mountpoint,
			strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "lsmfs: mountpoint %s is not a directory (mount "
			"on an existing directory)\n", fo->mountpoint);
		return -1;
	}
	return 0;
}

/* Creates a missing data directory and resolves it into ABS. */
static int check_datadir(struct lsmfs_conf *c, char *abs)
{
	struct stat st;

	if (dir_state(c->datadir) < 0 && errno == ENOENT && !c->ro &&
	    mkdir(c->datadir, 0700) < 0) {
		fprintf(stderr, "lsmfs: %s: %s\n", c->datadir, strerror(errno));
		return -1;
	}
	if (!realpath(c->datadir, abs)) {
		fprintf(stderr, "lsmfs: %s: %s\n", c->datadir, strerror(errno));
		return -1;
	}
	if (stat(abs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "lsmfs: %s: not a directory\n", abs);
		return -1;
	}
	return 0;
}

static int run_loop(struct fuse_session *se, struct fuse_cmdline_opts *fo)
{
	struct fuse_loop_config *cfg;
	int rc;

	if (fo->singlethread)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)fo->clone_fd);
	if (fo->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, fo->max_idle_threads);
	if (fo->max_threads > 0 && fo->max_threads <= 100000)
		fuse_loop_cfg_set_max_threads(cfg, fo->max_threads);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/* The INIT exchange (handshake.c), then the rings of -o io_uring when the
 * kernel granted them; without them requests keep coming over /dev/fuse.
 * 0 or -errno (the session is unusable). */
static int init_exchange(struct lsmfs *fs, struct fuse_session *se)
{
	struct fs_init want = { .killpriv = !fs->read_only,
				.uring = fs->io_uring };
	struct fs_init got;
	int rc = fs_handshake(se, &want, &got);

	if (rc < 0)
		return rc;
	fs->killpriv = got.killpriv;
	if (!fs->io_uring)
		return 0;
	if (!got.uring) {
		fs_log_c(fs->io_uring_asked ? FS_LOG_WARN : FS_LOG_DEBUG, "uring",
			 "the kernel does not offer FUSE over io_uring (Linux "
			 "6.14 or later, with 'echo Y > /sys/module/fuse/"
			 "parameters/enable_uring'): requests go over /dev/fuse");
		return 0;
	}
	rc = fs_uring_start(se, &(struct fs_uring_conf){
				    got.max_write, got.max_pages,
				    fs->uring_threads, fs->uring_idle,
				    &fs->cnt.uring_requests },
			    &fs->uring);
	if (rc < 0) {
		fs_log_c(FS_LOG_WARN, "uring",
			 "no rings (%s): requests go over /dev/fuse",
			 strerror(-rc));
		return 0;
	}
	fs_log_c(FS_LOG_INFO, "uring", "requests over io_uring: %u queues "
		 "served by %u threads each%s", fs_uring_queues(fs->uring),
		 fs->uring_threads, fs->uring_idle ? " (idle class)" : "");
	return 0;
}

static int serve(struct lsmfs *fs, struct fuse_args *args,
		 struct fuse_cmdline_opts *fo, struct daemon_ctx *d)
{
	struct fuse_lowlevel_ops ops = { 0 };
	struct fuse_session *se;
	int rc = -1;

	ops.init = op_init;
	ops.destroy = op_destroy;
	fs_ops_node(&ops);
	fs_ops_file(&ops);
	fs_ops_dir(&ops);
	fs_ops_xattr(&ops);
	se = fuse_session_new(args, &ops, sizeof(ops), fs);
	if (!se)
		return -1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, fo->mountpoint) != 0)
		goto out_signals;
	if (fs_tmpfile_io(se) != 0)
		fs_log(FS_LOG_WARN, "O_TMPFILE unsupported: no custom reader");
	fs->session = se;
	if ((!fs->read_only || fs->io_uring) &&
	    (rc = init_exchange(fs, se)) < 0) {
		fs_log(FS_LOG_ERR, "FUSE INIT: %s", strerror(-rc));
		rc = -1;
		goto out_unmount;
	}
	fs_log_c(FS_LOG_INFO, "mount", "mounted %s on %s", fs->datadir, fo->mountpoint);
	detach(d, 0);
	if (fs->follow)
		fs_follow_session(fs, se);
	ns_set_gone_fn(fs->ns, fs_gone, fs);
	fs_expire_start(fs);
	rc = run_loop(se, fo);
	fs_expire_stop(fs);
	fs_follow_session(fs, NULL);
out_unmount:
	fuse_session_unmount(se);
	/* The unmount ended the rings' commands; requests no longer come.
	 * A /.lsmfs/ctl job still running answers through the rings. */
	if (atomic_load(&fs->uring))
		fs_ctl_wait(fs);
	fs_uring_stop(atomic_exchange(&fs->uring, NULL));
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se); /* calls op_destroy when mounted */
	return rc == 0 ? 0 : -1;
}

static int start(struct lsmfs *fs, struct lsmfs_conf *c,
		 struct fuse_args *args, struct fuse_cmdline_opts *fo)
{
	static char abs[PATH_MAX];
	struct daemon_ctx d = { -1 };
	struct lsm_options lo;
	struct ns_options no;
	int rc;

	lsm_options_init(&lo);
	ns_engine_defaults(&lo); /* -o memtable_size, table_size override */
	ns_options_init(&no);
	fs->attr_timeout = fs->entry_timeout = FS_DEFAULT_TIMEOUT;
	/* everything is checked before the data directory is touched */
	if (opts_apply(c, &lo, &no, fs) < 0 || check_fuse_args(args) < 0 ||
	    check_mountpoint(c, fo) < 0 ||
	    fs_log_init(c->log, c->log_level, fo->foreground, fo->debug) < 0 ||
	    check_datadir(c, abs) < 0)
		return 1;
	fs->datadir = abs;
	fs->read_only = c->ro;
	if (add_mount_opts(args, abs) != 0)
		return 1;
	if (!fo->foreground && background(&d) < 0)
		return 1;
#ifdef LSMFS_TEST_POWERCUT
	if ((c->test_powercut || c->test_powercut_seed) &&
	    powercut_arm(&lo, c->test_powercut_seed) < 0) {
		detach(&d, 1);
		return 1;
	}
#endif
	if (open_store(fs, &lo, &no, c->chunk_size != NULL) < 0 ||
	    metrics_http_start(fs) < 0) {
		close_store(fs);
		detach(&d, 1);
		return 1;
	}
	fs_mem_start(fs);
	rc = serve(fs, args, fo, &d);
	fs_mem_stop();
	detach(&d, rc == 0 ? 0 : 1);
	metrics_http_stop(fs);
	close_store(fs);
	if (rc == 0)
		fs_log_c(FS_LOG_INFO, "mount", "unmounted %s", fs->datadir);
	logsink_close();
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fo = { 0 };
	struct lsmfs_conf c;
	static struct lsmfs fs = { .follow_mu = PTHREAD_MUTEX_INITIALIZER,
				   .ctl_mu = PTHREAD_MUTEX_INITIALIZER,
				   .ctl_cv = PTHREAD_COND_INITIALIZER };
	int rc = 1;

	fs_mem_init();
	if (opts_parse(&args, &c) < 0)
		goto out;
	if (c.help || c.version) {
		if (c.help)
			opts_usage(argv[0]);
		else
			printf("lsmfs %s (engine %s, libfuse %s)\n",
			       LSM_VERSION_STRING, lsm_version(),
			       fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if (c.mountpoint && access(c.mountpoint, F_OK) < 0) {
		fprintf(stderr, "lsmfs: mountpoint %s: %s\n", c.mountpoint,
			strerror(errno));
		goto out;
	}
	if (fuse_parse_cmdline(&args, &fo) != 0) {
		fprintf(stderr, "lsmfs: bad arguments (see --help)\n");
		goto out;
	}
	rc = start(&fs, &c, &args, &fo);
out:
	free(fo.mountpoint);
	opts_free(&c);
	fuse_opt_free_args(&args);
	return rc;
}

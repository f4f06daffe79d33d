/* main.c - lsmfs-replicate: keeps a replica data directory following a
 * primary's.  rsync's command-line shape:
 *
 *   lsmfs-replicate [OPTIONS] SRC DEST
 *     SRC, DEST: DIR (local), [USER@]HOST:DIR (over ssh, which runs
 *     `lsmfs-replicate --server ...` there), and SRC may be
 *     lsmfs://HOST[:PORT] (a daemon started with --listen; --key FILE).
 *   lsmfs-replicate --listen [ADDR:]PORT --key FILE [OPTIONS] SRC
 *     serves SRC to any number of replicas over TCP (loopback unless
 *     ADDR says otherwise), each in its own thread.
 *
 * Without --once it runs until SIGTERM/SIGINT, reconnecting after faults
 * with a backoff.  Design and guarantees: replicate/README.md, man page
 * lsmfs-replicate(1). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "repl.h"
#include "transport.h"

#define DEFAULT_PORT "7411"

volatile int repl_stop;

struct cli {
	struct repl_opts o;
	const char *rsh, *remote_path, *key_path, *listen, *pid_file;
	const char *log_target, *log_level;
	const char *name;     /* --listen: the label replicas must name */
	bool daemonize, server, server_sender, server_receiver;
	const char *src, *dest;
	uint8_t psk[32];
};

static void on_signal(int sig)
{
	(void)sig;
	repl_stop = 1;
}

static void usage(FILE *f)
{
	fputs("usage: lsmfs-replicate [OPTIONS] SRC DEST\n"
	      "       lsmfs-replicate --listen [ADDR:]PORT --key FILE [OPTIONS]"
	      " SRC\n"
	      "Keeps the lsmfs data directory DEST a replica of SRC: a\n"
	      "bootstrap copy when needed, then every log record as it is\n"
	      "written.  SRC and DEST are a local DIR or [USER@]HOST:DIR (ssh);"
	      "\nSRC may be lsmfs://HOST[:PORT] (a --listen daemon).\n\n"
	      "  --once              catch up with SRC as it is now, then exit 0\n"
	      "  --progress          show bootstrap progress on stderr\n"
	      "  -z, --compress      compress the stream (zlib)\n"
	      "  --unsynced          also ship records SRC has not synced yet\n"
	      "                      (lower lag; after a power cut of SRC the\n"
	      "                      replica may be ahead of it: diverged)\n"
	      "  -e, --rsh CMD       remote shell (default: ssh)\n"
	      "  --remote-path PATH  lsmfs-replicate on the remote host\n"
	      "  --listen [ADDR:]PORT  serve SRC over TCP (default address\n"
	      "                      127.0.0.1, port " DEFAULT_PORT ")\n"
	      "  --key FILE          shared secret for TCP (mode 0600 or\n"
	      "                      stricter, at least 32 bytes)\n"
	      "  --name LABEL        with --listen: the label replicas must\n"
	      "                      give (lsmfs://HOST:PORT/LABEL); it is\n"
	      "                      bound into the key proofs [empty]\n"
	      "  --daemon            run in the background (logs to syslog\n"
	      "                      unless --log says otherwise)\n"
	      "  --pid-file FILE     write the daemon's pid there\n"
	      "  --log stderr|syslog|FILE   where log lines go\n"
	      "  --log-level error|warn|info|debug   (default info)\n"
	      "  --stats FILE        Prometheus text, rewritten every second\n"
	      "  -h, --help, -V, --version\n", f);
}

enum {
	OPT_ONCE = 256, OPT_PROGRESS, OPT_UNSYNCED, OPT_REMOTE_PATH,
	OPT_LISTEN, OPT_KEY, OPT_DAEMON, OPT_PID_FILE, OPT_LOG, OPT_LOG_LEVEL,
	OPT_STATS, OPT_SERVER, OPT_SENDER, OPT_RECEIVER, OPT_IDLE, OPT_NAME,
};

static int parse(int argc, char **argv, struct cli *c)
{
	static const struct option longs[] = {
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "compress", no_argument, NULL, 'z' },
		{ "unsynced", no_argument, NULL, OPT_UNSYNCED },
		{ "rsh", required_argument, NULL, 'e' },
		{ "remote-path", required_argument, NULL, OPT_REMOTE_PATH },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "daemon", no_argument, NULL, OPT_DAEMON },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "server", no_argument, NULL, OPT_SERVER },
		{ "sender", no_argument, NULL, OPT_SENDER },
		{ "receiver", no_argument, NULL, OPT_RECEIVER },
		{ "idle-ms", required_argument, NULL, OPT_IDLE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	c->rsh = "ssh";
	c->remote_path = "lsmfs-replicate";
	c->o.idle_ms = 1000;
	while ((ch = getopt_long(argc, argv, "ze:hV", longs, NULL)) != -1) {
		switch (ch) {
		case OPT_ONCE: c->o.once = true; break;
		case OPT_PROGRESS: c->o.progress = true; break;
		case 'z': c->o.compress = true; break;
		case OPT_UNSYNCED: c->o.unsynced = true; break;
		case 'e': c->rsh = optarg; break;
		case OPT_REMOTE_PATH: c->remote_path = optarg; break;
		case OPT_LISTEN: c->listen = optarg; break;
		case OPT_KEY: c->key_path = optarg; break;
		case OPT_DAEMON: c->daemonize = true; break;
		case OPT_PID_FILE: c->pid_file = optarg; break;
		case OPT_LOG: c->log_target = optarg; break;
		case OPT_LOG_LEVEL: c->log_level = optarg; break;
		case OPT_STATS: c->o.stats_path = optarg; break;
		case OPT_SERVER: c->server = true; break;
		case OPT_SENDER: c->server_sender = true; break;
		case OPT_RECEIVER: c->server_receiver = true; break;
		case OPT_IDLE: c->o.idle_ms = atoi(optarg); break;
		case OPT_NAME: c->name = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'V':
			printf("lsmfs-replicate %s (liblsm %s, protocol %d)\n",
			       LSM_VERSION_STRING, lsm_version(), LR_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (c->server) {
		if (optind + 1 != argc ||
		    c->server_sender == c->server_receiver) {
			fprintf(stderr, "lsmfs-replicate: --server takes "
				"--sender or --receiver and one DIR\n");
			return -EINVAL;
		}
		c->src = argv[optind];
		return 0;
	}
	if (c->listen) {
		if (optind + 1 != argc) {
			fprintf(stderr, "lsmfs-replicate: --listen serves one "
				"SRC directory; try --help\n");
			return -EINVAL;
		}
		if (!c->key_path) {
			fprintf(stderr, "lsmfs-replicate: --listen needs --key "
				"FILE (a shared secret, mode 0600)\n");
			return -EINVAL;
		}
		c->src = argv[optind];
		return 0;
	}
	if (optind + 2 != argc) {
		fprintf(stderr, "lsmfs-replicate: expected SRC and DEST; try "
			"--help\n");
		return -EINVAL;
	}
	c->src = argv[optind];
	c->dest = argv[optind + 1];
	return 0;
}

/* ---- where an end lives ---- */

enum where { LOCAL, SSH, TCP };

/* Splits SPEC into host and dir (SSH: "[user@]host:dir", not "./x:y" or
 * "/x:y") or host and port (TCP: "lsmfs://host[:port][/]"). */
static enum where classify(const char *spec, char *host, size_t hcap,
			   const char **rest)
{
	const char *colon;

	if (!strncmp(spec, "lsmfs://", 8)) {
		const char *h = spec + 8, *end = h + strcspn(h, "/");

		snprintf(host, hcap, "%.*s", (int)(end - h), h);
		*rest = end;
		return TCP;
	}
	colon = strchr(spec, ':');
	if (colon && !memchr(spec, '/', (size_t)(colon - spec)) &&
	    colon != spec) {
		snprintf(host, hcap, "%.*s", (int)(colon - spec), spec);
		*rest = colon + 1;
		return SSH;
	}
	*rest = spec;
	return LOCAL;
}

/* Single-quotes S for a POSIX shell (the remote one ssh runs). */
static void shell_quote(const char *s, char *out, size_t cap)
{
	size_t k = 0;

	out[k++] = '\'';
	for (; *s && k + 5 < cap; s++) {
		if (*s == '\'') {
			memcpy(out + k, "'\\''", 4);
			k += 4;
		} else {
			out[k++] = *s;
		}
	}
	out[k++] = '\'';
	out[k] = '\0';
}

/* Starts CMD (split on spaces) HOST "remote-path --server ROLE -- DIR"
 * with pipes on its stdin/stdout. */
static int spawn_remote(const struct cli *c, const char *host, const char *dir,
			bool remote_sends, pid_t *pid, int *rfd, int *wfd)
{
	char qdir[PATH_MAX * 4 + 8], qpath[PATH_MAX * 4 + 8];
	char remote[PATH_MAX * 9];
	char *argv[32], rsh[1024];
	int in[2], out[2], n = 0;
	char *save = NULL, *tok;

	shell_quote(dir, qdir, sizeof(qdir));
	shell_quote(c->remote_path, qpath, sizeof(qpath));
	snprintf(remote, sizeof(remote), "%s --server %s%s%s -- %s", qpath,
		 remote_sends ? "--sender" : "--receiver",
		 c->o.unsynced ? " --unsynced" : "",
		 c->o.compress ? " --compress" : "", qdir);
	snprintf(rsh, sizeof(rsh), "%s", c->rsh);
	for (tok = strtok_r(rsh, " ", &save); tok && n < 28;
	     tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n++] = (char *)host;
	argv[n++] = remote;
	argv[n] = NULL;
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	*pid = fork();
	if (*pid < 0)
		return -errno;
	if (*pid == 0) {
		dup2(out[0], 0);
		dup2(in[1], 1);
		execvp(argv[0], argv);
		fprintf(stderr, "lsmfs-replicate: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(out[0]);
	close(in[1]);
	*rfd = in[0];
	*wfd = out[1];
	return 0;
}

static int tcp_connect(const char *hostport, struct lsm_err *err)
{
	char host[256], *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, rc;

	snprintf(host, sizeof(host), "%s", hostport);
	port = strrchr(host, ':');
	if (port && !strchr(port, ']'))
		*port++ = '\0';
	else
		port = (char *)DEFAULT_PORT;
	if (host[0] == '[') { /* [v6]:port */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return lsm_err_set(err, -EHOSTUNREACH, "%s: %s", hostport,
				   gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	rc = errno;
	freeaddrinfo(res);
	if (fd < 0)
		return lsm_err_set(err, -rc, "cannot connect to %s: %s",
				   hostport, strerror(rc));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	return fd;
}

/* The handshake context both ends bind into their proofs: the label of
 * the served store, so that one key cannot be replayed to another. */
static void context_of(const char *label, char *out, size_t cap)
{
	snprintf(out, cap, "lsmfs-replicate/%s", label ? label : "");
}

/* ---- one session ---- */

static int conn_over(int rfd, int wfd, struct lr_conn **out,
		     struct lsm_err *err)
{
	struct lr_transport *t = NULL;
	int rc = lr_transport_fd(rfd, wfd, true, &t);

	if (rc == 0)
		rc = lr_conn_new(t, out);
	if (rc < 0) {
		lr_transport_free(t);
		return lsm_err_set(err, rc, "out of memory");
	}
	return 0;
}

/* Runs one connection of the local end: SRC local (we send) or DEST
 * local (we receive). */
static int session(struct cli *c, struct lsm_err *err)
{
	char shost[256], dhost[256];
	const char *sdir, *ddir;
	enum where sw = classify(c->src, shost, sizeof(shost), &sdir);
	enum where dw = classify(c->dest, dhost, sizeof(dhost), &ddir);
	struct lr_conn *conn = NULL;
	pid_t pid = -1;
	int rc;

	c->o.peer = c->dest;
	if (sw != LOCAL && dw != LOCAL)
		return lsm_err_set(err, -EINVAL, "one of SRC and DEST must be "
				   "local");
	if (dw == TCP)
		return lsm_err_set(err, -EINVAL, "DEST cannot be lsmfs://: "
				   "replicas pull from a --listen daemon");
	if (sw == LOCAL && dw == LOCAL) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return lsm_err_set(err, -errno, "socketpair: %s",
					   strerror(errno));
		pid = fork();
		if (pid < 0)
			return lsm_err_set(err, -errno, "fork: %s",
					   strerror(errno));
		if (pid == 0) {
			struct lsm_err e2 = { 0 };

			close(sv[0]);
			signal(SIGINT, SIG_IGN); /* the parent ends us */
			rc = conn_over(sv[1], sv[1], &conn, &e2);
			if (rc == 0)
				rc = sender_run(sdir, conn, &c->o, &e2);
			if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE)
				logsink_printf(LOGSINK_ERR, "send", "%s", e2.msg);
			lr_conn_free(conn);
			_exit(rc < 0 ? 1 : 0);
		}
		close(sv[1]);
		rc = conn_over(sv[0], sv[0], &conn, err);
		if (rc == 0)
			rc = receiver_run(ddir, conn, &c->o, err);
	} else if (sw == TCP) {
		uint8_t psk[32];
		struct lr_transport *t = NULL;
		int fd;

		if (!c->key_path)
			return lsm_err_set(err, -EINVAL, "lsmfs:// needs --key "
					   "FILE");
		rc = lr_psk_load(c->key_path, psk, err);
		if (rc < 0)
			return rc;
		char ctx[512];

		context_of(sdir[0] == '/' ? sdir + 1 : sdir, ctx, sizeof(ctx));
		fd = tcp_connect(shost, err);
		if (fd < 0)
			return fd;
		rc = lr_transport_secure(fd, true, 'R', ctx, psk, 10000, &t,
					 err);
		if (rc == 0 && (rc = lr_conn_new(t, &conn)) < 0)
			lr_transport_free(t);
		if (rc == 0)
			rc = receiver_run(ddir, conn, &c->o, err);
	} else {
		int rfd, wfd;
		bool remote_sends = sw == SSH;

		rc = spawn_remote(c, remote_sends ? shost : dhost,
				  remote_sends ? sdir : ddir, remote_sends,
				  &pid, &rfd, &wfd);
		if (rc < 0)
			return lsm_err_set(err, rc, "cannot start %s: %s",
					   c->rsh, strerror(-rc));
		rc = conn_over(rfd, wfd, &conn, err);
		if (rc == 0)
			rc = remote_sends ? receiver_run(ddir, conn, &c->o, err)
					  : sender_run(sdir, conn, &c->o, err);
	}
	lr_conn_free(conn);
	if (pid > 0) {
		int st;

		if (rc < 0 || repl_stop)
			kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
	}
	return rc;
}

/* ---- the TCP daemon ---- */

struct client {
	struct cli *c;
	int fd;
	char peer[80];
};

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned recent_failures;
static time_t failure_window;

/* At most 5 failed handshakes per 10 s: later connections wait. */
static void auth_throttle(bool failed)
{
	time_t now = time(NULL);
	unsigned n;

	pthread_mutex_lock(&fail_mu);
	if (now - failure_window >= 10) {
		failure_window = now;
		recent_failures = 0;
	}
	if (failed)
		recent_failures++;
	n = recent_failures;
	pthread_mutex_unlock(&fail_mu);
	if (n > 5)
		sleep(2);
}

static void *serve_client(void *arg)
{
	struct client *cl = arg;
	struct lr_transport *t = NULL;
	struct lr_conn *conn = NULL;
	struct lsm_err err = { 0 };
	struct repl_opts o = cl->c->o;
	int rc;

	char ctx[512];

	auth_throttle(false);
	context_of(cl->c->name, ctx, sizeof(ctx));
	rc = lr_transport_secure(cl->fd, false, 'R', ctx, cl->c->psk, 10000,
				 &t, &err);
	if (rc < 0) {
		logsink_printf(LOGSINK_WARN, "listen", "%s: refused: %s", cl->peer, err.msg);
		auth_throttle(true);
		free(cl);
		return NULL;
	}
	rc = lr_conn_new(t, &conn);
	if (rc < 0) {
		lr_transport_free(t);
		free(cl);
		return NULL;
	}
	o.peer = cl->peer;
	logsink_printf(LOGSINK_INFO, "listen", "%s: replica connected", cl->peer);
	rc = sender_run(cl->c->src, conn, &o, &err);
	if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE)
		logsink_printf(LOGSINK_ERR, "send", "%s: %s", cl->peer, err.msg);
	else
		logsink_printf(LOGSINK_INFO, "send", "%s: replica left", cl->peer);
	lr_conn_free(conn);
	free(cl);
	return NULL;
}

static int listen_on(const char *spec, struct lsm_err *err)
{
	char host[256] = "127.0.0.1", port[32] = DEFAULT_PORT;
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE }, *res;
	int fd, rc;

	if (colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(port, sizeof(port), "%s", spec);
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0)
		return lsm_err_set(err, -EINVAL, "--listen %s: %s", spec,
				   gai_strerror(rc));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
		    res->ai_protocol);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
			   sizeof(int));
		if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
		    listen(fd, 64) < 0) {
			rc = -errno;
			close(fd);
			fd = rc;
		}
	} else {
		fd = -errno;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return lsm_err_set(err, fd, "--listen %s: %s", spec,
				   strerror(-fd));
	return fd;
}

static void *stats_loop(void *arg)
{
	const char *path = arg;

	while (!repl_stop) {
		sender_stats_write(path);
		sleep(1);
	}
	return NULL;
}

static int serve(struct cli *c, struct lsm_err *err)
{
	int lfd, rc;
	pthread_t st;

	rc = lr_psk_load(c->key_path, c->psk, err);
	if (rc < 0)
		return rc;
	lfd = listen_on(c->listen, err);
	if (lfd < 0)
		return lfd;
	logsink_printf(LOGSINK_INFO, "listen", "serving %s on %s", c->src, c->listen);
	if (c->o.stats_path &&
	    pthread_create(&st, NULL, stats_loop, (void *)c->o.stats_path) == 0)
		pthread_detach(st);
	while (!repl_stop) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		struct pollfd pf = { .fd = lfd, .events = POLLIN };
		int fd;
		struct client *cl;
		pthread_t th;
		char h[64] = "?", p[16] = "?";

		/* a signal may land in another thread: look at repl_stop
		 * twice a second rather than count on EINTR */
		if (poll(&pf, 1, 500) <= 0)
			continue;
		fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR)
				logsink_printf(LOGSINK_WARN, "listen", "accept: %s",
				     strerror(errno));
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
			   sizeof(int));
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			continue;
		}
		getnameinfo((struct sockaddr *)&sa, sl, h, sizeof(h), p,
			    sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(cl->peer, sizeof(cl->peer), "%s:%s", h, p);
		cl->c = c;
		cl->fd = fd;
		if (pthread_create(&th, NULL, serve_client, cl) != 0) {
			close(fd);
			free(cl);
			continue;
		}
		pthread_detach(th);
	}
	close(lfd);
	return 0;
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : -errno;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	struct lsm_err err = { 0 };
	enum logsink_level lvl = LOGSINK_INFO;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned backoff_ms = 500;
	int rc;

	if (parse(argc, argv, &c) < 0)
		return 2;
	if (c.log_level && logsink_parse_level(c.log_level, &lvl) < 0) {
		fprintf(stderr, "lsmfs-replicate: --log-level: expected error, "
			"warn, info or debug, not '%s'\n", c.log_level);
		return 2;
	}
	if (logsink_open("lsmfs-replicate", c.log_target ? c.log_target :
			 c.daemonize ? "syslog" : "stderr", lvl, &err) < 0) {
		fprintf(stderr, "lsmfs-replicate: --log: %s\n", err.msg);
		return 2;
	}
	memset(&err, 0, sizeof(err));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (c.server) { /* the remote end of an ssh session */
		struct lr_conn *conn = NULL;

		c.o.peer = "the ssh peer";
		rc = conn_over(0, 1, &conn, &err);
		if (rc == 0)
			rc = c.server_sender ? sender_run(c.src, conn, &c.o, &err)
					     : receiver_run(c.src, conn, &c.o,
							    &err);
		lr_conn_free(conn);
		if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE)
			logsink_printf(LOGSINK_ERR, c.server_sender ? "send" : "receive",
			     "%s", err.msg);
		return rc < 0 && rc != -ECONNRESET ? 1 : 0;
	}
	if (c.daemonize && daemon(0, 0) < 0) {
		fprintf(stderr, "lsmfs-replicate: daemon: %s\n",
			strerror(errno));
		return 1;
	}
	if (c.pid_file && write_pid_file(c.pid_file) < 0) {
		logsink_printf(LOGSINK_ERR, "main", "--pid-file %s: %s", c.pid_file,
		     strerror(errno));
		return 1;
	}
	if (c.listen) {
		rc = serve(&c, &err);
		if (rc < 0)
			logsink_printf(LOGSINK_ERR, "listen", "%s", err.msg);
		if (c.pid_file)
			unlink(c.pid_file);
		return rc < 0 ? 1 : 0;
	}
	for (int attempt = 0;; attempt++) {
		time_t began = time(NULL);

		memset(&err, 0, sizeof(err));
		rc = session(&c, &err);
		if (time(NULL) - began >= 5)
			backoff_ms = 500; /* it ran: faults are not piling up */
		if (rc == 0 || repl_stop)
			break;
		if (rc == -EINVAL || rc == -EEXIST || rc == -EBUSY ||
		    rc == -EACCES || rc == -EPERM ||
		    rc == -EPROTONOSUPPORT || rc == -ENOENT) {
			logsink_printf(LOGSINK_ERR, "main", "%s", err.msg);
			break; /* retrying cannot help */
		}
		logsink_printf(LOGSINK_WARN, "main", "%s; retrying in %u ms", err.msg,
		     backoff_ms);
		if (c.o.once && attempt >= 5)
			break;
		usleep(backoff_ms * 1000u);
		backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
	}
	if (c.pid_file)
		unlink(c.pid_file);
	if (repl_stop)
		return 0;
	return rc < 0 ? 1 : 0;
}

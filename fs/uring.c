/* uring.c - FUSE requests over io_uring (Linux 6.14 and later, with the
 * fuse module's enable_uring parameter set), with libfuse 3.14, which
 * predates it.
 *
 * Over /dev/fuse a request made on one CPU wakes whichever daemon thread
 * sleeps in read(2), often on the other CPU, and the reply wakes the
 * program back across CPUs: two cross-CPU wakeups per request, which cost
 * ~115 us on a virtual machine against ~9 us when both sides share a CPU
 * (README, "What a FUSE round trip costs").  Over io_uring the kernel
 * keeps one queue per CPU: a request goes to the queue of the CPU its
 * caller runs on, served by threads of ours pinned to that CPU, and both
 * wakeups stay local.
 *
 * The kernel's protocol (include/uapi/linux/fuse.h, protocol 7.42): a
 * thread registers ring entries of its CPU's queue with
 * IORING_OP_URING_CMD on the /dev/fuse descriptor (SQE128); an entry is
 * a header (the in header, the operation's first argument, and the
 * entry's commit id and payload length) and a payload buffer (the rest
 * of the arguments).  The command
 * completes when a request is put in the entry; the reply goes back in
 * the same buffers with COMMIT_AND_FETCH, which also waits for the next
 * request.  The kernel switches to the ring once every queue (one per
 * possible CPU) holds an entry; until then, and for FORGET and INTERRUPT
 * always, requests still come over /dev/fuse and libfuse's loop.
 *
 * Each request is laid out as it would arrive over /dev/fuse, with its
 * header and first argument written just before the payload (so the data
 * of a write is not copied), and handed to libfuse's
 * fuse_session_process_buf.  The reply reaches the session's writer
 * (tmpfile.c), which gives it to fs_uring_reply: a reply made on the
 * entry's own thread is queued on its ring and submitted with the next
 * wait, one system call per request; one made on another thread (a
 * /.lsmfs/ctl job) is handed to the entry's thread through an eventfd,
 * which keeps each ring single-issuer.
 *
 * Each CPU has -o io_uring_threads threads, each with its own ring and
 * one entry (UR_ENTRIES), so a request that blocks holds up no other.
 *
 * With -o io_uring_idle (the default) those threads run in the idle
 * scheduling class (SCHED_IDLE).  A reply wakes the program while our
 * thread still runs on the program's CPU; the scheduler then looks for an
 * idle CPU and moves the program to the other one, and every round trip
 * pays for waking a halted vCPU (30-40 us on the machine measured, README
 * "Ring threads in the idle class").  A CPU that runs only idle-class
 * threads counts as idle, so the program stays, preempts our thread at
 * once, and the thread finishes its wait when the program blocks again.
 * Idle-class threads still get the CPU under load (Linux 6.6+ schedules
 * them by EEVDF; the kernels that offer FUSE over io_uring are newer). */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "fs.h"

/* ---- the kernel's ABI (fuse 7.42), absent from Debian's headers ---- */
struct ur_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;     /* given back with the reply */
	uint32_t payload_sz;    /* bytes used in the payload buffer */
	uint32_t padding;
	uint64_t reserved;
};

struct ur_header {
	uint8_t in_out[128];    /* fuse_in_header, then fuse_out_header */
	uint8_t op_in[128];     /* the request's first argument */
	struct ur_ent_in_out ent;
};

struct ur_cmd {                 /* the SQE's 80-byte command area */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

enum { UR_REGISTER = 1, UR_COMMIT_AND_FETCH = 2 };

_Static_assert(sizeof(struct ur_header) == 288, "fuse_uring_req_header");
_Static_assert(sizeof(struct ur_cmd) == 24, "fuse_uring_cmd_req");

/* Room before the payload: the entry's header at its start, the request's
 * header and first argument rebuilt at its end (at most 40 + 128). */
#define UR_ROOM 4096u
/* user_data of the eventfd's poll; entries' are their addresses */
#define UR_WAKE 1u
/* Entries per ring.  One: a thread holds one request at a time, so a
 * request that blocks (an fsync waiting for the disk, a cold read) holds
 * up no other; the kernel gives a new request to the entry that came
 * back last, so one thread per CPU stays busy and the others sleep. */
#define UR_ENTRIES 1u

struct fs_uring;
struct ur_ring;

struct ur_ent {
	struct ur_ring *q;
	uint8_t *mem;           /* UR_ROOM + the payload, mapped */
	struct ur_header *hdr;  /* at mem */
	uint8_t *payload;       /* at mem + UR_ROOM */
	struct iovec iov[2];
	uint64_t commit_id;
	/* The request the daemon holds in this entry, 0 once answered: how
	 * a reply finds its entry. */
	_Atomic uint64_t unique;
	struct ur_ent *next;    /* on its ring's list of foreign replies */
};

/* One thread, its ring and its entries, serving the kernel's queue QID
 * (the CPU it is pinned to). */
struct ur_ring {
	struct fs_uring *u;
	unsigned qid;
	struct io_uring ring;
	bool ring_ok;
	int efd;                /* wakes the thread: a foreign reply, stop */
	pthread_t th;
	bool th_ok;
	pthread_mutex_t mu;
	struct ur_ent *foreign; /* replies made on other threads, under mu */
	struct ur_ent *ent;     /* u->depth entries */
	unsigned live;          /* entries with a command in the kernel */
	int err;                /* the first failure; the thread then ends */
};

struct fs_uring {
	struct fuse_session *se;
	int fd;                 /* /dev/fuse */
	size_t payload;
	unsigned nq;            /* the kernel's queues: one per CPU */
	unsigned per;           /* threads (rings) per queue */
	unsigned nr;            /* nq * per rings, ring i serves queue i / per */
	unsigned depth;         /* entries per ring: UR_ENTRIES */
	bool idle;              /* threads in SCHED_IDLE (-o io_uring_idle) */
	atomic_bool stop;
	atomic_uint_fast64_t *served;
	struct ur_ring *q;      /* nr rings */
	/* start: the threads report their rings ready */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned started;
};

/* The entry whose request this thread is handling. */
static _Thread_local struct ur_ent *ur_cur;

/* The kernel's number of queues: one per possible CPU. */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	unsigned a = 0, b = 0, n = 0;
	int c;

	if (!f)
		return (unsigned)get_nprocs_conf();
	/* "0-3,8-11" */
	while (fscanf(f, "%u", &a) == 1) {
		b = a;
		c = fgetc(f);
		if (c == '-') {
			if (fscanf(f, "%u", &b) != 1)
				break;
			c = fgetc(f);
		}
		if (b + 1 > n)
			n = b + 1;
		if (c != ',')
			break;
	}
	fclose(f);
	return n ? n : (unsigned)get_nprocs_conf();
}

static struct io_uring_sqe *ur_sqe(struct ur_ring *q, struct ur_ent *e,
				   unsigned cmd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	struct ur_cmd *c;

	if (!sqe)
		return NULL;
	memset(sqe, 0, 128); /* SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->u->fd;
	sqe->cmd_op = cmd;
	io_uring_sqe_set_data(sqe, e);
	c = (struct ur_cmd *)sqe->cmd;
	c->qid = (uint16_t)q->qid;
	if (cmd == UR_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->iov;
		sqe->len = 2;
	} else {
		c->commit_id = e->commit_id;
	}
	return sqe;
}

/* Gives E's reply back and asks for its next request: on E's own thread
 * only.  There is always an SQE, since each entry has at most one
 * command in flight and the ring has one per entry and one for the
 * eventfd. */
static void ur_commit(struct ur_ent *e)
{
	struct ur_ring *q = e->q;

	if (!ur_sqe(q, e, UR_COMMIT_AND_FETCH) && !q->err) {
		q->err = -EOVERFLOW;
		fs_log_c(FS_LOG_ERR, "uring", "queue %u: no free SQE",
			 q->qid);
	}
}

static void ur_arm_wake(struct ur_ring *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, q->efd, POLLIN);
	io_uring_sqe_set_data64(sqe, UR_WAKE);
}

/* Commits the replies other threads left for Q. */
static void ur_take_foreign(struct ur_ring *q)
{
	struct ur_ent *e, *next;
	uint64_t v;

	if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		q->err = q->err ? q->err : -errno;
	pthread_mutex_lock(&q->mu);
	e = q->foreign;
	q->foreign = NULL;
	pthread_mutex_unlock(&q->mu);
	for (; e; e = next) {
		next = e->next;
		ur_commit(e);
	}
}

static void ur_reply_error(struct ur_ent *e, const struct fuse_in_header *ih,
			   int err)
{
	struct fuse_out_header oh = { sizeof(oh), -err, ih->unique };

	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	e->hdr->ent.payload_sz = 0;
	ur_commit(e);
}

/* Hands the request in E to libfuse, laid out as /dev/fuse gives it. */
static void ur_handle(struct ur_ent *e)
{
	struct fs_uring *u = e->q->u;
	struct ur_header *h = e->hdr;
	struct fuse_in_header ih;
	uint32_t psz = h->ent.payload_sz;
	size_t arg0;
	uint8_t *msg;
	struct fuse_buf fb = { 0 };

	memcpy(&ih, h->in_out, sizeof(ih));
	e->commit_id = h->ent.commit_id;
	/* The kernel sets len to the header and every argument; the first
	 * argument went to op_in, the others to the payload. */
	if (ih.len < sizeof(ih) + (uint64_t)psz || psz > u->payload ||
	    (arg0 = ih.len - sizeof(ih) - psz) > sizeof(h->op_in)) {
		fs_log_c(FS_LOG_ERR, "uring",
			 "request %llu (opcode %u): length %u does not match "
			 "its payload of %u bytes",
			 (unsigned long long)ih.unique, ih.opcode, ih.len, psz);
		ur_reply_error(e, &ih, EIO);
		return;
	}
	msg = e->payload - sizeof(ih) - arg0;
	memcpy(msg, &ih, sizeof(ih));
	memcpy(msg + sizeof(ih), h->op_in, arg0);
	fs_tmpfile_fix((struct fuse_in_header *)msg);
	fs_req_clock.op = 0; /* only its own fs_count times this request */
	atomic_fetch_add_explicit(u->served, 1, memory_order_relaxed);
	atomic_store_explicit(&e->unique, ih.unique, memory_order_release);
	ur_cur = e;
	fb.mem = msg;
	fb.size = ih.len;
	fuse_session_process_buf(u->se, &fb);
	ur_cur = NULL;
}

/* One completion: a request, the eventfd, or a command that failed. */
static int ur_complete(struct ur_ring *q, struct io_uring_cqe *cqe)
{
	struct ur_ent *e;

	if (io_uring_cqe_get_data64(cqe) == UR_WAKE) {
		ur_take_foreign(q);
		if (atomic_load(&q->u->stop))
			return 1;
		ur_arm_wake(q);
		return 0;
	}
	e = io_uring_cqe_get_data(cqe);
	if (cqe->res == 0) {
		ur_handle(e);
		return 0;
	}
	if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
		/* the kernel took nothing: send the same command again */
		if (!ur_sqe(q, e, e->commit_id ? UR_COMMIT_AND_FETCH
					       : UR_REGISTER))
			q->err = -EOVERFLOW;
		return 0;
	}
	/* ENOTCONN/ECONNABORTED: unmounted or aborted, the normal end */
	if (cqe->res == -ENOTCONN || cqe->res == -ECONNABORTED)
		return 1;
	/* The kernel refused the command (it names the reason in its log):
	 * this entry is gone, the others go on. */
	fs_log_c(FS_LOG_ERR, "uring", "queue %u: %s command: %s", q->qid,
		 e->commit_id ? "commit" : "register", strerror(-cqe->res));
	if (--q->live == 0 && !q->err)
		q->err = cqe->res;
	return q->live == 0;
}

static int ur_setup(struct ur_ring *q)
{
	struct fs_uring *u = q->u;
	struct io_uring_params p = { 0 };
	unsigned i;
	int rc;

	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		return -errno;
	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
	p.cq_entries = 2 * (u->depth + 1);
	rc = io_uring_queue_init_params(u->depth + 1, &q->ring, &p);
	if (rc < 0)
		return rc;
	q->ring_ok = true;
	for (i = 0; i < u->depth; i++) {
		struct ur_ent *e = &q->ent[i];

		e->q = q;
		e->mem = mmap(NULL, UR_ROOM + u->payload,
			      PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			      0);
		if (e->mem == MAP_FAILED) {
			e->mem = NULL;
			return -ENOMEM;
		}
		e->hdr = (struct ur_header *)e->mem;
		e->payload = e->mem + UR_ROOM;
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->payload, u->payload };
		if (!ur_sqe(q, e, UR_REGISTER))
			return -EOVERFLOW;
		q->live++;
	}
	ur_arm_wake(q);
	rc = io_uring_submit(&q->ring);
	return rc < 0 ? rc : 0;
}

static void *ur_main(void *arg)
{
	struct ur_ring *q = arg;
	struct fs_uring *u = q->u;
	struct io_uring_cqe *cqe;
	cpu_set_t cpus;
	char name[16];
	int rc;

	/* "lsmfs-uCPU.N", within the 15 characters of a thread name */
	snprintf(name, sizeof(name), "lsmfs-u%u.%u", q->qid % 1000u,
		 (unsigned)(q - u->q) % u->per % 100u);
	pthread_setname_np(pthread_self(), name);
	CPU_ZERO(&cpus);
	CPU_SET(q->qid, &cpus);
	/* an offline CPU: the kernel sends that queue nothing anyway */
	(void)sched_setaffinity(0, sizeof(cpus), &cpus);
	if (u->idle &&
	    sched_setscheduler(0, SCHED_IDLE, &(struct sched_param){ 0 }) < 0)
		fs_log_c(FS_LOG_DEBUG, "uring", "queue %u: SCHED_IDLE: %s",
			 q->qid, strerror(errno));
	rc = ur_setup(q);
	pthread_mutex_lock(&u->mu);
	if (rc < 0)
		q->err = rc;
	u->started++;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	while (!q->err) {
		unsigned head, n = 0;
		int done = 0;

		rc = io_uring_submit_and_wait(&q->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			q->err = rc;
			fs_log_c(FS_LOG_ERR, "uring", "queue %u: %s",
				 q->qid, strerror(-rc));
			break;
		}
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			n++;
			done |= ur_complete(q, cqe);
		}
		io_uring_cq_advance(&q->ring, n);
		if (done)
			break;
	}
	/* what the handlers committed last */
	io_uring_submit(&q->ring);
	return NULL;
}

static void ur_free(struct fs_uring *u)
{
	for (unsigned i = 0; u->q && i < u->nr; i++) {
		struct ur_ring *q = &u->q[i];

		if (q->ring_ok)
			io_uring_queue_exit(&q->ring);
		if (q->efd >= 0)
			close(q->efd);
		for (unsigned k = 0; q->ent && k < u->depth; k++)
			if (q->ent[k].mem)
				munmap(q->ent[k].mem, UR_ROOM + u->payload);
		free(q->ent);
		pthread_mutex_destroy(&q->mu);
	}
	pthread_cond_destroy(&u->cv);
	pthread_mutex_destroy(&u->mu);
	free(u->q);
	free(u);
}

int fs_uring_start(struct fuse_session *se, const struct fs_uring_conf *c,
		   struct fs_uring *_Atomic *out)
{
	uint32_t max_write = c->max_write, max_pages = c->max_pages;
	unsigned threads = c->threads ? c->threads : 1, started;
	long page = sysconf(_SC_PAGESIZE);
	struct fs_uring *u = calloc(1, sizeof(*u));
	size_t payload;
	unsigned i;
	int rc = 0;

	atomic_store(out, NULL);
	if (!u)
		return -ENOMEM;
	/* The kernel's smallest payload buffer: the largest of 8 KiB, a
	 * write and a request's pages (32 unless INIT said otherwise). */
	payload = FUSE_MIN_READ_BUFFER;
	if (max_write > payload)
		payload = max_write;
	if ((size_t)(max_pages > 32 ? max_pages : 32) * (size_t)page > payload)
		payload = (size_t)(max_pages > 32 ? max_pages : 32) *
			  (size_t)page;
	u->se = se;
	u->fd = fuse_session_fd(se);
	u->payload = payload;
	u->depth = UR_ENTRIES;
	u->idle = c->idle;
	u->served = c->served;
	u->nq = possible_cpus();
	u->per = threads;
	u->nr = u->nq * threads;
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cv, NULL);
	u->q = calloc(u->nr, sizeof(*u->q));
	if (!u->q) {
		ur_free(u);
		return -ENOMEM;
	}
	for (i = 0; i < u->nr; i++) {
		struct ur_ring *q = &u->q[i];

		q->u = u;
		q->qid = i / threads;
		q->efd = -1;
		pthread_mutex_init(&q->mu, NULL);
		q->ent = calloc(u->depth, sizeof(*q->ent));
		if (!q->ent)
			rc = -ENOMEM;
	}
	/* published before the kernel can hand the rings a request, whose
	 * reply must find them */
	if (rc == 0)
		atomic_store(out, u);
	for (i = 0; rc == 0 && i < u->nr; i++) {
		rc = -pthread_create(&u->q[i].th, NULL, ur_main, &u->q[i]);
		u->q[i].th_ok = rc == 0;
	}
	pthread_mutex_lock(&u->mu);
	while (u->started < i - (rc != 0))
		pthread_cond_wait(&u->cv, &u->mu);
	pthread_mutex_unlock(&u->mu);
	/* Threads that registered their entry stay, even when others
	 * failed: once every queue has an entry the kernel sends requests
	 * there and nowhere else, and stopping them then would leave those
	 * requests waiting for good.  (A queue without any leaves the kernel
	 * on /dev/fuse.) */
	started = 0;
	for (unsigned k = 0; k < u->nr; k++) {
		if (u->q[k].th_ok && !u->q[k].err)
			started++;
		else if (rc == 0)
			rc = u->q[k].err ? u->q[k].err : -EAGAIN;
	}
	if (started == 0) {
		atomic_store(out, NULL);
		fs_uring_stop(u);
		return rc < 0 ? rc : -EAGAIN;
	}
	if (rc < 0)
		fs_log_c(FS_LOG_WARN, "uring", "%u of %u ring threads failed "
			 "to start: %s", u->nr - started, u->nr,
			 strerror(-rc));
	return 0;
}

void fs_uring_stop(struct fs_uring *u)
{
	if (!u)
		return;
	atomic_store(&u->stop, true);
	for (unsigned i = 0; i < u->nr; i++) {
		uint64_t one = 1;

		if (u->q[i].efd >= 0 &&
		    write(u->q[i].efd, &one, sizeof(one)) < 0)
			fs_log_c(FS_LOG_WARN, "uring", "wake queue %u: %s",
				 i, strerror(errno));
	}
	for (unsigned i = 0; i < u->nr; i++)
		if (u->q[i].th_ok)
			pthread_join(u->q[i].th, NULL);
	ur_free(u);
}

unsigned fs_uring_queues(const struct fs_uring *u)
{
	return u ? u->nq : 0;
}

static struct ur_ent *ur_find(struct fs_uring *u, uint64_t unique)
{
	struct ur_ent *e = ur_cur;

	if (e && atomic_load_explicit(&e->unique, memory_order_acquire) ==
			 unique)
		return e;
	for (unsigned i = 0; i < u->nr; i++)
		for (unsigned k = 0; k < u->depth; k++) {
			e = &u->q[i].ent[k];
			if (atomic_load_explicit(&e->unique,
						 memory_order_acquire) == unique)
				return e;
		}
	return NULL;
}

ssize_t fs_uring_reply(struct fs_uring *u, const struct iovec *iov,
		       int count)
{
	struct fuse_out_header oh;
	struct ur_ent *e;
	struct ur_ring *q;
	size_t len = 0;
	uint64_t one = 1;

	if (!u || count < 1 || iov[0].iov_len < sizeof(oh))
		return -ENOENT;
	memcpy(&oh, iov[0].iov_base, sizeof(oh));
	if (oh.unique == 0 || !(e = ur_find(u, oh.unique)))
		return -ENOENT; /* a notification, or a /dev/fuse request */
	for (int i = 1; i < count; i++) {
		if (len + iov[i].iov_len > u->payload) {
			oh.error = -EIO;
			len = 0;
			fs_log_c(FS_LOG_ERR, "uring",
				 "reply to %llu exceeds %zu bytes",
				 (unsigned long long)oh.unique, u->payload);
			break;
		}
		memmove(e->payload + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	oh.len = (uint32_t)(sizeof(oh) + len);
	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	e->hdr->ent.payload_sz = (uint32_t)len;
	atomic_store_explicit(&e->unique, 0, memory_order_release);
	q = e->q;
	if (pthread_equal(pthread_self(), q->th)) {
		ur_commit(e);
	} else {
		pthread_mutex_lock(&q->mu);
		e->next = q->foreign;
		q->foreign = e;
		pthread_mutex_unlock(&q->mu);
		if (write(q->efd, &one, sizeof(one)) < 0)
			fs_log_c(FS_LOG_ERR, "uring", "wake queue %u: %s",
				 q->qid, strerror(errno));
	}
	return (ssize_t)oh.len;
}

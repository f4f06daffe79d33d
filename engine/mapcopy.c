/* mapcopy.c - guarded copies out of file mappings (mapcopy.h).
 *
 * The copy (or map_guard's function) runs with a per-thread jump buffer
 * armed and the source range noted.  The SIGBUS handler jumps back when
 * the faulting address lies in that range and the thread is copying; any
 * other SIGBUS is handed to the disposition that was there before (or,
 * when that was the default, the default is restored and the faulting
 * access repeats and ends the process as it would have).  The handler
 * runs with SA_NODEFER, so the jump leaves the thread's signal mask as it
 * was and sigsetjmp need not save it (no system call per copy).
 * map_copy_init (re)installs the handler at every table mapped: when
 * something replaced it since (a program's own handler, a test
 * harness's), the engine's goes back on top and chains to that one. */
#include "mapcopy.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction prev; /* the disposition ours was put on top of */

/* Set only while this thread copies; read by the handler on this thread.
 * Static TLS (initial-exec): reading it in a signal handler must not
 * allocate, which a lazily allocated TLS block of a dlopen'ed library
 * could. */
#define TLS_IE __attribute__((tls_model("initial-exec")))
static _Thread_local sigjmp_buf *armed TLS_IE;
static _Thread_local uintptr_t armed_lo TLS_IE, armed_hi TLS_IE;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *env = armed;
	uintptr_t a = (uintptr_t)si->si_addr;

	if (env && a >= armed_lo && a < armed_hi) {
		armed = NULL;
		siglongjmp(*env, 1);
	}
	if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
		prev.sa_sigaction(sig, si, uc);
	} else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
		prev.sa_handler(sig);
	} else {
		/* the fault repeats on return, now with the default action */
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(SIGBUS, &dfl, NULL);
	}
}

int map_copy_init(void)
{
	struct sigaction sa, cur;
	int rc = 0;

	pthread_mutex_lock(&mu);
	if (sigaction(SIGBUS, NULL, &cur) < 0) {
		rc = -errno;
	} else if (!(cur.sa_flags & SA_SIGINFO) ||
		   cur.sa_sigaction != on_sigbus) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		/* PREV changes while ours is not installed: no fault of ours
		 * can be using it */
		prev = cur;
		if (sigaction(SIGBUS, &sa, NULL) < 0)
			rc = -errno;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

int map_guard(const void *lo, size_t n, int (*fn)(void *arg), void *arg)
{
	sigjmp_buf env;
	int rc;

	if (sigsetjmp(env, 0))
		return -EIO; /* the handler disarmed */
	armed_lo = (uintptr_t)lo;
	armed_hi = (uintptr_t)lo + n;
	atomic_signal_fence(memory_order_seq_cst);
	armed = &env;
	atomic_signal_fence(memory_order_seq_cst);
	rc = fn(arg);
	atomic_signal_fence(memory_order_seq_cst);
	armed = NULL;
	return rc;
}

struct copy_args {
	void *dst;
	const void *src;
	size_t n;
};

static int copy_fn(void *arg)
{
	struct copy_args *a = arg;

	memcpy(a->dst, a->src, a->n);
	return 0;
}

int map_copy(void *dst, const void *src, size_t n)
{
	struct copy_args a = { dst, src, n };

	return map_guard(src, n, copy_fn, &a);
}

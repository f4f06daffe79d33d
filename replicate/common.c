/* common.c - small things both sides of lsmfs-replicate use: clocks and
 * the peer's error message turned into ours. */
#include <errno.h>
#include <time.h>

#include "repl.h"

uint64_t repl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t repl_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int repl_peer_error(const uint8_t *p, size_t len, const char *who,
		    struct lsm_err *err)
{
	char msg[256];
	int code, rc = lr_dec_error(p, len, &code, msg, sizeof(msg), err);

	if (rc < 0)
		return rc;
	return lsm_err_set(err, code < 0 ? code : -EIO, "%s: %s", who, msg);
}

/* err.c - error reporting: a negative errno plus a caller-owned message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lsm.h"

int lsm_err_set(struct lsm_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	/* formatted aside first: callers may pass err->msg as an argument
	 * (wrapping the reason a callee left) */
	char msg[sizeof(err->msg)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err->code = code;
	memcpy(err->msg, msg, sizeof(msg));
	return code;
}

const char *lsm_version(void)
{
	return LSM_VERSION_STRING;
}

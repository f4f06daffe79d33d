/* err.c - error reporting: a negative errno plus a caller-owned message. */
#include <stdarg.h>
#include <stdio.h>

#include "lsm.h"

int lsm_err_set(struct lsm_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

const char *lsm_version(void)
{
	return LSM_VERSION_STRING;
}

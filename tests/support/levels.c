/* levels.c - asserts the level invariants of an open db (tests only: it
 * reaches into engine internals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "db_impl.h"
#include "support.h"

void check_levels(struct lsm_db *db)
{
	struct lsm_err err = { 0 };
	int rc;

	pthread_mutex_lock(&db->mu);
	rc = version_check(db->vs.current, &err);
	pthread_mutex_unlock(&db->mu);
	if (rc)
		fprintf(stderr, "level invariant: %s\n", err.msg);
	assert_int_equal(rc, 0);
}

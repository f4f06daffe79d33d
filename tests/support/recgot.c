/* recgot.c - the records a log replay delivered, kept for the tests to
 * compare (support.h, struct rec_got). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

uint8_t *rec_got_add(struct rec_got *g, size_t len, uint64_t off)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->rec = realloc(g->rec, g->cap * sizeof(*g->rec));
		g->len = realloc(g->len, g->cap * sizeof(*g->len));
		g->off = realloc(g->off, g->cap * sizeof(*g->off));
		assert_true(g->rec && g->len && g->off);
	}
	g->rec[g->n] = malloc(len ? len : 1);
	assert_non_null(g->rec[g->n]);
	g->len[g->n] = len;
	g->off[g->n] = off;
	return g->rec[g->n++];
}

int rec_got_collect(void *ctx, const uint8_t *rec, size_t len, uint64_t off,
		    struct lsm_err *err)
{
	struct rec_got *g = ctx;

	(void)err;
	if (g->stop_at && g->n + 1 == g->stop_at)
		return -ECANCELED;
	memcpy(rec_got_add(g, len, off), rec, len);
	return 0;
}

void rec_got_free(struct rec_got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->rec[i]);
	free(g->rec);
	free(g->len);
	free(g->off);
	memset(g, 0, sizeof(*g));
}

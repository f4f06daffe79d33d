/* metrics_http_none.c - -o metrics in a build without libmicrohttpd: a
 * clear refusal (meson -Dmetrics_http=enabled needs libmicrohttpd-dev). */
#include <stdio.h>

#include "metrics.h"

int metrics_http_start(struct lsmfs *fs)
{
	if (!fs->metrics_port)
		return 0;
	fprintf(stderr, "lsmfs: -o metrics: this lsmfs was built without "
		"libmicrohttpd (install libmicrohttpd-dev and rebuild); the "
		"figures are in MOUNTPOINT/.lsmfs/stats\n");
	return -1;
}

void metrics_http_stop(struct lsmfs *fs)
{
	(void)fs;
}

/* holder.c - test helper: opens the store DIR for writing (taking its lock),
 * prints "ready" and keeps it open until killed or until standard input
 * reaches end of file.  Lets test_ctl.sh test the in-use error. */
#include <stdio.h>
#include <unistd.h>

#include "lsm.h"

int main(int argc, char **argv)
{
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	char c;

	if (argc != 2) {
		fprintf(stderr, "usage: ctl_holder DATADIR\n");
		return 2;
	}
	if (lsm_open(argv[1], NULL, &db, &err) < 0) {
		fprintf(stderr, "ctl_holder: %s\n", err.msg);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	lsm_close(db, NULL);
	return 0;
}

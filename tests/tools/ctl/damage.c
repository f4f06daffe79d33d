/* damage.c - test helper: damages the filesystem in store DIR the way a
 * bug or a lost write would, with raw engine writes of codec keys, so
 * that test_ctl.sh can see `lsmfs-ctl check` report it.
 *   ctl_damage DIR rm-inode PATH   delete PATH's inode record
 *   ctl_damage DIR nlink PATH N    set PATH's link count to N
 * and, for `lsmfs-ctl repair`, fills the live log:
 *   ctl_damage DIR files PREFIX N  create files PREFIX0..PREFIX<N-1> (one
 *                                  log record each, left in the log)
 * and, for a repair of the value log:
 *   ctl_damage DIR vfiles PREFIX N create files PREFIX0..PREFIX<N-1> of
 *                                  8 KiB ("PREFIXi" then 'x's), with the
 *                                  value log on, and flush: their chunks
 *                                  are pointers into a kept log segment */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"

static int damage(struct lsm_db *db, struct ns *ns, char **argv,
		  struct lsm_err *err)
{
	uint8_t key[CODEC_INO_KEY_LEN], val[CODEC_INODE_FIXED];
	struct ns_attr a;
	struct ns_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	char name[300], data[64];
	int rc;

	if (strcmp(argv[2], "vfiles") == 0 && argv[4]) {
		long n = strtol(argv[4], NULL, 10);
		static char big[8192];

		rc = 0;
		for (long i = 0; rc == 0 && i < n; i++) {
			snprintf(name, sizeof(name), "%s%ld", argv[3], i);
			memset(big, 'x', sizeof(big));
			memcpy(big, name, strlen(name));
			rc = ns_put_path(ns, name, big, sizeof(big), &cred,
					 err);
		}
		return rc == 0 ? lsm_flush(db, err) : rc;
	}
	if (strcmp(argv[2], "files") == 0 && argv[4]) {
		long n = strtol(argv[4], NULL, 10);

		rc = 0;
		for (long i = 0; rc == 0 && i < n; i++) {
			snprintf(name, sizeof(name), "%s%ld", argv[3], i);
			snprintf(data, sizeof(data), "contents of %ld", i);
			rc = ns_put_path(ns, name, data, strlen(data), &cred,
					 err);
		}
		return rc;
	}
	rc = ns_resolve(ns, argv[3], &a, err);
	if (rc < 0)
		return rc;
	codec_inode_key(key, a.ino);
	if (strcmp(argv[2], "rm-inode") == 0)
		return lsm_delete(db, key, sizeof(key), err);
	if (strcmp(argv[2], "nlink") == 0 && argv[4] &&
	    (a.in.mode & S_IFMT) != S_IFLNK) {
		a.in.nlink = (uint32_t)strtoul(argv[4], NULL, 10);
		return lsm_put(db, key, sizeof(key), val,
			       codec_inode_encode(val, &a.in, NULL, 0), err);
	}
	return lsm_err_set(err, -EINVAL, "unknown damage '%s'", argv[2]);
}

int main(int argc, char **argv)
{
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct ns *ns = NULL;
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: ctl_damage DIR rm-inode PATH | "
			"nlink PATH N | files PREFIX N | vfiles PREFIX N\n");
		return 2;
	}
	struct lsm_options o;

	lsm_options_init(&o);
	if (strcmp(argv[2], "vfiles") == 0)
		o.value_log_min_bytes = 1024;
	rc = lsm_open(argv[1], &o, &db, &err);
	if (rc == 0)
		rc = ns_open(db, NULL, &ns, &err);
	if (rc == 0)
		rc = damage(db, ns, argv, &err);
	if (rc == 0)
		rc = lsm_sync(db, &err);
	if (rc < 0)
		fprintf(stderr, "ctl_damage: %s\n", err.msg);
	ns_close(ns);
	lsm_close(db, NULL);
	return rc < 0;
}

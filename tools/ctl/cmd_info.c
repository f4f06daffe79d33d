/* cmd_info.c - lsmfs-ctl info: formats, levels with their table counts and
 * bytes, each table with its key range, and the sizes on disk. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "ctl.h"
#include "lsm_files.h"
#include "lsm_tool.h"

struct levels {
	unsigned tables[LSM_MAX_LEVELS];
	uint64_t bytes[LSM_MAX_LEVELS];
	bool print;
};

static void put_key(const void *k, size_t n, uint64_t seq)
{
	putchar('\'');
	ctl_put_escaped(stdout, k, n);
	printf("'@%" PRIu64, seq);
}

static int on_table(void *ctx, const struct lsm_table_info *t)
{
	struct levels *lv = ctx;
	char b[32];

	if (!lv->print) {
		lv->tables[t->level]++;
		lv->bytes[t->level] += t->size;
		return 0;
	}
	printf("  L%u %06" PRIu64 ".sst %10s ", t->level, t->number,
	       ctl_bytes(b, t->size));
	if (t->entries == UINT64_MAX)
		printf("(unreadable) ");
	else
		printf("%" PRIu64 " entries ", t->entries);
	put_key(t->smallest, t->smallest_len, t->smallest_seq);
	printf(" .. ");
	put_key(t->largest, t->largest_len, t->largest_seq);
	putchar('\n');
	return 0;
}

static void print_namespace(struct lsm_db *db)
{
	struct codec_super sb;
	void *v = NULL;
	size_t n = 0;
	int rc = lsm_get(db, NULL, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN, &v,
			 &n, NULL);

	if (rc == 1 && codec_super_decode(v, n, &sb) == 0)
		printf("namespace format: %" PRIu32 " (chunk size %" PRIu32
		       " bytes)\n", sb.version, sb.chunk_size);
	else if (rc == 0)
		printf("namespace format: none (not formatted)\n");
	else
		printf("namespace format: unreadable superblock\n");
	free(v);
}

/* Sums the sizes of the log segments and of every file in DIR. */
static void print_disk(const char *dir)
{
	uint64_t logs = 0, all = 0;
	unsigned nlogs = 0;
	char path[4096], b1[32], b2[32];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name);

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		all += (uint64_t)st.st_size;
		if (len > 4 && strcmp(e->d_name + len - 4, ".wal") == 0) {
			logs += (uint64_t)st.st_size;
			nlogs++;
		}
	}
	if (d)
		closedir(d);
	printf("logs: %u segment%s, %s\nfiles on disk: %s\n", nlogs,
	       nlogs == 1 ? "" : "s", ctl_bytes(b1, logs), ctl_bytes(b2, all));
}

/* Format features and the live log segments, from the manifest
 * (lsm_files.h): what recovery would replay, and what is sealed. */
static void print_files(const char *dir)
{
	struct lsm_files *f;
	struct lsm_err err = { 0 };
	char b[32];

	if (lsm_files_list(dir, &f, &err) < 0) {
		printf("manifest: unreadable (%s)\n", err.msg);
		return;
	}
	printf("format features: compat 0x%llx, ro_compat 0x%llx, incompat "
	       "0x%llx%s\n", (unsigned long long)f->compat,
	       (unsigned long long)f->ro_compat,
	       (unsigned long long)f->incompat,
	       f->incompat & LSM_FEATURE_INCOMPAT_VALUE_LOG ?
	       " (wal_v2, value_log)" :
	       f->incompat & LSM_FEATURE_INCOMPAT_WAL_V2 ? " (wal_v2)" :
	       " (none: made before format features)");
	printf("manifest: MANIFEST-%06llu, last sequence %llu\n",
	       (unsigned long long)f->manifest_number,
	       (unsigned long long)f->last_seq);
	if (f->has_identity) {
		const struct lsm_identity *id = &f->identity;

		printf("store id: ");
		for (int i = 0; i < LSM_STORE_ID_BYTES; i++)
			printf("%02x", id->id[i]);
		printf(", generation %llu%s\n",
		       (unsigned long long)id->generation,
		       id->replica ? " (a replica)" : "");
		for (unsigned i = 0; i < id->nhistory; i++)
			printf("  generation %llu from sequence %llu\n",
			       (unsigned long long)id->history[i].generation,
			       (unsigned long long)id->history[i].start_seq);
	} else {
		printf("store id: none yet (given at the next writable open)\n");
	}
	if (f->nepochs) {
		const struct lsm_epoch *e = &f->epochs[f->nepochs - 1];

		printf("epochs: %u kept, the newest %016llx from sequence "
		       "%llu\n", f->nepochs, (unsigned long long)e->tag,
		       (unsigned long long)e->start_seq);
	}
	if (f->narchive) {
		uint64_t bytes = 0;

		for (size_t i = 0; i < f->narchive; i++)
			bytes += f->archive[i].size;
		printf("log archive: %zu segment%s, %s (%06llu.wal .. "
		       "%06llu.wal)\n", f->narchive,
		       f->narchive == 1 ? "" : "s", ctl_bytes(b, bytes),
		       (unsigned long long)f->archive[0].number,
		       (unsigned long long)f->archive[f->narchive - 1].number);
	}
	for (size_t i = 0; i < f->nlogs; i++) {
		const struct lsm_file_log *g = &f->logs[i];

		printf("  log %06llu.wal %s %s\n", (unsigned long long)g->number,
		       ctl_bytes(b, g->size), !g->tracked ? "(untracked)" :
		       g->sealed ? "sealed" : "open (the newest)");
	}
	lsm_files_free(f);
}

static int info(struct ctl_store *s)
{
	struct levels lv = { .print = false };
	struct lsm_err err = { 0 };
	uint64_t bytes = 0;
	unsigned tables = 0;
	char b[32];
	int rc;

	printf("data directory: %s\ntable format: %u\n", s->dir,
	       lsm_table_format_version());
	print_namespace(s->db);
	rc = lsm_tables(s->db, on_table, &lv, &err);
	if (rc < 0)
		return ctl_fail(s->dir, rc, &err);
	for (unsigned l = 0; l < LSM_MAX_LEVELS; l++) {
		tables += lv.tables[l];
		bytes += lv.bytes[l];
		if (lv.tables[l])
			printf("level %u: %u table%s, %s\n", l, lv.tables[l],
			       lv.tables[l] == 1 ? "" : "s",
			       ctl_bytes(b, lv.bytes[l]));
	}
	printf("tables: %u, %s\n", tables, ctl_bytes(b, bytes));
	lv.print = true;
	rc = lsm_tables(s->db, on_table, &lv, &err);
	if (rc < 0)
		return ctl_fail(s->dir, rc, &err);
	print_files(s->dir);
	print_disk(s->dir);
	return CTL_OK;
}

static int run(const struct ctl_cmd *c, int argc, char **argv)
{
	return ctl_run_on_store(c, argc, argv, 0, info);
}

const struct ctl_cmd cmd_info = {
	.name = "info",
	.args = "",
	.summary = "describe the store: formats, levels, tables, sizes",
	.help = "Prints the table and namespace format versions, the number "
		"of tables and\nbytes per level, then each table (level, file, "
		"size, entries, smallest and\nlargest engine key with its "
		"sequence number), the log segments and the\ntotal size of the "
		"directory.\n",
	.read_only = true,
	.run = run,
};

/* stats.c - lsm_stats(): the counters in the Prometheus text exposition
 * format (0.0.4): each family once, with # HELP and # TYPE; counters end
 * in _total, units in the names (_bytes, _seconds); levels are labels. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "filename.h"

struct out {
	struct buf b;
};

static void emit(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_append(&o->b, line, (size_t)n < sizeof(line) ? (size_t)n
							       : sizeof(line) - 1);
}

static void counter(struct out *o, const char *name, const char *help,
		    uint64_t v)
{
	emit(o, "# HELP lsm_%s %s\n# TYPE lsm_%s counter\nlsm_%s %llu\n",
	     name, help, name, name, (unsigned long long)v);
}

static void gauge(struct out *o, const char *name, const char *help,
		  uint64_t v)
{
	emit(o, "# HELP lsm_%s %s\n# TYPE lsm_%s gauge\nlsm_%s %llu\n",
	     name, help, name, name, (unsigned long long)v);
}

/* A figure kept in microseconds, shown in seconds. */
static void seconds(struct out *o, const char *name, const char *type,
		    const char *help, uint64_t micros)
{
	emit(o, "# HELP lsm_%s %s\n# TYPE lsm_%s %s\nlsm_%s %llu.%06llu\n",
	     name, help, name, type, name,
	     (unsigned long long)(micros / 1000000u),
	     (unsigned long long)(micros % 1000000u));
}

/* Counter NAME (the field of struct stats) shown as lsm_SHOWN. */
#define C(shown, name, help) counter(o, #shown, help, stat_get(&s->name))

static void ops(struct out *o, struct stats *s)
{
	C(puts_total, puts, "Put operations.");
	C(deletes_total, deletes, "Delete operations.");
	C(batches_total, batches, "Write batches applied (puts and deletes "
	  "are batches too).");
	C(gets_total, gets, "Point lookups.");
	C(get_hits_total, get_hits, "Point lookups that found a value.");
	C(get_misses_total, get_misses, "Point lookups that found nothing.");
	C(iterators_total, iterators, "Iterators created.");
	C(seeks_total, seeks, "Iterator seeks.");
	C(iter_steps_total, iter_steps, "Internal entries visited by freed "
	  "iterators.");
	C(syncs_total, syncs, "Explicit lsm_sync calls.");
}

static void io(struct out *o, struct stats *s)
{
	uint64_t user = stat_get(&s->user_bytes_written);
	uint64_t disk = stat_get(&s->wal_bytes_written) +
			stat_get(&s->flush_bytes_written) +
			stat_get(&s->compaction_bytes_written) +
			stat_get(&s->manifest_bytes_written);

	C(user_written_bytes_total, user_bytes_written, "Bytes of keys and "
	  "values written by users.");
	C(wal_written_bytes_total, wal_bytes_written, "Bytes appended to the "
	  "write-ahead log.");
	C(wal_syncs_total, wal_syncs, "fsyncs of the write-ahead log.");
	C(wal_group_writes_total, wal_group_writes, "Group commits (one log "
	  "write each).");
	C(wal_group_batches_total, wal_group_batches, "Batches written by "
	  "group commits.");
	C(wal_gathers_total, wal_gathers, "Times a sync write waited for "
	  "other sync writers to share its fsync.");
	C(flushes_total, flushes, "Memtables flushed to L0.");
	C(flush_written_bytes_total, flush_bytes_written, "Bytes of tables "
	  "written by flushes.");
	C(compactions_total, compactions, "Compactions run (trivial moves "
	  "excluded).");
	C(compaction_read_bytes_total, compaction_bytes_read, "Bytes read by "
	  "compactions.");
	C(compaction_written_bytes_total, compaction_bytes_written, "Bytes "
	  "written by compactions.");
	C(compaction_errors_total, compaction_errors, "Compactions that "
	  "failed (and were retried).");
	C(manifest_written_bytes_total, manifest_bytes_written, "Bytes "
	  "appended to the manifest.");
	counter(o, "disk_written_bytes_total", "Bytes written to disk: log, "
		"tables and manifest.", disk);
	emit(o, "# HELP lsm_write_amplification_ratio Disk bytes written per "
	     "user byte.\n# TYPE lsm_write_amplification_ratio gauge\n"
	     "lsm_write_amplification_ratio %.3f\n",
	     user ? (double)disk / (double)user : 0.0);
	C(stalls_total, stalls, "Writes that waited for a flush or "
	  "compaction.");
	seconds(o, "stall_seconds_total", "counter", "Time writers spent "
		"stalled.", stat_get(&s->stall_micros));
	C(slowdowns_total, slowdowns, "Writes delayed by 1 ms because L0 was "
	  "large.");
	seconds(o, "slowdown_seconds_total", "counter", "Time writers spent "
		"slowed down.", stat_get(&s->slowdown_micros));
	C(bloom_checks_total, bloom_checks, "Bloom filter checks.");
	C(bloom_negatives_total, bloom_negatives, "Bloom filter checks that "
	  "ruled a table out.");
	C(bloom_false_positives_total, bloom_false_positives, "Bloom filter "
	  "passes for absent keys.");
	C(table_opens_total, table_opens, "Tables opened (table cache "
	  "misses).");
	C(block_reads_total, block_reads, "Blocks read from disk.");
	C(block_read_bytes_total, block_read_bytes, "Bytes of blocks read "
	  "from disk.");
	C(checksum_errors_total, checksum_errors, "Checksum mismatches "
	  "detected.");
	C(background_errors_total, background_errors, "Background errors "
	  "(flush, compaction, log).");
	C(space_exhausted_total, space_exhausted, "Times the disk filled up "
	  "and the reserve was released.");
	C(follow_catch_ups_total, follow_catch_ups, "Catch-ups of a follower "
	  "with the writer.");
	C(follow_records_total, follow_records, "Log records a follower "
	  "applied.");
	C(wal_archived_total, wal_archived, "Log segments moved to the "
	  "archive.");
	C(wal_archive_dropped_total, wal_archive_dropped, "Archived log "
	  "segments deleted (size, age or a full disk).");
}

static void levels(struct out *o, struct lsm_db *db, struct super *sv)
{
	emit(o, "# HELP lsm_level_tables Tables per level.\n"
		"# TYPE lsm_level_tables gauge\n");
	for (unsigned l = 0; l < db->opts.max_levels; l++)
		emit(o, "lsm_level_tables{level=\"%u\"} %zu\n", l,
		     sv->v->nfiles[l]);
	emit(o, "# HELP lsm_level_bytes Bytes of tables per level.\n"
		"# TYPE lsm_level_bytes gauge\n");
	for (unsigned l = 0; l < db->opts.max_levels; l++)
		emit(o, "lsm_level_bytes{level=\"%u\"} %llu\n", l,
		     (unsigned long long)version_level_bytes(sv->v, (int)l));
}

static void memory(struct out *o, struct lsm_db *db, struct super *sv)
{
	struct cache_stats cs;
	uint64_t live = 0;

	for (unsigned l = 0; l < db->opts.max_levels; l++)
		live += version_level_bytes(sv->v, (int)l);
	gauge(o, "table_bytes", "Bytes of all live tables.", live);
	gauge(o, "memtable_bytes", "Memory of the active memtable.",
	      memtable_bytes(sv->mem));
	gauge(o, "immutable_memtable_bytes", "Memory of the memtable being "
	      "flushed.", sv->imm ? memtable_bytes(sv->imm) : 0);
	cache_get_stats(db->block_cache, &cs);
	counter(o, "block_cache_hits_total", "Block cache hits.", cs.hits);
	counter(o, "block_cache_misses_total", "Block cache misses.",
		cs.misses);
	counter(o, "block_cache_inserts_total", "Blocks inserted.",
		cs.inserts);
	counter(o, "block_cache_evictions_total", "Blocks evicted.",
		cs.evictions);
	counter(o, "block_cache_rejects_total", "Blocks read but not "
		"cached: their first miss in a while (admission).",
		cs.rejects);
	gauge(o, "block_cache_bytes", "Bytes held by the block cache.",
	      cs.usage);
	gauge(o, "block_cache_capacity_bytes", "Block cache budget.",
	      cs.capacity);
	gauge(o, "wal_archive_bytes", "Bytes of archived log segments.",
	      atomic_load(&db->archive_bytes));
	gauge(o, "sequence", "Last visible sequence number.",
	      atomic_load(&db->last_seq));
	seconds(o, "uptime_seconds", "gauge", "Time since the store was "
		"opened.", db_now_us() - db->open_time_us);
}

/* Deletion entries in the tables of V. */
static uint64_t tombstones(struct lsm_db *db, const struct version *v)
{
	uint64_t n = 0;

	for (unsigned l = 0; l < db->opts.max_levels; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++)
			n += v->files[l][i]->deletions;
	return n;
}

/* Bytes of the files in the data directory but the reserve (RESERVE) and
 * the log archive (lsm_wal_archive_bytes). */
static uint64_t disk_bytes(struct lsm_db *db)
{
	char **names = NULL, path[LSM_PATH_MAX];
	uint64_t sum = 0, size;
	size_t n = 0;

	if (db->io->list_dir(db->io, db->dir, &names, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(names[i], "RESERVE") ||
		    !strcmp(names[i], LSM_ARCHIVE_DIR))
			continue; /* counted apart */
		snprintf(path, sizeof(path), "%s/%s", db->dir, names[i]);
		if (lsm_io_path_size(db->io, path, &size) == 0)
			sum += size;
	}
	lsm_io_free_names(names, n);
	return sum;
}

static void space(struct out *o, struct lsm_db *db, struct super *sv)
{
	struct stats *s = &db->stats;

	gauge(o, "disk_bytes", "Bytes of the store's files: live tables, "
	      "tables kept for readers, logs, manifest (the reserve for a "
	      "full disk and the log archive left out).", disk_bytes(db));
	C(tombstone_compactions_total, tombstone_compactions, "Compactions "
	  "picked for a table's share of deletions.");
	C(idle_compactions_total, idle_compactions, "Compactions run by the "
	  "idle pass.");
	C(read_compactions_total, read_compactions, "Compactions of a table "
	  "that reads met above another holding the same keys.");
	gauge(o, "tombstones", "Deletion entries in live tables (tables of "
	      "older builds not counted).", tombstones(db, sv->v));
	C(vlog_pointers_total, vlog_pointers, "Values a flush left in the "
	  "log, writing a pointer to them instead (value log).");
	C(vlog_pointed_bytes_total, vlog_pointed_bytes, "Bytes of those "
	  "values: what the value log saved the flushes from writing.");
	C(vlog_reads_total, vlog_reads, "Values read through a pointer.");
	C(vlog_inlined_bytes_total, vlog_inlined_bytes, "Bytes of values "
	  "compactions copied back into tables to free old log segments.");
	gauge(o, "vlog_segments_kept", "Log segments kept only because "
	      "tables point into them.", stat_get(&s->vlog_segments_kept));
}

int lsm_stats(struct lsm_db *db, char **text, struct lsm_err *err)
{
	struct out o = { BUF_INIT };
	struct super *sv = db_super_get(db, NULL);
	uint64_t pend, pinned, nsnaps;
	int bg;

	ops(&o, &db->stats);
	io(&o, &db->stats);
	levels(&o, db, sv);
	memory(&o, db, sv);
	space(&o, db, sv);
	pthread_mutex_lock(&db->mu);
	pend = compaction_pending_bytes(db, db->vs.current);
	bg = db->bg_error;
	pinned = db_snapshot_pinned_bytes(db);
	nsnaps = db->vs.nsnaps;
	pthread_mutex_unlock(&db->mu);
	db_super_put(db, sv);
	gauge(&o, "pending_compaction_bytes", "Bytes compactions still have "
	      "to move down a level.", pend);
	gauge(&o, "snapshots", "Durable snapshots (lsm_snapshot_create).",
	      nsnaps);
	gauge(&o, "snapshot_pinned_bytes", "Estimate: bytes of older "
	      "versions compactions kept in live tables only because a "
	      "snapshot sees them (README, Snapshots).", pinned);
	gauge(&o, "read_only", "1 when the store is read-only (opened so or "
	      "after a fatal write error).", db->read_only || bg);
	gauge(&o, "disk_full", "1 while the disk is full: only writes that "
	      "free space are accepted.", db_space_low(db));
	if (db->opts.follow) {
		uint64_t at = atomic_load(&db->fl_caught_up_us);

		gauge(&o, "follow_sequence", "Sequence number a follower has "
		      "reached (the writer's history up to it is shown).",
		      atomic_load(&db->last_seq));
		seconds(&o, "follow_age_seconds", "gauge", "Time since the "
			"last catch-up of a follower with everything the "
			"writer had written then.",
			at ? db_now_us() - at : 0);
	}
	buf_put_u8(&o.b, 0);
	if (!buf_ok(&o.b)) {
		buf_free(&o.b);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	*text = (char *)o.b.p;
	return 0;
}

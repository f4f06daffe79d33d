/* stats.h - the engine's counters.  Plain relaxed atomics, bumped on hot
 * paths without locks; rendered as text by lsm_stats(). */
#ifndef LSM_STATS_H
#define LSM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct stats {
	_Atomic uint64_t puts, deletes, batches, gets, get_hits, get_misses;
	_Atomic uint64_t iterators, seeks, iter_steps, syncs;
	_Atomic uint64_t user_bytes_written;  /* keys + values in writes */
	_Atomic uint64_t wal_bytes_written;
	_Atomic uint64_t wal_syncs, wal_group_writes, wal_group_batches;
	_Atomic uint64_t wal_gathers;
	_Atomic uint64_t flushes, flush_bytes_written;
	_Atomic uint64_t compactions, compaction_bytes_read;
	_Atomic uint64_t compaction_bytes_written, compaction_errors;
	_Atomic uint64_t tombstone_compactions, idle_compactions;
	_Atomic uint64_t read_compactions;
	_Atomic uint64_t manifest_bytes_written;
	_Atomic uint64_t stall_micros, slowdown_micros, stalls, slowdowns;
	_Atomic uint64_t bloom_checks, bloom_negatives, bloom_false_positives;
	_Atomic uint64_t table_opens, block_reads, block_read_bytes;
	_Atomic uint64_t checksum_errors, background_errors;
	_Atomic uint64_t space_exhausted;
	_Atomic uint64_t follow_catch_ups, follow_records;
	_Atomic uint64_t wal_archived, wal_archive_dropped;
	/* value log (vlog.h) */
	_Atomic uint64_t vlog_pointers, vlog_pointed_bytes, vlog_reads;
	_Atomic uint64_t vlog_inlined_bytes, vlog_segments_kept;
};

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void stat_set(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t stat_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif /* LSM_STATS_H */

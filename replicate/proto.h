/* proto.h - lsmfs-replicate's wire protocol: framed, checksummed, bounded
 * messages over a byte stream (a pipe to ssh, a socketpair, or a TCP
 * connection wrapped by transport.h).  Format: replicate/PROTOCOL.md.
 *
 * Frame: a 16-byte header then LEN payload bytes.
 *   0  u8[2] magic "LR"
 *   2  u8    version (LR_VERSION)
 *   3  u8    type (enum lr_type)
 *   4  u8    flags (LR_FLAG_ZLIB: the payload is zlib-deflated; the
 *            inflated size is bounded by LR_MAX_PAYLOAD too)
 *   5  u8[3] zero
 *   8  u32le len (<= LR_MAX_PAYLOAD)
 *   12 u32le crc32 (engine's crc: zlib polynomial) over header bytes 0..11
 *            then the payload as sent
 * Integers in payloads are little-endian fixed width; "str" is u32le
 * length + bytes (no NUL, length <= LR_MAX_NAME for names); "blob" is
 * u32le length + bytes.  A decoder never reads past the payload, rejects
 * trailing bytes, and returns -EPROTO with a message for anything
 * malformed.  No allocation is made from a length before it is checked
 * against the bytes actually present. */
#ifndef LSMFS_REPL_PROTO_H
#define LSMFS_REPL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

#define LR_VERSION 2 /* 2: epochs (HELLO, WELCOME, EPOCHS) */
#define LR_HEADER_BYTES 16
#define LR_MAX_PAYLOAD (80u * 1024 * 1024) /* a batch may hold a 64 MiB value */
#define LR_MAX_NAME 64
#define LR_MAX_FILES 1000000
#define LR_MAX_HISTORY 4096
#define LR_MAX_EPOCHS 4096
#define LR_FILE_CHUNK (1u << 20)           /* FILE_DATA slice a sender uses */
#define LR_FLAG_ZLIB 0x1u
#define LR_MAX_DIR 4096                    /* HELLO's dir */
#define LR_MAX_MSG 1024                    /* WELCOME's why, ERROR's message */

enum lr_type {
	LR_HELLO = 1,      /* receiver -> sender, first message */
	LR_WELCOME = 2,    /* sender -> receiver, answer to HELLO */
	LR_FILE_BEGIN = 3, /* sender: a bootstrap file follows */
	LR_FILE_DATA = 4,
	LR_FILE_END = 5,
	LR_BOOT_END = 6,   /* sender: the bootstrap set is complete */
	LR_RECORDS = 7,    /* sender: one WAL record (a write batch) */
	LR_ACK = 8,        /* receiver: position applied / durable */
	LR_ERROR = 9,      /* either side: a fatal error, then close */
	LR_HEARTBEAT = 10, /* sender: primary's position, when idle */
	LR_EPOCHS = 11,    /* sender: the primary's epochs changed */
	LR_TYPE_MAX = 11,
};

#define LR_STORE_ID_BYTES 16

/* One file a receiver holds (so the sender need not send it again). */
struct lr_file_id {
	char name[LR_MAX_NAME + 1]; /* NUL-terminated, e.g. "000012.sst" */
	uint64_t size;
	uint32_t crc;               /* crc32 of the whole file */
};

/* HELLO: u32 flags | u8[16] store_id | u64 generation | u64 seq |
 *        u32 nhistory | nhistory x (u64 gen, u64 start_seq) |
 *        u32 nepochs | nepochs x (u64 tag, u64 start_seq) |
 *        str dir | u32 nfiles | nfiles x (str name, u64 size, u32 crc) */
#define LR_HELLO_HAS_STORE 0x1u  /* the replica holds a store */
#define LR_HELLO_UNSYNCED 0x2u   /* ship records the primary has not synced */
#define LR_HELLO_COMPRESS 0x4u   /* sender may zlib the frames it sends */
struct lr_history {
	uint64_t gen, start_seq;
};
struct lr_epoch {                 /* lsm_epoch on the wire */
	uint64_t tag, start_seq;
};
struct lr_hello {
	uint32_t flags;
	uint8_t store_id[LR_STORE_ID_BYTES];
	uint64_t generation;
	uint64_t seq;                 /* the replica's last applied sequence */
	struct lr_history *history;   /* malloc'ed by decode */
	uint32_t nhistory;
	struct lr_epoch *epochs;      /* malloc'ed by decode */
	uint32_t nepochs;
	char *dir;                    /* the primary dir asked for (server
	                               * mode: must match what it serves) */
	struct lr_file_id *files;     /* malloc'ed by decode */
	uint32_t nfiles;
};

/* WELCOME: u8 mode | u8[16] store_id | u64 generation | u64 last_seq |
 *          u32 nhistory | nhistory x (u64 gen, u64 start_seq) |
 *          u32 nepochs | nepochs x (u64 tag, u64 start_seq) | str why |
 *          u64 boot_bytes | u32 boot_files  (what a bootstrap will send,
 *          for progress; 0 when streaming) */
enum lr_mode {
	LR_MODE_STREAM = 0,    /* records from the replica's seq + 1 follow */
	LR_MODE_BOOTSTRAP = 1, /* a bootstrap set follows (empty or stale) */
	LR_MODE_REBUILD = 2,   /* diverged: bootstrap into a new directory */
};
struct lr_welcome {
	uint8_t mode;
	uint8_t store_id[LR_STORE_ID_BYTES];
	uint64_t generation;
	uint64_t last_seq;
	struct lr_history *history;
	uint32_t nhistory;
	struct lr_epoch *epochs;
	uint32_t nepochs;
	char *why;                    /* human-readable reason, malloc'ed */
	uint64_t boot_bytes;
	uint32_t boot_files;
};

/* FILE_BEGIN: str name | u64 size | u32 crc | u8 reuse
 *   reuse 1: the receiver already holds an identical file (same name,
 *   size, crc): no FILE_DATA follows, link or copy the old one. */
struct lr_file_begin {
	struct lr_file_id id;
	uint8_t reuse;
};
/* FILE_DATA: u64 offset | blob data (<= LR_FILE_CHUNK).  DATA points into
 * the decoded payload (borrowed). */
struct lr_file_data {
	uint64_t offset;
	const uint8_t *data;
	uint32_t len;
};
/* FILE_END: u32 crc (of the whole file, when FILE_BEGIN's crc was 0: the
 * sender computed it while sending).  BOOT_END: u64 seq (the set's last
 * sequence) */
/* RECORDS: u64 primary_last_seq | u64 commit_ns | u32 n | n x blob batch
 *   n log records (1 .. LR_MAX_RECORDS), each a write batch as the log holds
 *   it (lsm_log_scan): at least 12 bytes, u64le sequence of its first
 *   operation (>= 1), u32le operation count (>= 1); each one's sequence
 *   lies past the previous one's last (seq + count - 1).  4 bytes of length
 *   per record, so the wire carries no more than the log (whose records
 *   take an 8-byte header).  Build one with lr_records_start/add/finish,
 *   read it with lr_dec_records and lr_records_next. */
#define LR_MAX_RECORDS 65536
struct lr_record {
	uint64_t seq;               /* from the batch */
	uint32_t count;             /* from the batch */
	uint64_t primary_last_seq;  /* the message's */
	uint64_t commit_ns;         /* sender's CLOCK_REALTIME when it read it */
	const uint8_t *batch;       /* borrowed */
	uint32_t len;
};
struct lr_records {
	uint64_t primary_last_seq, commit_ns;
	uint32_t n;
	const uint8_t *p, *end;     /* the blobs not yet read (borrowed) */
};
/* ACK: u64 applied_seq | u64 durable_seq | u32 batch_crc (of the batch
 *      ending at applied_seq, 0 if none) */
struct lr_ack {
	uint64_t applied_seq, durable_seq;
	uint32_t batch_crc;
};
/* ERROR: i32 code (negative errno) | str message */
/* HEARTBEAT: u64 primary_last_seq | u64 now_ns */
struct lr_heartbeat {
	uint64_t primary_last_seq, now_ns;
};

/* ---- a growable encode buffer ---- */
struct lr_buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};
void lr_buf_free(struct lr_buf *b);
void lr_put_u8(struct lr_buf *b, uint8_t v);
void lr_put_u32(struct lr_buf *b, uint32_t v);
void lr_put_u64(struct lr_buf *b, uint64_t v);
void lr_put_bytes(struct lr_buf *b, const void *p, size_t n); /* raw */
void lr_put_blob(struct lr_buf *b, const void *p, size_t n);  /* u32 len + */

/* Encoders append a payload to OUT (cleared first); 0 or -ENOMEM. */
int lr_enc_hello(struct lr_buf *out, const struct lr_hello *m);
int lr_enc_welcome(struct lr_buf *out, const struct lr_welcome *m);
int lr_enc_file_begin(struct lr_buf *out, const struct lr_file_begin *m);
int lr_enc_file_data(struct lr_buf *out, uint64_t offset, const void *p,
		     uint32_t len);
int lr_enc_file_end(struct lr_buf *out, uint32_t crc);
int lr_enc_boot_end(struct lr_buf *out, uint64_t seq);
/* RECORDS built in OUT: start (clears), add each batch, finish. */
void lr_records_start(struct lr_buf *out);
int lr_records_add(struct lr_buf *out, const void *batch, uint32_t len);
uint32_t lr_records_n(const struct lr_buf *out);
int lr_records_finish(struct lr_buf *out, uint64_t primary_last_seq,
		      uint64_t commit_ns);
/* A RECORDS message of the one record M (its seq and count are the
 * batch's). */
int lr_enc_record(struct lr_buf *out, const struct lr_record *m);
int lr_enc_ack(struct lr_buf *out, const struct lr_ack *m);
int lr_enc_error(struct lr_buf *out, int code, const char *msg);
int lr_enc_heartbeat(struct lr_buf *out, const struct lr_heartbeat *m);
/* EPOCHS: u32 n | n x (u64 tag, u64 start_seq): the primary's whole list,
 * sent before any record of an epoch the receiver was not told of. */
int lr_enc_epochs(struct lr_buf *out, const struct lr_epoch *e, uint32_t n);

/* Decoders: 0, or -EPROTO (ERR says what is wrong), -ENOMEM.  Borrowed
 * pointers point into P.  lr_hello_free/lr_welcome_free free what decode
 * allocated (accept a zeroed struct). */
int lr_dec_hello(const uint8_t *p, size_t n, struct lr_hello *m,
		 struct lsm_err *err);
void lr_hello_free(struct lr_hello *m);
int lr_dec_welcome(const uint8_t *p, size_t n, struct lr_welcome *m,
		   struct lsm_err *err);
void lr_welcome_free(struct lr_welcome *m);
int lr_dec_file_begin(const uint8_t *p, size_t n, struct lr_file_begin *m,
		      struct lsm_err *err);
int lr_dec_file_data(const uint8_t *p, size_t n, struct lr_file_data *m,
		     struct lsm_err *err);
int lr_dec_file_end(const uint8_t *p, size_t n, uint32_t *crc,
		    struct lsm_err *err);
int lr_dec_boot_end(const uint8_t *p, size_t n, uint64_t *seq,
		    struct lsm_err *err);
/* Checks the whole message (every batch header, the order), then
 * lr_records_next gives each record (false after the last). */
int lr_dec_records(const uint8_t *p, size_t n, struct lr_records *m,
		   struct lsm_err *err);
bool lr_records_next(struct lr_records *m, struct lr_record *r);
/* lr_dec_records of a message that must hold exactly one record. */
int lr_dec_record(const uint8_t *p, size_t n, struct lr_record *m,
		  struct lsm_err *err);
int lr_dec_ack(const uint8_t *p, size_t n, struct lr_ack *m,
	       struct lsm_err *err);
int lr_dec_error(const uint8_t *p, size_t n, int *code, char *msg,
		 size_t cap, struct lsm_err *err);
/* *E is malloc'ed (free() it). */
int lr_dec_epochs(const uint8_t *p, size_t n, struct lr_epoch **e,
		  uint32_t *count, struct lsm_err *err);
int lr_dec_heartbeat(const uint8_t *p, size_t n, struct lr_heartbeat *m,
		     struct lsm_err *err);

/* A file name a receiver may create: "NNNNNN.sst", "NNNNNN.wal",
 * "MANIFEST-NNNNNN" or "CURRENT" (digits only, no '/', no "..", at most
 * LR_MAX_NAME bytes).  Everything else is refused. */
bool lr_name_ok(const char *name);

/* ---- framing over a transport ---- */
struct lr_transport; /* transport.h */

struct lr_conn_stats {
	uint64_t frames_sent, frames_received;
	uint64_t bytes_sent, bytes_received; /* on the wire, headers included */
	uint64_t payload_sent, payload_received; /* before compression */
};

/* A connection: one thread may lr_send while another lr_recv's (e.g. a
 * sender reading ACKs); no more than one of each at a time. */
struct lr_conn;
/* Takes ownership of T (freed by lr_conn_free, or here on failure). */
int lr_conn_new(struct lr_transport *t, struct lr_conn **out);
void lr_conn_free(struct lr_conn *c);
/* Compress payloads of at least 512 bytes with zlib (level 1) when it
 * saves space. */
void lr_conn_set_compress(struct lr_conn *c, bool on);
/* Once a frame has begun to arrive, the rest may pause at most
 * max(MS, lr_recv's TIMEOUT_MS) at a time (default 10000; -1: forever)
 * before lr_recv gives -ETIMEDOUT and the connection is unusable. */
void lr_conn_set_stall(struct lr_conn *c, int ms);
/* Sends one frame; blocks until written.  0 or a negative errno. */
int lr_send(struct lr_conn *c, enum lr_type type, const void *payload,
	    size_t len, struct lsm_err *err);
/* Receives one frame, waiting at most TIMEOUT_MS (-1: forever) for it to
 * begin (a timeout then leaves the connection usable; within a frame see
 * lr_conn_set_stall).
 * *PAYLOAD stays valid until the next lr_recv (owned by C).  -ETIMEDOUT,
 * -ECONNRESET (peer closed; a clean close between frames too), -EPROTO
 * (bad magic/version/type/length), -EBADMSG (checksum: transit damage),
 * -EIO.  After any error but a timeout between frames, every later
 * lr_recv returns the same error (lr_send still works, to send LR_ERROR,
 * until a write fails; then lr_send keeps failing): close the connection. */
int lr_recv(struct lr_conn *c, enum lr_type *type, const uint8_t **payload,
	    size_t *len, int timeout_ms, struct lsm_err *err);
/* The fd to poll for readability (data may also be buffered: call
 * lr_conn_pending first). */
int lr_conn_fd(const struct lr_conn *c);
bool lr_conn_pending(const struct lr_conn *c);
const struct lr_conn_stats *lr_conn_stats(const struct lr_conn *c);

#endif

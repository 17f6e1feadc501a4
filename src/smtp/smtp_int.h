/*
 * smtp_int.h: shared inside src/smtp/ only.
 *
 * The pure parsers (command line, paths and parameters, the DATA reader,
 * the PROXY header) are declared here so that their tests and fuzz targets
 * can reach them. They take bounded input, write into caller storage, never
 * allocate and never read past len.
 */
#ifndef MXGATE_SMTP_SMTP_INT_H
#define MXGATE_SMTP_SMTP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "base/buf.h"
#include "base/span.h"
#include "dkim/dkim.h"
#include "iprev/iprev.h"
#include "policy/policy.h"
#include "spf/spf.h"
#include "smtp/smtp.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
/* RFC 5321 4.5.3.1.5: a reply line too. */
#define SMTP_REPLY_MAX 512
#define SMTP_LINE_MAX 512
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with the brackets. */
#define SMTP_PATH_MAX 256
/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2. */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
/* RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted. */
#define SMTP_RCPT_MAX 100

/* A command: the verb and what follows the first space (may be empty). */
struct smtp_cmdline {
	struct span verb;
	struct span arg;
};

/*
 * Splits a command line given without its CRLF. ERR_SYNTAX when the verb
 * is not 1..16 letters followed by the end or a space.
 */
int smtp_parse_cmdline(const char *p, size_t len, struct smtp_cmdline *out);

/* How an address can fail: the reply differs for each. */
enum smtp_addr_err {
	SMTP_ADDR_OK,
	SMTP_ADDR_SYNTAX,  /* 501 5.1.3 (MAIL) / 501 5.1.3 (RCPT) */
	SMTP_ADDR_ROUTING, /* 550 5.7.1: '%', '!', '@' in the local part */
	SMTP_ADDR_TOOLONG, /* 501 5.1.3 with a length reason */
};

struct smtp_addr {
	bool null;       /* "<>" */
	bool postmaster; /* "<postmaster>" without a domain (RCPT only) */
	bool literal;    /* the domain is an address literal "[...]" */
	bool utf8;       /* 8-bit UTF-8 in it (needs SMTPUTF8, RFC 6531) */
	bool quoted;     /* the local part is not a dot-string: needs quotes */
	/* The mailbox, normalised: quotes removed from a quoted local part
	 * that is a plain dot-string; source route dropped. NUL-terminated. */
	char local[SMTP_LOCAL_MAX + 1];
	char domain[SMTP_DOMAIN_MAX + 1];
};

/*
 * Parses "FROM:<path> params" (kw "FROM:") or "TO:<path> params" (kw
 * "TO:"). The keyword is matched case-insensitively and spaces after the
 * colon are tolerated. On success *params is what follows the path.
 * Well-formed UTF-8 is accepted and flagged in out->utf8; the caller
 * decides whether SMTPUTF8 allows it. SMTP_ADDR_ROUTING is returned only
 * after the whole address parsed (out is filled), so a caller for which
 * routing characters are harmless (MAIL) may go on. Returns SMTP_ADDR_*, or
 * -1 when the keyword or the brackets are missing (501 5.5.4).
 */
int smtp_parse_path(struct span arg, const char *kw, struct smtp_addr *out,
    struct span *params);

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_params {
	uint64_t size; /* 0: not given */
	enum smtp_body body;
	bool smtputf8;
};

/*
 * Parses the MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531
 * SMTPUTF8). Returns 0, or ERR_SYNTAX for an unknown or malformed one.
 */
int smtp_parse_mail_params(struct span params, struct smtp_mail_params *out);

/* Whether a HELO/EHLO argument is a domain or an address literal. */
bool smtp_helo_valid(struct span arg);

/*
 * The DATA reader: a state machine over the raw DATA stream. It removes
 * dot-stuffing, keeps CRLF line ends, and ends only at CRLF "." CRLF.
 * A bare CR, a bare LF or a NUL anywhere marks the message bad (no SMTP
 * smuggling): it is still read to its real end, but nothing of it may be
 * kept.
 */
enum smtp_data_state {
	SMTP_DATA_BOL, /* at the start of a line */
	SMTP_DATA_TEXT,
	SMTP_DATA_CR,
	SMTP_DATA_DOT,   /* "." at the start of a line */
	SMTP_DATA_DOTCR, /* "." CR at the start of a line */
	SMTP_DATA_END,
};

struct smtp_data {
	enum smtp_data_state state;
	bool bad;       /* a bare CR, bare LF or NUL was seen */
	uint64_t size;  /* body octets after unstuffing */
};

void smtp_data_init(struct smtp_data *d);
/*
 * Consumes in[0..len) up to and including the final dot line. Body bytes go
 * to out, which has room for len + 1 bytes (a CR held back from the previous
 * call comes out with its LF); *outlen says how many. Returns the number of
 * input bytes consumed; d->state is SMTP_DATA_END once the end was found.
 */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
    char *out, size_t *outlen);

/* PROXY protocol (haproxy's proxy-protocol.txt), versions 1 and 2. */
#define SMTP_PROXY_V1_MAX 107
#define SMTP_PROXY_V2_MAX (16 + 1024)
#define SMTP_PROXY_MORE 1

/*
 * Parses a PROXY header at the start of p[0..len). Returns 0 with
 * *consumed set (src->ss_family is AF_UNSPEC for LOCAL / UNKNOWN: keep the
 * socket's address), SMTP_PROXY_MORE when more bytes are needed, or
 * ERR_SYNTAX.
 */
int smtp_proxy_parse(const char *p, size_t len, struct sockaddr_storage *src,
    socklen_t *srclen, size_t *consumed);


/* ---- header_filter.c: forged Authentication-Results removal ---- */

/* A field is held until it ends, up to this; RFC 5322 2.1.1 lines are 998
 * octets, and the longest real fields (DKIM-Signature, folded Received)
 * stay well under it. */
#define SMTP_HDR_FIELD_HOLD (64 * 1024)

typedef void smtp_emit_cb(void *arg, const char *p, size_t len);

struct smtp_hdr_filter {
	const char *authserv_id;
	smtp_emit_cb *emit;
	void *arg;
	struct buf field; /* the field being held */
	bool at_bol;      /* the next byte starts a line */
	bool in_body;     /* past the empty line: everything passes */
	bool drop;        /* the rest of this field is dropped */
	bool passing;     /* the rest of this field passes unheld */
	unsigned removed; /* fields dropped, for the log */
};

/* Every byte not dropped goes to emit, in order, as soon as it is known. */
void smtp_hdr_filter_init(struct smtp_hdr_filter *f, const char *authserv_id,
    smtp_emit_cb *emit, void *arg);
void smtp_hdr_filter_feed(struct smtp_hdr_filter *f, const char *p,
    size_t len);
/* The message ended: decide on a field still held, free the buffer. */
void smtp_hdr_filter_finish(struct smtp_hdr_filter *f);

/* ---- limits.c: connections per IPv4 address, IPv6 /64 and /48 ---- */

/* The /48 holds many /64s of one site: a looser cap, this many times the
 * per-address one. */
#define SMTP_LIMIT_48_FACTOR 8

struct smtp_limits;

struct smtp_limits *smtp_limits_new(unsigned per_ip);
void smtp_limits_free(struct smtp_limits *l);
/* Counts a connection from sa; false (nothing counted) when over a cap.
 * sa must be AF_INET or AF_INET6 (IPv4-mapped already unmapped).
 * Thread-safe: one table serves every loop. */
bool smtp_limits_acquire(struct smtp_limits *l, const struct sockaddr *sa);
void smtp_limits_release(struct smtp_limits *l, const struct sockaddr *sa);

/* ---- the server and its sessions ---- */

struct bufferevent;
struct event;
struct evconnlistener;
struct ssl_ctx_st;
struct spool_msg;

/* Session states: bits, so the command table can list several. */
enum smtp_state {
	ST_PROXY = 1 << 0,   /* waiting for the PROXY header */
	ST_GREET = 1 << 1,   /* banner sent, no EHLO/HELO yet */
	ST_READY = 1 << 2,   /* EHLO/HELO done, no transaction */
	ST_MAIL = 1 << 3,    /* MAIL accepted */
	ST_RCPT = 1 << 4,    /* at least one RCPT accepted */
	ST_DATA = 1 << 5,    /* reading the message */
	ST_CLOSING = 1 << 6, /* last reply sent, closing when flushed */
};

struct smtp_server {
	struct event_base *base;
	const struct config *conf;
	struct spool *spool;
	struct dns *dns;              /* NULL: no sender checks */
	struct spf *spf;
	struct dkim_keycache *dkim_keys;
	struct ssl_ctx_st *tls; /* NULL: no STARTTLS */
	struct evconnlistener **listeners;
	void **listener_args; /* each listener's callback argument */
	size_t listener_count;
	/*
	 * Shared by every loop's server: the per-network counts and the
	 * connections in total (max_connections), both owned by the first.
	 */
	struct smtp_limits *limits;
	atomic_uint *connections;
	atomic_uint connections_own;
	struct smtp_server *first; /* NULL for the first itself */
	unsigned loops_after;      /* first only: servers made after it */
	struct sockaddr_storage *bound; /* each listener's real address */
	struct smtp_session *sessions; /* all live sessions, for shutdown */
	unsigned session_count;        /* this loop's */
	uint64_t next_id;
	uint32_t id_base;
	bool shutting_down;
	smtp_drained_cb *drained;
	void *drained_arg;
	struct event *drained_ev;
	struct event *accept_pause_ev; /* re-enables accepting after EMFILE */
};

struct smtp_txn {
	/* without <>; "" for <>; room for a quoted local part */
	char from[SMTP_LOCAL_MAX + SMTP_DOMAIN_MAX + 4];
	struct smtp_mail_params params;
	char *rcpts[SMTP_RCPT_MAX];
	size_t rcpt_count;
	struct spool_msg *msg;
	int write_err;    /* first spool_msg_write() error */
	bool too_big;     /* over max_message_size: nothing kept */
	bool committing;  /* commit in flight: the session is parked */
	struct smtp_data data;
	char *dbuf;       /* DATA reader output, SMTP_DATA_CHUNK + 1 */

	/* Sender checks of this transaction (checks.c). */
	struct spf_check *spf;  /* in flight */
	bool spf_done;
	struct spf_outcome spf_res;
	struct dkim_verify *dkim;
	const struct dkim_result *dkim_res; /* owned by dkim */
	size_t dkim_count;
	bool dkim_done;
	bool deciding;          /* end of DATA waits for SPF, DKIM, iprev */
	struct smtp_hdr_filter filter;
	const char *policy;     /* the end-of-DATA policy reason, for logs */
};

struct smtp_session {
	struct smtp_server *srv;
	struct smtp_session *prev, *next;
	char id[24];
	struct bufferevent *bev;
	int fd;
	const char *listener; /* its text, for logs */
	struct sockaddr_storage peer; /* the client (PROXY applied, unmapped) */
	char ip[64];        /* RFC 5952 / dotted text */
	unsigned port;
	bool counted;       /* holds a slot in srv->limits */
	unsigned state;
	bool parked;        /* waiting for a callback: input stays buffered */
	bool processing;    /* inside session_process(): no re-entry */
	bool skip_line;     /* resyncing after an over-long line */
	bool deadline_armed; /* the timeouts are cut to the line deadline */
	/* When the command being read (or the PROXY header) could begin: a
	 * whole line must arrive within timeout_command of it, however
	 * slowly its bytes trickle in (slowloris). */
	struct timeval line_since;
	bool eof;           /* the client shut down its sending side */
	bool esmtp;
	char helo[SMTP_DOMAIN_MAX + 1];
	bool tls;
	char tls_version[16];
	char tls_cipher[64];
	unsigned msgs;
	/* Sender checks of the session (checks.c). */
	struct policy_client client;
	struct iprev *iprev;    /* in flight */
	bool iprev_done;
	bool ptr_known;         /* iprev_res.ptr_* set, forward lookups out */
	struct iprev_result iprev_res;
	char *rcpt_waiting;     /* a RCPT parked until reverse DNS answers */
	const struct conf_domain *rcpt_waiting_dom;
	const char *close_reason;
	struct event *close_ev; /* closes from the loop when nothing to write */
	struct event *flush_ev; /* writes queued replies (session_flush) */
	struct smtp_txn txn;
};

/* Parsed DKIM keys kept for the whole server. */
#define SMTP_DKIM_KEY_SLOTS 4096

/* Read in big pieces: fewer syscalls per message. */
#define SMTP_READ_MAX (64 * 1024)
/* How long accepting pauses after an accept() error (EMFILE...). */
#define SMTP_ACCEPT_PAUSE_MS 100
#define SMTP_DATA_CHUNK (64 * 1024)
/*
 * A message may take timeout_data plus one second per this many octets
 * received, however its bytes trickle in (as Postfix's smtpd_min_data_rate):
 * a slow link gets through, a byte now and then does not.
 */
#define SMTP_DATA_MIN_RATE 500
/* Input buffered per session at most (pipelined or while parked). */
#define SMTP_INPUT_MAX (256 * 1024)
/* Replies queued for a client that does not read, at most (about). */
#define SMTP_OUTPUT_MAX (64 * 1024)

/* server.c */
/* A session was freed: the last one ends a shutdown. */
void smtp_server_session_gone(struct smtp_server *srv);

/* session.c: I/O, state, parking, replies, closing */
struct smtp_session *session_new(struct smtp_server *srv, int fd,
    const struct sockaddr *sa, socklen_t salen, bool proxy,
    const char *listener);
void session_set_state(struct smtp_session *s, unsigned state);
void smtp_reply(struct smtp_session *s, int code, const char *enh,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* One line of a multi-line reply (more = not the last). */
void smtp_reply_line(struct smtp_session *s, int code, bool more,
    const char *text);
/* Stops reading commands until session_resume(); input stays buffered. */
void session_park(struct smtp_session *s);
void session_resume(struct smtp_session *s);
/* After the reply just queued: close once it has been written. */
void session_close_after_reply(struct smtp_session *s, const char *reason);
void session_txn_reset(struct smtp_session *s);
/* Called when a transaction has ended (replied): shutdown may close. */
void session_txn_done(struct smtp_session *s);
void session_start_tls(struct smtp_session *s);
void session_shutdown(struct smtp_session *s);

/* commands.c */
void smtp_dispatch(struct smtp_session *s, const char *line, size_t len);
void smtp_data_input(struct smtp_session *s);
void smtp_banner(struct smtp_session *s);

/*
 * checks.c: the sender checks of DESIGN.md inside a session. Reverse DNS
 * starts at connect, SPF at MAIL, DKIM and the header filter see the DATA
 * stream, and the policy decides at each RCPT and at the end of DATA. A
 * decision that needs an answer still in flight parks the session.
 */
void checks_connect(struct smtp_session *s);
void checks_mail(struct smtp_session *s);
/* A served, well-formed recipient: replies now or after reverse DNS. */
void checks_rcpt(struct smtp_session *s, const struct conf_domain *d,
    const char *rcpt);
void checks_data_begin(struct smtp_session *s, smtp_emit_cb *emit);
void checks_data_feed(struct smtp_session *s, const char *p, size_t len);
/* The final dot: decides (maybe later) and calls smtp_message_decided(). */
void checks_data_end(struct smtp_session *s);
/* Cancels what the transaction has in flight; for session_txn_reset(). */
void checks_txn_reset(struct smtp_session *s);
/* Cancels what the session has in flight; for session_free(). */
void checks_session_end(struct smtp_session *s);
/* " iprev=... spf=... dkim=... policy=..." for the transaction log line. */
void checks_log_fields(const struct smtp_session *s, struct buf *out);

/* commands.c: the end-of-DATA verdict; authres holds the header fields. */
void smtp_message_decided(struct smtp_session *s,
    const struct policy_reply *r, const struct buf *authres);

/* tls.c */
struct ssl_ctx_st *smtp_tls_ctx_new(const char *cert, const char *key,
    char *err, size_t errsz);
void smtp_tls_ctx_free(struct ssl_ctx_st *ctx);

/* received.c: the Received: field for a message (RFC 5321 4.4). */
struct buf;
void smtp_received(struct buf *out, const struct smtp_session *s,
    const char *queue_id);

#endif

/*
 * smtp: the inbound SMTP server (RFC 5321), one per libevent loop.
 *
 * smtp_server_new() binds every listener of the configuration and loads the
 * TLS certificate when one is configured, so that the caller can drop
 * privileges afterwards; nothing is accepted until smtp_server_start()
 * hands it the spool (opened after the privilege drop, so its files belong
 * to the unprivileged user). Each
 * connection is a session: PROXY header (listeners marked "proxy"),
 * connection limits, the command state machine, STARTTLS, and DATA streamed
 * into the spool. A message gets "250 ... queued as ID" only from the
 * spool's commit callback, once it is durable.
 *
 * Ownership: conf, spool and base must outlive the server. The server owns
 * its sessions. smtp_server_shutdown() stops accepting, closes idle
 * sessions with 421, lets transactions in flight finish (then closes them
 * with 421) and calls done once no session is left; after that
 * smtp_server_free() releases everything. smtp_server_free(NULL) does
 * nothing.
 */
#ifndef MXGATE_SMTP_SMTP_H
#define MXGATE_SMTP_SMTP_H

#include <stddef.h>

struct config;
struct dns;
struct event_base;
struct smtp_server;
struct spool;

/*
 * NULL on failure (a port in use, a bad certificate) with a reason in err.
 * With several loops (conf_loops()), the first server is made with first
 * NULL and each other loop's with first set: it listens on the first's
 * addresses (the real ports, when the file said 0) and shares its
 * connection caps; first must be freed last.
 */
struct smtp_server *smtp_server_new(struct event_base *base,
    const struct config *conf, struct smtp_server *first, char *err,
    size_t errsz);
/*
 * Starts accepting connections; their messages go into spool. dns, which
 * must outlive the server, resolves for the sender checks (reverse DNS,
 * SPF, DKIM); NULL turns them off, which only tests of the bare protocol
 * want: every check is then a temperror.
 */
void smtp_server_start(struct smtp_server *srv, struct spool *spool,
    struct dns *dns);

typedef void smtp_drained_cb(void *arg);
/* Calls done (from the loop, exactly once) when the last session is gone. */
void smtp_server_shutdown(struct smtp_server *srv, smtp_drained_cb *done,
    void *arg);
void smtp_server_free(struct smtp_server *srv);

/*
 * Checks the TLS certificate and key of conf, if any, as the server would
 * load them (for check-config). 0, or ERR_TLS with a reason in err.
 */
int smtp_tls_check(const struct config *conf, char *err, size_t errsz);

#endif

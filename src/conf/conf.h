/*
 * conf: the INI configuration file (inih) -> a validated struct config.
 *
 * conf_load() either returns a complete, checked configuration or none:
 * every error is reported as "FILE:LINE: message" and nothing half-loaded
 * escapes. Keys and C fields share their names (STYLE.md). Relative paths in
 * the file are made relative to the file's own directory. Sizes take K/M/G,
 * times s/m/h. The struct is immutable once loaded; conf_free() releases it.
 */
#ifndef MXGATE_CONF_CONF_H
#define MXGATE_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address range, "2001:db8::/32" or "192.0.2.0/24". */
struct conf_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

struct conf_listen {
	/* Port 0 lets the kernel choose; serve logs the real one. */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool proxy; /* expect a PROXY v1/v2 header first */
	char *text; /* as written, for logs */
};

struct conf_connector {
	char *name;
	struct conf_cidr *from;
	size_t from_count;
};

enum conf_ptr_check { CONF_PTR_EXISTS, CONF_PTR_FORWARD_CONFIRMED };

/* loops = N takes 1..CONF_LOOPS_MAX; "auto" takes the online cores, capped. */
#define CONF_LOOPS_MAX 64

struct conf_domain {
	char *name; /* lower case, no trailing dot */
	bool ipv6_anonymous;
	char *maildir; /* deliver = maildir:DIR, absolute or file-relative */
};

struct config {
	char *file; /* the path it came from, or "(default)" */

	/* [server] */
	char *hostname;
	struct conf_listen *listen;
	size_t listen_count;
	char *spool;
	char *user;
	uint64_t max_message_size;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned loops; /* event loops; 0 (auto): one per online core */
	char *tls_certificate;
	char *tls_key;
	/* Keys timeout_command (default 5m) and timeout_data (3m). */
	unsigned timeout_command_s; /* RFC 5321 4.5.3.2: at least 5 minutes */
	unsigned timeout_data_s;    /* 3 minutes per block, 10 at final dot */

	/* [dns]; each server normalised as "192.0.2.1:53" or "[::1]:53" */
	char **dns_servers;
	size_t dns_server_count;
	unsigned dns_timeout_ms;
	char *dns_trust_anchor;

	/* [policy] */
	enum conf_ptr_check ptr_check;

	/* [spf] */
	unsigned spf_max_void_lookups;

	/* [dkim] */
	unsigned dkim_max_signatures;

	struct conf_connector *connectors;
	size_t connector_count;
	struct conf_domain *domains;
	size_t domain_count;
};

/* Reads path. On error returns NULL and writes "FILE:LINE: message". */
struct config *conf_load(const char *path, char *err, size_t errsz);
/* The same from text already in memory; name is used in messages and as
 * the base for relative paths (its directory). */
struct config *conf_parse(const char *name, const char *text, size_t len,
    char *err, size_t errsz);
/* The embedded default (DESIGN.md): [::1]:2525 and 127.0.0.1:2525, domain
 * localhost, everything under ./mxgate-data. */
struct config *conf_default(char *err, size_t errsz);
void conf_free(struct config *conf);
/* The event loops to run: loops, or for auto one per online core. */
unsigned conf_loops(const struct config *conf);

/* The served domain for name (case-insensitive, trailing dot ignored). */
const struct conf_domain *conf_find_domain(const struct config *conf,
    const char *name, size_t len);
/* The trusted connector whose range holds the address, or NULL. */
const struct conf_connector *conf_find_connector(const struct config *conf,
    const struct sockaddr *sa);

#endif

/*
 * conf: INI loading with inih, then validation into struct config.
 *
 * inih's handler is not told the line number in Debian's build, so the text
 * is fed to ini_parse_stream() (what ini_parse_string() does inside) through
 * a reader that counts lines. The reader also sees section headers as they
 * pass, which lets an empty unknown section or a duplicate domain be caught
 * at its own line: inih calls the handler only for key = value lines.
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ascii.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/span.h"

/* A configuration file is small; a bigger one is a mistake. */
#define CONF_FILE_MAX (1024 * 1024)
/* RFC 1035 2.3.4. */
#define CONF_NAME_MAX 253
#define CONF_LABEL_MAX 63

enum section {
	SEC_NONE,
	SEC_SERVER,
	SEC_DNS,
	SEC_POLICY,
	SEC_SPF,
	SEC_DKIM,
	SEC_CONNECTOR,
	SEC_DOMAIN,
};

/* Keys seen in the current section, to refuse a key given twice. */
#define CONF_SEEN_MAX 32

struct loader {
	struct config *conf;
	const char *text;
	size_t len, off;
	unsigned line;
	char dir[4096];
	char *err;
	size_t errsz;
	bool failed;
	enum section sec;
	char seen[CONF_SEEN_MAX][32];
	size_t seen_count;
	bool listen_set;
	unsigned sections_seen; /* bit per singleton section */
};

static void
fail(struct loader *l, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct loader *l, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->failed)
		return;
	l->failed = true;
	n = snprintf(l->err, l->errsz, "%s:%u: ", l->conf->file, line);
	if (n < 0 || (size_t)n >= l->errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->errsz - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Paths in the file are relative to the file's own directory. */
static char *
conf_path(const struct loader *l, const char *v)
{
	struct buf b = { 0 };

	if (v[0] == '/')
		return xstrdup(v);
	while (v[0] == '.' && v[1] == '/')
		v += 2;
	buf_adds(&b, l->dir);
	buf_addc(&b, '/');
	buf_adds(&b, v);
	return b.p;
}

static bool
parse_u64_suffix(const char *v, const char *suffixes,
    const unsigned long long *mult, unsigned long long max,
    unsigned long long *out)
{
	struct span s = span_cstr(v);
	unsigned long long m = 1, n;
	const char *hit;

	if (s.len == 0)
		return false;
	hit = s.p[s.len - 1] ? strchr(suffixes, s.p[s.len - 1]) : NULL;
	if (hit) {
		m = mult[hit - suffixes];
		s.len--;
	}
	if (!span_to_u64(s, max, &n) || n > max / m)
		return false;
	*out = n * m;
	return true;
}

static bool
parse_size(const char *v, uint64_t *out)
{
	static const unsigned long long mult[] = { 1024, 1024, 1024ULL * 1024,
		1024ULL * 1024, 1024ULL * 1024 * 1024, 1024ULL * 1024 * 1024 };
	unsigned long long n;

	if (!parse_u64_suffix(v, "kKmMgG", mult, 1ULL << 40, &n) || n == 0)
		return false;
	*out = n;
	return true;
}

/* Seconds (a bare number, or with s/m/h). */
static bool
parse_time(const char *v, unsigned *out)
{
	static const unsigned long long mult[] = { 1, 60, 3600 };
	unsigned long long n;

	if (!parse_u64_suffix(v, "smh", mult, 7 * 24 * 3600, &n) || n == 0)
		return false;
	*out = (unsigned)n;
	return true;
}

static bool
parse_uint(const char *v, unsigned max, unsigned *out)
{
	unsigned long long n;

	if (!span_to_u64(span_cstr(v), max, &n))
		return false;
	*out = (unsigned)n;
	return true;
}

static bool
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (span_eq_nocase_cstr(span_cstr(v), yes[i])) {
			*out = true;
			return true;
		}
		if (span_eq_nocase_cstr(span_cstr(v), no[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

/*
 * A host or domain name (RFC 1035 letters, digits, hyphens, plus '_' which
 * real zones use). Returns a lower-case copy without a trailing dot.
 */
static char *
parse_domain(const char *p, size_t len)
{
	size_t i, label = 0;
	char *out;

	if (len && p[len - 1] == '.')
		len--;
	if (len == 0 || len > CONF_NAME_MAX)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				return NULL;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return NULL;
		if (c == '-' && label == 0)
			return NULL;
		if (++label > CONF_LABEL_MAX)
			return NULL;
	}
	if (p[len - 1] == '-')
		return NULL;
	out = xstrndup(p, len);
	for (i = 0; i < len; i++)
		out[i] = (char)ascii_lower((unsigned char)out[i]);
	return out;
}

/* "2001:db8::/32", "192.0.2.0/24", or a bare address (full length). */
static bool
parse_cidr(struct span s, struct conf_cidr *c)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	unsigned long long pfx;
	unsigned max, i;

	if (s.len == 0 || s.len >= sizeof tmp)
		return false;
	slash = memchr(s.p, '/', s.len);
	alen = slash ? (size_t)(slash - s.p) : s.len;
	memcpy(tmp, s.p, alen);
	tmp[alen] = '\0';
	memset(c, 0, sizeof *c);
	if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else if (inet_pton(AF_INET, tmp, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else {
		return false;
	}
	if (slash) {
		if (!span_to_u64(span_make(slash + 1, s.len - alen - 1), max,
		    &pfx))
			return false;
		c->prefix = (unsigned)pfx;
	} else {
		c->prefix = max;
	}
	/* Bits past the prefix would make the range mean something else. */
	for (i = c->prefix; i < max; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

/* "[::1]:2525", "127.0.0.1:2525", either followed by " proxy". */
static bool
parse_listen(struct span s, struct conf_listen *out)
{
	char host[INET6_ADDRSTRLEN];
	struct span addr, port, rest = { 0 };
	unsigned long long pn;
	const char *sp;

	memset(out, 0, sizeof *out);
	sp = memchr(s.p, ' ', s.len);
	if (!sp)
		sp = memchr(s.p, '\t', s.len);
	addr = s;
	if (sp) {
		addr.len = (size_t)(sp - s.p);
		rest = span_trim(span_make(sp, s.len - addr.len));
		if (!span_eq_nocase_cstr(rest, "proxy"))
			return false;
		out->proxy = true;
	}
	if (addr.len && addr.p[0] == '[') {
		const char *rb = memchr(addr.p, ']', addr.len);
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;

		if (!rb || (size_t)(rb - addr.p) - 1 >= sizeof host ||
		    rb + 1 >= addr.p + addr.len || rb[1] != ':')
			return false;
		memcpy(host, addr.p + 1, (size_t)(rb - addr.p) - 1);
		host[rb - addr.p - 1] = '\0';
		port = span_make(rb + 2, addr.len - (size_t)(rb - addr.p) - 2);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return false;
		sin6->sin6_family = AF_INET6;
		out->addrlen = sizeof *sin6;
	} else {
		const char *colon = memchr(addr.p, ':', addr.len);
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;

		if (!colon || (size_t)(colon - addr.p) >= sizeof host)
			return false;
		memcpy(host, addr.p, (size_t)(colon - addr.p));
		host[colon - addr.p] = '\0';
		port = span_make(colon + 1, addr.len - (size_t)(colon -
		    addr.p) - 1);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return false;
		sin->sin_family = AF_INET;
		out->addrlen = sizeof *sin;
	}
	/* Port 0 asks the kernel for a free port (the log tells which). */
	if (!span_to_u64(port, 65535, &pn))
		return false;
	if (out->addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&out->addr)->sin6_port =
		    htons((uint16_t)pn);
	else
		((struct sockaddr_in *)&out->addr)->sin_port =
		    htons((uint16_t)pn);
	out->text = xstrndup(s.p, s.len);
	return true;
}

/* Splits v at commas and calls each(l, item) for every trimmed item. */
static bool
split_list(const char *v, bool (*each)(void *ctx, struct span item),
    void *ctx)
{
	struct span s = span_cstr(v);
	size_t n = 0;

	while (s.len) {
		const char *comma = memchr(s.p, ',', s.len);
		size_t l = comma ? (size_t)(comma - s.p) : s.len;
		struct span item = span_trim(span_make(s.p, l));

		if (item.len == 0 || !each(ctx, item))
			return false;
		n++;
		if (!comma)
			break;
		s = span_make(comma + 1, s.len - l - 1);
		if (s.len == 0)
			return false;
	}
	return n > 0;
}

static bool
add_listen(void *ctx, struct span item)
{
	struct config *c = ctx;
	struct conf_listen li;

	if (!parse_listen(item, &li))
		return false;
	c->listen = xrealloc(c->listen, (c->listen_count + 1) * sizeof li);
	c->listen[c->listen_count++] = li;
	return true;
}

static bool
add_cidr(void *ctx, struct span item)
{
	struct conf_connector *cn = ctx;
	struct conf_cidr cidr;

	if (!parse_cidr(item, &cidr))
		return false;
	cn->from = xrealloc(cn->from, (cn->from_count + 1) * sizeof cidr);
	cn->from[cn->from_count++] = cidr;
	return true;
}

/*
 * A server is "ADDR", "ADDR:PORT" for IPv4, or "V6" / "[V6]:PORT"; it is
 * kept normalised with its port (default 53).
 */
static bool
add_dns_server(void *ctx, struct span item)
{
	struct config *c = ctx;
	struct conf_listen probe;
	char tmp[INET6_ADDRSTRLEN + 16];
	struct span s = item;

	if (item.len + 8 >= sizeof tmp)
		return false;
	if (item.p[0] != '[' && !memchr(item.p, '.', item.len)) {
		snprintf(tmp, sizeof tmp, "[%.*s]:53", (int)item.len, item.p);
		s = span_cstr(tmp);
	} else if (item.p[0] != '[' && !memchr(item.p, ':', item.len)) {
		snprintf(tmp, sizeof tmp, "%.*s:53", (int)item.len, item.p);
		s = span_cstr(tmp);
	}
	if (!parse_listen(s, &probe))
		return false;
	if (probe.proxy) {
		free(probe.text);
		return false;
	}
	c->dns_servers = xrealloc(c->dns_servers,
	    (c->dns_server_count + 1) * sizeof *c->dns_servers);
	c->dns_servers[c->dns_server_count++] = probe.text;
	return true;
}

static bool
key_seen(struct loader *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->seen_count; i++)
		if (strcmp(l->seen[i], name) == 0)
			return true;
	if (l->seen_count < CONF_SEEN_MAX) {
		snprintf(l->seen[l->seen_count], sizeof l->seen[0], "%s",
		    name);
		l->seen_count++;
	}
	return false;
}

/* 1 for a good value, 0 for a bad one, -1 for an unknown key. */
static int
set_server(struct loader *l, const char *k, const char *v)
{
	struct config *c = l->conf;

	if (strcmp(k, "hostname") == 0) {
		free(c->hostname);
		c->hostname = parse_domain(v, strlen(v));
		return c->hostname != NULL;
	}
	if (strcmp(k, "listen") == 0) {
		size_t i;

		for (i = 0; i < c->listen_count; i++)
			free(c->listen[i].text);
		free(c->listen);
		c->listen = NULL;
		c->listen_count = 0;
		l->listen_set = true;
		return split_list(v, add_listen, c);
	}
	if (strcmp(k, "spool") == 0) {
		free(c->spool);
		c->spool = conf_path(l, v);
		return v[0] != '\0';
	}
	if (strcmp(k, "user") == 0) {
		free(c->user);
		c->user = xstrdup(v);
		return v[0] != '\0' && strpbrk(v, " \t:/") == NULL;
	}
	if (strcmp(k, "max_message_size") == 0)
		return parse_size(v, &c->max_message_size);
	if (strcmp(k, "max_connections") == 0)
		return parse_uint(v, 1000000, &c->max_connections) &&
		    c->max_connections > 0;
	if (strcmp(k, "loops") == 0) {
		c->loops = 0;
		return strcmp(v, "auto") == 0 ||
		    (parse_uint(v, CONF_LOOPS_MAX, &c->loops) && c->loops > 0);
	}
	if (strcmp(k, "max_connections_per_ip") == 0)
		return parse_uint(v, 1000000, &c->max_connections_per_ip) &&
		    c->max_connections_per_ip > 0;
	if (strcmp(k, "tls_certificate") == 0) {
		free(c->tls_certificate);
		c->tls_certificate = conf_path(l, v);
		return v[0] != '\0';
	}
	if (strcmp(k, "tls_key") == 0) {
		free(c->tls_key);
		c->tls_key = conf_path(l, v);
		return v[0] != '\0';
	}
	if (strcmp(k, "timeout_command") == 0)
		return parse_time(v, &c->timeout_command_s);
	if (strcmp(k, "timeout_data") == 0)
		return parse_time(v, &c->timeout_data_s);
	return -1;
}

/*
 * Each setter returns 1 for a good value, 0 for a bad one, -1 for an
 * unknown key.
 */
static int
set_key(struct loader *l, const char *k, const char *v)
{
	struct config *c = l->conf;
	unsigned ms;

	switch (l->sec) {
	case SEC_SERVER:
		return set_server(l, k, v);
	case SEC_DNS:
		if (strcmp(k, "servers") == 0)
			return split_list(v, add_dns_server, c);
		if (strcmp(k, "timeout") == 0) {
			if (!parse_time(v, &ms))
				return 0;
			c->dns_timeout_ms = ms * 1000;
			return 1;
		}
		if (strcmp(k, "trust_anchor") == 0) {
			free(c->dns_trust_anchor);
			c->dns_trust_anchor = conf_path(l, v);
			return v[0] != '\0';
		}
		return -1;
	case SEC_POLICY:
		if (strcmp(k, "ptr_check") == 0) {
			if (strcmp(v, "exists") == 0)
				c->ptr_check = CONF_PTR_EXISTS;
			else if (strcmp(v, "forward-confirmed") == 0)
				c->ptr_check = CONF_PTR_FORWARD_CONFIRMED;
			else
				return 0;
			return 1;
		}
		return -1;
	case SEC_SPF:
		if (strcmp(k, "max_void_lookups") == 0)
			return parse_uint(v, 100, &c->spf_max_void_lookups);
		return -1;
	case SEC_DKIM:
		if (strcmp(k, "max_signatures") == 0)
			return parse_uint(v, 100, &c->dkim_max_signatures) &&
			    c->dkim_max_signatures > 0;
		return -1;
	case SEC_CONNECTOR:
		if (strcmp(k, "from") == 0)
			return split_list(v, add_cidr,
			    &c->connectors[c->connector_count - 1]);
		return -1;
	case SEC_DOMAIN: {
		struct conf_domain *d = &c->domains[c->domain_count - 1];

		if (strcmp(k, "ipv6_anonymous") == 0)
			return parse_bool(v, &d->ipv6_anonymous);
		if (strcmp(k, "deliver") == 0) {
			if (strncmp(v, "maildir:", 8) != 0 || v[8] == '\0')
				return 0;
			free(d->maildir);
			d->maildir = conf_path(l, v + 8);
			return 1;
		}
		return -1;
	}
	case SEC_NONE:
		break;
	}
	return -1;
}

static const char *const sec_names[] = {
	[SEC_SERVER] = "server", [SEC_DNS] = "dns", [SEC_POLICY] = "policy",
	[SEC_SPF] = "spf", [SEC_DKIM] = "dkim",
	[SEC_CONNECTOR] = "connector", [SEC_DOMAIN] = "domain",
};

static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *l = user;
	int r;

	(void)section;
	if (l->failed)
		return 0;
	if (l->sec == SEC_NONE) {
		fail(l, l->line, "'%s' is outside any section", name);
		return 0;
	}
	if (key_seen(l, name)) {
		fail(l, l->line, "'%s' given twice", name);
		return 0;
	}
	r = set_key(l, name, value);
	if (r < 0)
		fail(l, l->line, "unknown key '%s' in [%s]", name,
		    sec_names[l->sec]);
	else if (r == 0)
		fail(l, l->line, "bad value for %s: '%s'", name, value);
	return r > 0;
}

static void
begin_section(struct loader *l, struct span name)
{
	struct config *c = l->conf;
	struct span kind = name, arg = { name.p + name.len, 0 };
	const char *sp = memchr(name.p, ' ', name.len);
	size_t i;

	if (sp) {
		kind.len = (size_t)(sp - name.p);
		arg = span_trim(span_make(sp, name.len - kind.len));
	}
	l->seen_count = 0;
	for (i = SEC_SERVER; i <= SEC_DKIM; i++) {
		if (span_eq(name, span_cstr(sec_names[i]))) {
			/* A second [server] would quietly override the
			 * first: more likely a mistake than a wish. */
			if (l->sections_seen & (1u << i)) {
				fail(l, l->line, "[%s] given twice",
				    sec_names[i]);
				return;
			}
			l->sections_seen |= 1u << i;
			l->sec = (enum section)i;
			return;
		}
	}
	if (span_eq(kind, SPAN_LIT("connector")) && arg.len) {
		struct conf_connector *cn;

		for (i = 0; i < c->connector_count; i++)
			if (span_eq(arg, span_cstr(c->connectors[i].name))) {
				fail(l, l->line, "connector '%s' defined twice",
				    c->connectors[i].name);
				return;
			}
		c->connectors = xrealloc(c->connectors,
		    (c->connector_count + 1) * sizeof *cn);
		cn = &c->connectors[c->connector_count++];
		memset(cn, 0, sizeof *cn);
		cn->name = xstrndup(arg.p, arg.len);
		l->sec = SEC_CONNECTOR;
		return;
	}
	if (span_eq(kind, SPAN_LIT("domain")) && arg.len) {
		struct conf_domain *d;
		char *dn = parse_domain(arg.p, arg.len);

		if (!dn) {
			fail(l, l->line, "bad domain name '%.*s'",
			    (int)arg.len, arg.p);
			return;
		}
		for (i = 0; i < c->domain_count; i++)
			if (strcmp(dn, c->domains[i].name) == 0) {
				fail(l, l->line, "domain '%s' defined twice",
				    dn);
				free(dn);
				return;
			}
		c->domains = xrealloc(c->domains,
		    (c->domain_count + 1) * sizeof *d);
		d = &c->domains[c->domain_count++];
		memset(d, 0, sizeof *d);
		d->name = dn;
		l->sec = SEC_DOMAIN;
		return;
	}
	fail(l, l->line, "unknown section [%.*s]", (int)name.len, name.p);
}

/* inih's line reader, counting lines and catching section headers. */
static char *
read_line(char *str, int num, void *stream)
{
	struct loader *l = stream;
	const char *nl;
	size_t n;
	struct span t;

	if (l->off >= l->len || l->failed)
		return NULL;
	nl = memchr(l->text + l->off, '\n', l->len - l->off);
	n = nl ? (size_t)(nl - (l->text + l->off)) + 1 : l->len - l->off;
	l->line++;
	if (n >= (size_t)num) {
		fail(l, l->line, "line too long");
		return NULL;
	}
	if (memchr(l->text + l->off, '\0', n)) {
		fail(l, l->line, "NUL byte in line");
		return NULL;
	}
	memcpy(str, l->text + l->off, n);
	str[n] = '\0';
	l->off += n;

	t = span_trim(span_make(str, n));
	while (t.len && (t.p[t.len - 1] == '\n' || t.p[t.len - 1] == '\r'))
		t.len--;
	t = span_trim(t);
	if (t.len && t.p[0] == '[') {
		const char *rb = memchr(t.p, ']', t.len);

		if (!rb) {
			fail(l, l->line, "section header without ']'");
			return NULL;
		}
		begin_section(l, span_trim(span_make(t.p + 1,
		    (size_t)(rb - t.p) - 1)));
	}
	return str;
}

/* Checks made once the whole file is read: things that must exist. */
static void
conf_finish(struct loader *l)
{
	struct config *c = l->conf;
	size_t i;

	if (l->failed)
		return;
	if (c->domain_count == 0) {
		fail(l, l->line, "no [domain NAME] section: nothing to serve");
		return;
	}
	for (i = 0; i < c->domain_count; i++)
		if (c->domains[i].maildir == NULL) {
			fail(l, l->line, "[domain %s] has no deliver",
			    c->domains[i].name);
			return;
		}
	for (i = 0; i < c->connector_count; i++)
		if (c->connectors[i].from_count == 0) {
			fail(l, l->line, "[connector %s] has no from",
			    c->connectors[i].name);
			return;
		}
	if ((c->tls_certificate == NULL) != (c->tls_key == NULL)) {
		fail(l, l->line, "tls_certificate and tls_key go together");
		return;
	}
}

static void
conf_defaults(struct config *c, const char *dir)
{
	char host[256];

	if (gethostname(host, sizeof host) != 0 ||
	    (c->hostname = parse_domain(host, strnlen(host, sizeof host))) ==
	    NULL)
		c->hostname = xstrdup("localhost");
	c->max_message_size = 25ULL * 1024 * 1024;
	c->max_connections = 10000;
	c->max_connections_per_ip = 20;
	/* RFC 5321 4.5.3.2.7: a server waits at least 5 minutes. */
	c->timeout_command_s = 300;
	/* RFC 5321 4.5.3.2.5: 3 minutes per data block. */
	c->timeout_data_s = 180;
	c->dns_timeout_ms = 5000;
	c->ptr_check = CONF_PTR_EXISTS;
	c->spf_max_void_lookups = 2; /* RFC 7208 4.6.4 */
	c->dkim_max_signatures = 5;
	c->spool = xmalloc(strlen(dir) + sizeof "/var/spool");
	memcpy(c->spool, dir, strlen(dir));
	memcpy(c->spool + strlen(dir), "/var/spool", sizeof "/var/spool");
}

static void
default_listen(struct config *c)
{
	static const char *const def = "[::1]:2525, 127.0.0.1:2525";

	split_list(def, add_listen, c);
}

struct config *
conf_parse(const char *name, const char *text, size_t len, char *err,
    size_t errsz)
{
	struct loader l = { 0 };
	const char *slash = strrchr(name, '/');
	int r;

	l.conf = xcalloc(1, sizeof *l.conf);
	l.conf->file = xstrdup(name);
	l.text = text;
	l.len = len;
	l.err = err;
	l.errsz = errsz;
	if (slash == name)
		snprintf(l.dir, sizeof l.dir, "/");
	else if (slash)
		snprintf(l.dir, sizeof l.dir, "%.*s", (int)(slash - name),
		    name);
	else
		snprintf(l.dir, sizeof l.dir, ".");
	conf_defaults(l.conf, l.dir);

	r = ini_parse_stream(read_line, &l, on_key, &l);
	if (r > 0 && !l.failed)
		fail(&l, (unsigned)r,
		    "expected 'key = value' or '[section]'");
	if (!l.listen_set && !l.failed)
		default_listen(l.conf);
	conf_finish(&l);
	if (l.failed) {
		conf_free(l.conf);
		return NULL;
	}
	return l.conf;
}

struct config *
conf_load(const char *path, char *err, size_t errsz)
{
	struct config *c;
	struct stat st;
	char *text;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsz, "%s:0: cannot open: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONF_FILE_MAX) {
		snprintf(err, errsz, "%s:0: not a regular file of at most "
		    "%d bytes", path, CONF_FILE_MAX);
		close(fd);
		return NULL;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errsz, "%s:0: cannot read: %s", path,
			    n < 0 ? strerror(errno) : "short read");
			free(text);
			close(fd);
			return NULL;
		}
		got += (size_t)n;
	}
	close(fd);
	c = conf_parse(path, text, got, err, errsz);
	free(text);
	return c;
}

struct config *
conf_default(char *err, size_t errsz)
{
	static const char text[] =
	    "[server]\n"
	    "hostname = localhost\n"
	    "listen = [::1]:2525, 127.0.0.1:2525\n"
	    "spool = mxgate-data/spool\n"
	    "[domain localhost]\n"
	    "deliver = maildir:mxgate-data/mail/localhost\n"
	    /* Trying it out from this machine is not anonymous mail. */
	    "[connector loopback]\n"
	    "from = ::1/128, 127.0.0.0/8\n";

	/* The name has no directory, so paths stay under the current one. */
	return conf_parse("(default)", text, sizeof text - 1, err, errsz);
}

void
conf_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->file);
	free(c->hostname);
	for (i = 0; i < c->listen_count; i++)
		free(c->listen[i].text);
	free(c->listen);
	free(c->spool);
	free(c->user);
	free(c->tls_certificate);
	free(c->tls_key);
	for (i = 0; i < c->dns_server_count; i++)
		free(c->dns_servers[i]);
	free(c->dns_servers);
	free(c->dns_trust_anchor);
	for (i = 0; i < c->connector_count; i++) {
		free(c->connectors[i].name);
		free(c->connectors[i].from);
	}
	free(c->connectors);
	for (i = 0; i < c->domain_count; i++) {
		free(c->domains[i].name);
		free(c->domains[i].maildir);
	}
	free(c->domains);
	free(c);
}

const struct conf_domain *
conf_find_domain(const struct config *c, const char *name, size_t len)
{
	size_t i;

	if (len && name[len - 1] == '.')
		len--;
	for (i = 0; i < c->domain_count; i++)
		if (span_eq_nocase(span_make(name, len),
		    span_cstr(c->domains[i].name)))
			return &c->domains[i];
	return NULL;
}

static bool
cidr_match(const struct conf_cidr *r, const unsigned char *a, int family)
{
	unsigned full = r->prefix / 8, rest = r->prefix % 8;

	if (r->family != family)
		return false;
	if (memcmp(r->addr, a, full) != 0)
		return false;
	return rest == 0 ||
	    ((r->addr[full] ^ a[full]) & (0xff00 >> rest) & 0xff) == 0;
}

const struct conf_connector *
conf_find_connector(const struct config *c, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0xff, 0xff };
	const unsigned char *a;
	int family = sa->sa_family;
	size_t i, j;

	if (family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		/* An IPv4-mapped address is an IPv4 client (DESIGN.md). */
		if (memcmp(a, mapped, sizeof mapped) == 0) {
			a += 12;
			family = AF_INET;
		}
	} else if (family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)
		    ->sin_addr;
	} else {
		return NULL;
	}
	for (i = 0; i < c->connector_count; i++)
		for (j = 0; j < c->connectors[i].from_count; j++)
			if (cidr_match(&c->connectors[i].from[j], a, family))
				return &c->connectors[i];
	return NULL;
}

unsigned
conf_loops(const struct config *conf)
{
	long cores;

	if (conf->loops)
		return conf->loops;
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		return 1;
	return cores > CONF_LOOPS_MAX ? CONF_LOOPS_MAX : (unsigned)cores;
}

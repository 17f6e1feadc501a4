/*
 * PROXY protocol header parser, versions 1 (text) and 2 (binary), as
 * specified in haproxy's doc/proxy-protocol.txt. The header comes before
 * anything else on a listener marked "proxy"; it names the real client.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "base/err.h"
#include "smtp/smtp_int.h"

static const unsigned char v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00,
	0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* One space-separated field of a v1 line, as a NUL-terminated copy. */
static bool
v1_field(struct span *line, char *out, size_t outsz)
{
	const char *sp = memchr(line->p, ' ', line->len);
	size_t n = sp ? (size_t)(sp - line->p) : line->len;

	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, line->p, n);
	out[n] = '\0';
	line->p += n;
	line->len -= n;
	if (sp) {
		line->p++;
		line->len--;
	}
	return true;
}

static bool
v1_port(const char *s, uint16_t *port)
{
	unsigned long long n;

	/* No leading zeros: the spec's port is a plain decimal. */
	if (s[0] == '0' && s[1] != '\0')
		return false;
	if (!span_to_u64(span_cstr(s), 65535, &n))
		return false;
	*port = (uint16_t)n;
	return true;
}

static int
parse_v1(const char *p, size_t len, struct sockaddr_storage *src,
    socklen_t *srclen, size_t *consumed)
{
	char proto[8], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	char sp[8], dp[8];
	unsigned char bin[16];
	const char *lf;
	struct span line;
	uint16_t sport, dport;
	size_t avail = len < SMTP_PROXY_V1_MAX ? len : SMTP_PROXY_V1_MAX;

	lf = memchr(p, '\n', avail);
	if (!lf)
		return len < SMTP_PROXY_V1_MAX ? SMTP_PROXY_MORE : ERR_SYNTAX;
	if (lf == p || lf[-1] != '\r' || (size_t)(lf - p) < 6 + 7)
		return ERR_SYNTAX;
	line = span_make(p + 6, (size_t)(lf - p) - 7);
	*consumed = (size_t)(lf - p) + 1;
	memset(src, 0, sizeof *src);
	if (!v1_field(&line, proto, sizeof proto))
		return ERR_SYNTAX;
	if (strcmp(proto, "UNKNOWN") == 0) {
		/* The rest is to be ignored; the socket address stays. */
		src->ss_family = AF_UNSPEC;
		*srclen = 0;
		return 0;
	}
	if (!v1_field(&line, sa, sizeof sa) ||
	    !v1_field(&line, da, sizeof da) ||
	    !v1_field(&line, sp, sizeof sp) ||
	    !v1_field(&line, dp, sizeof dp) || line.len != 0 ||
	    !v1_port(sp, &sport) || !v1_port(dp, &dport))
		return ERR_SYNTAX;
	if (strcmp(proto, "TCP4") == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)src;

		if (inet_pton(AF_INET, sa, &s4->sin_addr) != 1 ||
		    inet_pton(AF_INET, da, bin) != 1)
			return ERR_SYNTAX;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(sport);
		*srclen = sizeof *s4;
	} else if (strcmp(proto, "TCP6") == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)src;

		if (inet_pton(AF_INET6, sa, &s6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, da, bin) != 1)
			return ERR_SYNTAX;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(sport);
		*srclen = sizeof *s6;
	} else {
		return ERR_SYNTAX;
	}
	return 0;
}

static int
parse_v2(const unsigned char *p, size_t len, struct sockaddr_storage *src,
    socklen_t *srclen, size_t *consumed)
{
	size_t body;
	unsigned ver_cmd, fam;

	if (len < 16)
		return SMTP_PROXY_MORE;
	ver_cmd = p[12];
	fam = p[13];
	body = (size_t)p[14] << 8 | p[15];
	if ((ver_cmd >> 4) != 2 || (ver_cmd & 0x0f) > 1)
		return ERR_SYNTAX;
	if (16 + body > SMTP_PROXY_V2_MAX)
		return ERR_SYNTAX;
	if (len < 16 + body)
		return SMTP_PROXY_MORE;
	*consumed = 16 + body;
	memset(src, 0, sizeof *src);
	/* LOCAL: the proxy speaking for itself (health checks). */
	if ((ver_cmd & 0x0f) == 0) {
		src->ss_family = AF_UNSPEC;
		*srclen = 0;
		return 0;
	}
	switch (fam) {
	case 0x11: { /* TCP over IPv4 */
		struct sockaddr_in *s4 = (struct sockaddr_in *)src;

		if (body < 12)
			return ERR_SYNTAX;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, p + 16, 4);
		memcpy(&s4->sin_port, p + 24, 2);
		*srclen = sizeof *s4;
		return 0;
	}
	case 0x21: { /* TCP over IPv6 */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)src;

		if (body < 36)
			return ERR_SYNTAX;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, p + 16, 16);
		memcpy(&s6->sin6_port, p + 48, 2);
		*srclen = sizeof *s6;
		return 0;
	}
	case 0x00: /* UNSPEC: keep the socket's address */
		src->ss_family = AF_UNSPEC;
		*srclen = 0;
		return 0;
	default:
		/* UDP or UNIX streams make no sense in front of SMTP. */
		return ERR_SYNTAX;
	}
}

int
smtp_proxy_parse(const char *p, size_t len, struct sockaddr_storage *src,
    socklen_t *srclen, size_t *consumed)
{
	size_t n = len < sizeof v2_sig ? len : sizeof v2_sig;

	if (len == 0)
		return SMTP_PROXY_MORE;
	if (memcmp(p, v2_sig, n) == 0)
		return n < sizeof v2_sig ? SMTP_PROXY_MORE :
		    parse_v2((const unsigned char *)p, len, src, srclen,
		    consumed);
	n = len < 6 ? len : 6;
	if (memcmp(p, "PROXY ", n) != 0)
		return ERR_SYNTAX;
	if (n < 6)
		return SMTP_PROXY_MORE;
	return parse_v1(p, len, src, srclen, consumed);
}

/*
 * The Received: trace field we add to every accepted message (RFC 5321
 * 4.4, RFC 5322 3.6.7), with the protocol names of RFC 3848 and RFC 6531
 * and, under TLS, the version and cipher in a comment.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "conf/conf.h"
#include "smtp/smtp_int.h"

void
smtp_received(struct buf *out, const struct smtp_session *s,
    const char *queue_id)
{
	const struct smtp_txn *t = &s->txn;
	const char *proto;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	if (t->params.smtputf8)
		proto = s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	else if (s->esmtp)
		proto = s->tls ? "ESMTPS" : "ESMTP";
	else
		proto = s->tls ? "SMTPS" : "SMTP";
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);

	/* The HELO name passed smtp_helo_valid(): safe in a header. */
	buf_addf(out, "Received: from %s (%s%s%s)\r\n", s->helo,
	    strchr(s->ip, ':') ? "[IPv6:" : "[", s->ip, "]");
	buf_addf(out, "\tby %s (mxgate) with %s id %s\r\n",
	    s->srv->conf->hostname, proto, queue_id);
	if (s->tls)
		buf_addf(out, "\t(version=%s cipher=%s)\r\n", s->tls_version,
		    s->tls_cipher);
	/* One recipient may be named; more would leak the others' names. */
	if (t->rcpt_count == 1)
		buf_addf(out, "\tfor <%s>\r\n", t->rcpts[0]);
	out->len -= 2;
	buf_addf(out, "; %s\r\n", date);
}

/*
 * The header filter: drops every incoming Authentication-Results field that
 * carries our authserv-id (RFC 8601 5: only we may write one), as the
 * message streams to the spool. Fields are held only until they end, so the
 * header section is copied once and the body is passed straight through.
 */
#include <string.h>

#include "authres/authres.h"
#include "smtp/smtp_int.h"

void
smtp_hdr_filter_init(struct smtp_hdr_filter *f, const char *authserv_id,
    smtp_emit_cb *emit, void *arg)
{
	memset(f, 0, sizeof *f);
	f->authserv_id = authserv_id;
	f->emit = emit;
	f->arg = arg;
	f->at_bol = true;
}

/* The field held in f->field is complete: keep it or drop it. */
static void
field_end(struct smtp_hdr_filter *f)
{
	if (f->field.len && !f->drop &&
	    !authres_is_forged(f->field.p, f->field.len, f->authserv_id))
		f->emit(f->arg, f->field.p, f->field.len);
	else if (f->field.len)
		f->removed++;
	buf_reset(&f->field);
	f->drop = false;
}

/* Holds field bytes; an over-long one is decided on what was seen. */
static void
field_add(struct smtp_hdr_filter *f, const char *p, size_t len)
{
	if (f->drop)
		return;
	if (f->passing) {
		f->emit(f->arg, p, len);
		return;
	}
	if (f->field.len + len > SMTP_HDR_FIELD_HOLD) {
		/* Too long to hold. A field that could be ours is dropped
		 * (we never write one this long); any other is let through. */
		if (span_has_prefix_nocase(span_make(f->field.p,
		    f->field.len), "authentication-results")) {
			f->drop = true;
			f->removed++;
			buf_reset(&f->field);
			return;
		}
		f->emit(f->arg, f->field.p, f->field.len);
		buf_reset(&f->field);
		f->passing = true;
		f->emit(f->arg, p, len);
		return;
	}
	buf_add(&f->field, p, len);
}

void
smtp_hdr_filter_feed(struct smtp_hdr_filter *f, const char *p, size_t len)
{
	while (len && !f->in_body) {
		const char *lf = memchr(p, '\n', len);
		size_t n = lf ? (size_t)(lf - p) + 1 : len;

		if (f->at_bol) {
			if (p[0] == ' ' || p[0] == '\t') {
				/* A continuation of the field held. */
			} else {
				field_end(f);
				f->passing = false;
				f->drop = false;
				if (p[0] == '\r' || p[0] == '\n') {
					/* The empty line: headers end here. */
					f->in_body = true;
					break;
				}
			}
		}
		field_add(f, p, n);
		f->at_bol = lf != NULL;
		p += n;
		len -= n;
	}
	if (len)
		f->emit(f->arg, p, len);
}

void
smtp_hdr_filter_finish(struct smtp_hdr_filter *f)
{
	if (!f->in_body)
		field_end(f);
	buf_free(&f->field);
}

/*
 * The DATA reader (RFC 5321 4.1.1.4 and 4.5.2): dot-unstuffing and the end
 * of data, as one state machine over the bytes as they arrive, so a message
 * is never buffered whole and never read twice.
 *
 * Only CR LF "." CR LF ends a message. Every other line-end variant that
 * some receiver somewhere treats as an end (LF "." LF, LF "." CR LF,
 * CR LF "." LF, CR "." CR ...) contains a bare CR or a bare LF, and any of
 * them marks the message bad: a sender that smuggles a second message
 * behind one of them gets the whole thing refused, up to the real end.
 */
#include <string.h>

#include "smtp/smtp_int.h"

void
smtp_data_init(struct smtp_data *d)
{
	memset(d, 0, sizeof *d);
	d->state = SMTP_DATA_BOL;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len, char *out,
    size_t *outlen)
{
	size_t i = 0, o = 0;

	while (i < len && d->state != SMTP_DATA_END) {
		unsigned char c = (unsigned char)in[i];

		switch (d->state) {
		case SMTP_DATA_TEXT: {
			/* The common case: copy up to a CR, LF or NUL. */
			size_t j = i;

			while (j < len && in[j] != '\r' && in[j] != '\n' &&
			    in[j] != '\0')
				j++;
			memcpy(out + o, in + i, j - i);
			o += j - i;
			i = j;
			if (i == len)
				continue;
			c = (unsigned char)in[i];
			if (c == '\r')
				d->state = SMTP_DATA_CR;
			else
				d->bad = true; /* bare LF or NUL */
			i++;
			continue;
		}
		case SMTP_DATA_BOL:
			if (c == '.') {
				d->state = SMTP_DATA_DOT;
				i++;
				continue;
			}
			d->state = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_DOT:
			if (c == '\r') {
				d->state = SMTP_DATA_DOTCR;
				i++;
				continue;
			}
			/* A stuffed dot: drop it, the rest is text. */
			d->state = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_DOTCR:
			i++;
			if (c == '\n') {
				d->state = SMTP_DATA_END;
				continue;
			}
			/* "." then a bare CR: bad, and no end of data. */
			d->bad = true;
			d->state = c == '\r' ? SMTP_DATA_CR : SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_CR:
			i++;
			if (c == '\n') {
				out[o++] = '\r';
				out[o++] = '\n';
				d->state = SMTP_DATA_BOL;
				continue;
			}
			/* A bare CR. The byte after it is plain text, unless
			 * it is another CR that may start a real line end. */
			d->bad = true;
			d->state = c == '\r' ? SMTP_DATA_CR : SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_END:
			break;
		}
	}
	d->size += o;
	*outlen = o;
	return i;
}

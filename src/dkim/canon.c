/*
 * Canonicalisation (RFC 6376 3.4): header fields one at a time, the body as
 * a stream. The body side keeps no bytes back: only counts of empty lines
 * and a flag for pending whitespace, because trailing empty lines and
 * trailing whitespace can only be told from inner ones by what follows.
 */
#include "dkim/dkim_int.h"

#include <stdint.h>
#include <string.h>

#include "base/ascii.h"

/* Bytes of a header value that relaxed canonicalisation may change. */
static const unsigned char header_stop[256] = {
	[' '] = 1, ['\t'] = 1, ['\r'] = 1,
};

size_t
dkim_canon_header(enum dkim_canon c, const char *p, size_t len, char *out)
{
	const char *colon;
	size_t i, n = 0, name;
	bool sp = false, started = false;

	if (c == DKIM_C_SIMPLE) {
		memcpy(out, p, len);
		return len;
	}
	/* Relaxed 3.4.2: lower-case name, no WSP around the colon. */
	colon = memchr(p, ':', len);
	name = colon ? (size_t)(colon - p) : len;
	while (name && ascii_is_wsp((unsigned char)p[name - 1]))
		name--;
	for (i = 0; i < name; i++) {
		unsigned char ch = (unsigned char)p[i];

		out[n++] = (char)ascii_lower(ch);
	}
	if (colon) {
		out[n++] = ':';
		i = (size_t)(colon - p) + 1;
	} else {
		i = len;
	}
	/* Unfold (drop every CRLF), squeeze WSP runs, trim both ends. Words
	 * are copied in a tight loop; only the bytes between them branch. */
	while (i < len) {
		unsigned char ch = (unsigned char)p[i];

		if (header_stop[ch]) {
			if (ch == '\r' && i + 1 < len && p[i + 1] == '\n') {
				i += 2;
				continue;
			}
			if (ch != '\r') {
				sp = true;
				i++;
				continue;
			}
		}
		/* Content: a word, or a CR that does not start a CRLF. */
		if (sp && started)
			out[n++] = ' ';
		sp = false;
		started = true;
		out[n++] = (char)ch;
		for (i++; i < len && !header_stop[(unsigned char)p[i]]; i++)
			out[n++] = p[i];
	}
	out[n++] = '\r';
	out[n++] = '\n';
	return n;
}

/* Enough CRLFs to write deferred empty lines in a few calls. */
static const char crlfs[] =
    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

void
dkim_body_init(struct dkim_bodycanon *b, enum dkim_canon c,
    dkim_emit_fn *emit, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->c = c;
	b->emit = emit;
	b->arg = arg;
	b->bol = true;
}

/* Writes content of the current line, first making pending lines and
 * whitespace real: content proves they were not trailing. */
static void
body_content(struct dkim_bodycanon *b, const char *p, size_t len)
{
	if (b->bol) {
		while (b->empty) {
			size_t k = b->empty < sizeof(crlfs) / 2 ?
			    (size_t)b->empty : sizeof(crlfs) / 2;

			b->emit(b->arg, crlfs, 2 * k);
			b->empty -= k;
		}
		b->bol = false;
	}
	if (b->wsp) {
		b->emit(b->arg, " ", 1);
		b->wsp = false;
	}
	b->any = true;
	b->emit(b->arg, p, len);
}

static void
body_eol(struct dkim_bodycanon *b)
{
	if (b->bol)
		b->empty++;
	else
		b->emit(b->arg, "\r\n", 2);
	b->bol = true;
	/* Relaxed 3.4.4: whitespace at the end of a line is ignored. */
	b->wsp = false;
}

/*
 * Most of a body comes out of canonicalisation as it went in: words with
 * single spaces, lines ending in CRLF and followed by more text. Such
 * stretches go to emit as one run, across line ends, so the work per byte
 * is a scan and the work per call is amortised over whole paragraphs.
 * A run stops before a byte that needs a decision: for relaxed, a TAB, a
 * SP followed by WSP or CR, a CR not ending a line that text follows; for
 * simple, that CR only.
 */

/* Bytes that need a look in relaxed mode. */
static const unsigned char relaxed_stop[256] = {
	[' '] = 1, ['\t'] = 1, ['\r'] = 1,
};

/*
 * Line ends at p[j] that text follows: CRLF, any number of empty lines,
 * then a byte that starts content (stop[] says which bytes do not). They
 * are inner line ends and go into the run as they are. Returns the offset
 * after them, or 0 when they are not known to be inner (yet).
 */
static size_t
inner_eols(const char *p, size_t j, size_t len, const unsigned char *stop)
{
	if (len - j < 3 || p[j] != '\r' || p[j + 1] != '\n')
		return 0;
	j += 2;
	while (len - j >= 2 && p[j] == '\r' && p[j + 1] == '\n')
		j += 2;
	return j < len && !stop[(unsigned char)p[j]] ? j + 1 : 0;
}

/* Bytes that may not start a line inside a simple run: a CR could begin
 * the CRLF of an empty line at the end of the body. */
static const unsigned char simple_stop[256] = { ['\r'] = 1 };

/*
 * The end of the relaxed content run that starts before j. The scan stops
 * at each byte that may need a decision; the byte loop decides that one
 * and hands back to the scan, or finishes the last bytes, which the scan
 * cannot look past.
 */
static size_t
relaxed_run(const char *p, size_t j, size_t len)
{
	while (j < len) {
		size_t end;

		j = dkim_scan_relaxed(p, j, len);
		end = len - j >= DKIM_SCAN_WIN ? j + 1 : len;
		while (j < end) {
			unsigned char c = (unsigned char)p[j];
			size_t k;

			if (!relaxed_stop[c])
				j++;
			else if (c == ' ' && len - j >= 2 &&
			    !relaxed_stop[(unsigned char)p[j + 1]])
				j += 2;
			else if ((k = inner_eols(p, j, len, relaxed_stop)))
				j = k;
			else
				return j;
		}
	}
	return len;
}

/* The end of the simple content run that starts before j. */
static size_t
simple_run(const char *p, size_t j, size_t len)
{
	while (j < len) {
		size_t end, k;
		const char *q;

		j = dkim_scan_simple(p, j, len);
		end = len - j >= DKIM_SCAN_WIN ? j + 1 : len;
		if ((q = memchr(p + j, '\r', end - j)) == NULL) {
			j = end;
			continue;
		}
		j = (size_t)(q - p);
		if ((k = inner_eols(p, j, len, simple_stop)) == 0)
			return j;
		j = k;
	}
	return len;
}

void
dkim_body_feed(struct dkim_bodycanon *b, const char *p, size_t len)
{
	size_t i = 0, j;

	while (i < len) {
		unsigned char ch = (unsigned char)p[i];

		if (b->cr) {
			b->cr = false;
			if (ch == '\n') {
				body_eol(b);
				i++;
				continue;
			}
			/* A CR without LF is line content. */
			body_content(b, "\r", 1);
		}
		if (ch == '\r') {
			b->cr = true;
			i++;
			continue;
		}
		if (b->c == DKIM_C_SIMPLE) {
			j = simple_run(p, i, len);
		} else {
			if (ascii_is_wsp(ch)) {
				b->wsp = true;
				i++;
				continue;
			}
			j = relaxed_run(p, i + 1, len);
		}
		body_content(b, p + i, j - i);
		i = j;
	}
}

void
dkim_body_finish(struct dkim_bodycanon *b)
{
	if (b->cr) {
		b->cr = false;
		body_content(b, "\r", 1);
	}
	/* A last line without CRLF gets one (3.4.3, 3.4.4). */
	if (!b->bol)
		body_eol(b);
	/* Simple: an empty body is one CRLF; relaxed: the empty string. */
	if (b->c == DKIM_C_SIMPLE && !b->any)
		b->emit(b->arg, "\r\n", 2);
	b->empty = 0;
}

#include "spool/spool_int.h"

#include <string.h>

#include <zlib.h>

#include "base/err.h"

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

int
spool_file_next(const void *p, size_t len, size_t *off,
    enum spool_rec_type *type, struct span *data)
{
	const unsigned char *u = p;
	size_t o = *off;
	uint32_t n;

	if (o >= len)
		return 0;
	if (len - o < SPOOL_REC_HDR)
		return ERR_SYNTAX;
	n = get32(u + o + 1);
	if (len - o - SPOOL_REC_HDR < n)
		return ERR_SYNTAX;
	*type = (enum spool_rec_type)u[o];
	*data = span_make((const char *)u + o + SPOOL_REC_HDR, n);
	*off = o + SPOOL_REC_HDR + n;
	return 1;
}

int
spool_done_index(struct span data, size_t rcpt_count, uint64_t nonce,
    size_t *index)
{
	const unsigned char *u = (const unsigned char *)data.p;
	uint32_t i;

	if (data.len != SPOOL_DONE_LEN)
		return ERR_SYNTAX;
	i = get32(u);
	if (get32(u + 4) != (uint32_t)~i || i >= rcpt_count ||
	    get64(u + 8) != nonce)
		return ERR_SYNTAX;
	*index = i;
	return 0;
}

void
spool_done_put(struct buf *b, size_t i, uint64_t nonce)
{
	unsigned char d[SPOOL_DONE_LEN];

	spool_put32(d, (uint32_t)i);
	spool_put32(d + 4, ~(uint32_t)i);
	spool_put64(d + 8, nonce);
	spool_rec_put(b, SPOOL_REC_DONE, d, sizeof d);
}

size_t
spool_done_walk(const void *p, size_t len,
    const struct spool_file_info *info, bool *done, size_t *count)
{
	enum spool_rec_type type;
	struct span d;
	size_t off = info->end_off, end = off, idx, n = 0;

	while (spool_file_next(p, len, &off, &type, &d) == 1 &&
	    type == SPOOL_REC_DONE &&
	    spool_done_index(d, info->rcpt_count, info->nonce, &idx) == 0) {
		if (done)
			done[idx] = true;
		n++;
		end = off;
	}
	if (count)
		*count = n;
	return end;
}

uint32_t
spool_crc(uint32_t crc, const void *p, size_t len)
{
	return (uint32_t)crc32_z(crc, p, len);
}

/*
 * The envelope records come in a fixed order, so the scan is a small state
 * machine: each record type says which states it may appear in.
 */
enum scan_state {
	SC_ID, SC_IP, SC_HELO, SC_FROM, SC_RCPT, SC_BODY, SC_END
};

int
spool_file_scan(const void *p, size_t len, struct spool_file_info *out)
{
	enum scan_state st = SC_ID;
	enum spool_rec_type type;
	struct span d;
	size_t off = SPOOL_MAGIC_LEN;
	bool have_headers = false;
	int rc;

	memset(out, 0, sizeof *out);
	if (len < SPOOL_MAGIC_LEN ||
	    memcmp(p, SPOOL_MAGIC_QUEUED, SPOOL_MAGIC_LEN))
		return ERR_SYNTAX;
	while (st != SC_END) {
		rc = spool_file_next(p, len, &off, &type, &d);
		if (rc == 0 || rc == ERR_SYNTAX)
			return 0; /* cut short: incomplete, never delivered */
		switch (type) {
		case SPOOL_REC_ID:
			if (st != SC_ID || d.len == 0 ||
			    d.len > SPOOL_ID_MAX)
				return ERR_SYNTAX;
			out->id = d;
			st = SC_IP;
			break;
		case SPOOL_REC_IP:
			if (st != SC_IP || d.len > SPOOL_IP_MAX)
				return ERR_SYNTAX;
			out->client_ip = d;
			st = SC_HELO;
			break;
		case SPOOL_REC_HELO:
			if (st != SC_HELO || d.len > SPOOL_HELO_MAX)
				return ERR_SYNTAX;
			out->helo = d;
			st = SC_FROM;
			break;
		case SPOOL_REC_FROM:
			if (st != SC_FROM || d.len > SPOOL_PATH_MAX)
				return ERR_SYNTAX;
			out->mail_from = d;
			st = SC_RCPT;
			break;
		case SPOOL_REC_RCPT:
			if (st != SC_RCPT || d.len == 0 ||
			    d.len > SPOOL_PATH_MAX)
				return ERR_SYNTAX;
			out->rcpt_count++;
			break;
		case SPOOL_REC_BODY:
			if (st != SC_RCPT && st != SC_BODY)
				return ERR_SYNTAX;
			if (out->rcpt_count == 0 || have_headers)
				return ERR_SYNTAX;
			out->body_chunks++;
			out->body_len += d.len;
			st = SC_BODY;
			break;
		case SPOOL_REC_HEADERS:
			if ((st != SC_RCPT && st != SC_BODY) || have_headers ||
			    out->rcpt_count == 0)
				return ERR_SYNTAX;
			have_headers = true;
			out->headers = d;
			st = SC_BODY;
			break;
		case SPOOL_REC_END: {
			const unsigned char *u = (const unsigned char *)d.p;

			if ((st != SC_RCPT && st != SC_BODY) ||
			    out->rcpt_count == 0 || d.len != SPOOL_END_LEN ||
			    get64(u) != out->body_len ||
			    get32(u + 8) != out->rcpt_count)
				return ERR_SYNTAX;
			out->nonce = get64(u + 12);
			/* Last, so that fuzzing explores the structure. */
			if (spool_crc(0, (const unsigned char *)p +
			    SPOOL_MAGIC_LEN, off - 4 - SPOOL_MAGIC_LEN) !=
			    get32(u + 20)) {
				out->damaged = true; /* never delivered */
				return 0;
			}
			st = SC_END;
			break;
		}
		default:
			return ERR_SYNTAX;
		}
	}
	out->complete = true;
	out->end_off = off;
	return 0;
}

void
spool_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

void
spool_put64(unsigned char *p, uint64_t v)
{
	spool_put32(p, (uint32_t)(v >> 32));
	spool_put32(p + 4, (uint32_t)v);
}

void
spool_rec_header(struct buf *b, enum spool_rec_type type, uint32_t len)
{
	unsigned char h[SPOOL_REC_HDR];

	h[0] = (unsigned char)type;
	spool_put32(h + 1, len);
	buf_add(b, h, sizeof h);
}

void
spool_rec_put(struct buf *b, enum spool_rec_type type, const void *p,
    size_t len)
{
	spool_rec_header(b, type, (uint32_t)len);
	buf_add(b, p, len);
}

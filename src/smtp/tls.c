/*
 * TLS for STARTTLS (RFC 3207): the server context. The per-connection side
 * (the bufferevent_openssl filter) is in session.c.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

#include "conf/conf.h"
#include "smtp/smtp_int.h"

static void
tls_error(char *err, size_t errsz, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof buf);
	snprintf(err, errsz, "%s %s: %s", what, path, e ? buf : "failed");
	ERR_clear_error();
}

struct ssl_ctx_st *
smtp_tls_ctx_new(const char *cert, const char *key, char *err, size_t errsz)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		tls_error(err, errsz, "TLS context", "");
		return NULL;
	}
	/* TLS 1.2 is the floor today (RFC 8996 retired 1.0 and 1.1). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* Sessions are not resumed: SMTP clients rarely do, and a cache
	 * would be per process state to share between loops. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_error(err, errsz, "tls_certificate", cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, errsz, "tls_key", key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errsz, "tls_key does not match", cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
smtp_tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

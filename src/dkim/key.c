/*
 * Public keys: decoding p= into an OpenSSL key (RFC 6376 3.6.1, RFC 8463
 * 4, RFC 8301 3.2) and the signature check itself.
 */
#include "dkim/dkim_int.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdlib.h>

#include "base/mem.h"

/* RFC 8301 3.2: keys under 1024 bits are not valid for verifying. */
#define DKIM_RSA_BITS_MIN 1024
/* RFC 8463 4: an Ed25519 public key is 32 bytes. */
#define DKIM_ED25519_KEY_LEN 32

struct dkim_pubkey {
	unsigned refs;
	EVP_PKEY *pkey;
	EVP_PKEY_CTX *vctx; /* RSA: set up for PKCS#1 v1.5 SHA-256 verify */
	EVP_MD_CTX *vmd;    /* Ed25519: initialised once, copied per check */
	enum dkim_keytype k;
	bool testing, strict;
};

static EVP_PKEY *
decode(const struct dkim_keyrec *kr, enum dkim_status *st, const char **why)
{
	const unsigned char *q = kr->p;
	EVP_PKEY *pk;

	*st = DKIM_PERMERROR;
	if (kr->k == DKIM_K_ED25519) {
		/* RFC 8463 4: p= is the raw key, not SubjectPublicKeyInfo. */
		if (kr->plen != DKIM_ED25519_KEY_LEN) {
			*why = "bad ed25519 key length";
			return NULL;
		}
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
		    kr->p, kr->plen);
		if (pk == NULL)
			*why = "bad ed25519 key";
		return pk;
	}
	/* SubjectPublicKeyInfo, as published in practice, or the bare
	 * RSAPublicKey that RFC 6376 3.6.1 names. */
	pk = d2i_PUBKEY(NULL, &q, (long)kr->plen);
	if (pk == NULL) {
		q = kr->p;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)kr->plen);
	}
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pk);
		*why = "RSA key cannot be decoded";
		return NULL;
	}
	if (EVP_PKEY_get_bits(pk) < DKIM_RSA_BITS_MIN) {
		EVP_PKEY_free(pk);
		*st = DKIM_FAIL;
		*why = "RSA key under 1024 bits (RFC 8301)";
		return NULL;
	}
	return pk;
}

struct dkim_pubkey *
dkim_pubkey_new(const struct dkim_keyrec *kr, enum dkim_status *st,
    const char **why)
{
	struct dkim_pubkey *k;
	EVP_PKEY_CTX *c = NULL;
	EVP_MD_CTX *m = NULL;
	EVP_PKEY *pk;

	if ((pk = decode(kr, st, why)) == NULL)
		return NULL;
	if (kr->k == DKIM_K_RSA) {
		c = EVP_PKEY_CTX_new(pk, NULL);
		if (c == NULL || EVP_PKEY_verify_init(c) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1) {
			EVP_PKEY_CTX_free(c);
			EVP_PKEY_free(pk);
			*st = DKIM_PERMERROR;
			*why = "RSA key not usable";
			return NULL;
		}
	} else {
		/* An init fetches the algorithm again; a copy of an
		 * initialised context does not (3-5 us of a 180 us check). */
		m = EVP_MD_CTX_new();
		if (m == NULL || EVP_DigestVerifyInit(m, NULL, NULL, NULL,
		    pk) != 1) {
			EVP_MD_CTX_free(m);
			EVP_PKEY_free(pk);
			*st = DKIM_PERMERROR;
			*why = "ed25519 key not usable";
			return NULL;
		}
	}
	k = xcalloc(1, sizeof(*k));
	k->refs = 1;
	k->pkey = pk;
	k->vctx = c;
	k->vmd = m;
	k->k = kr->k;
	k->testing = kr->testing;
	k->strict = kr->strict;
	return k;
}

struct dkim_pubkey *
dkim_pubkey_ref(struct dkim_pubkey *k)
{
	k->refs++;
	return k;
}

void
dkim_pubkey_unref(struct dkim_pubkey *k)
{
	if (k == NULL || --k->refs > 0)
		return;
	EVP_PKEY_CTX_free(k->vctx);
	EVP_MD_CTX_free(k->vmd);
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum dkim_keytype
dkim_pubkey_type(const struct dkim_pubkey *k)
{
	return k->k;
}

bool
dkim_pubkey_testing(const struct dkim_pubkey *k)
{
	return k->testing;
}

bool
dkim_pubkey_strict(const struct dkim_pubkey *k)
{
	return k->strict;
}

bool
dkim_pubkey_verify(struct dkim_pubkey *k, const unsigned char *sig,
    size_t siglen, const unsigned char hash[DKIM_SHA256_LEN])
{
	EVP_MD_CTX *m;
	bool ok;

	if (k->k == DKIM_K_RSA)
		return EVP_PKEY_verify(k->vctx, sig, siglen, hash,
		    DKIM_SHA256_LEN) == 1;
	/* RFC 8463 3: pure Ed25519 over the SHA-256 hash. */
	m = EVP_MD_CTX_new();
	ok = EVP_MD_CTX_copy_ex(m, k->vmd) == 1 &&
	    EVP_DigestVerify(m, sig, siglen, hash, DKIM_SHA256_LEN) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

/* SPDX-License-Identifier: MIT */
/*
 * NATS connection options shared by the publisher, the edge relay and the
 * readers (nats-conn.h). NKey public keys follow the NKeys encoding of the
 * NATS project (base32, prefix byte, CRC-16/XMODEM); ed25519 is OpenSSL's.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nats-conn.h"

#define NKEY_SEED_LEN    58 /* base32 characters of a seed: 36 bytes */
#define NKEY_PREFIX_SEED (18 << 3)
#define NKEY_PREFIX_USER (20 << 3)

int cl_nats_conn_opt(int c, const char *arg, struct cl_nats_conn_opts *o)
{
	switch (c) {
	case CL_NATS_O_USER:
		o->user = arg;
		return 1;
	case CL_NATS_O_PASSWORD:
		o->password = arg;
		return 1;
	case CL_NATS_O_TOKEN:
		o->token = arg;
		return 1;
	case CL_NATS_O_CREDS:
		o->creds = arg;
		return 1;
	case CL_NATS_O_NKEY:
		o->nkey_seed = arg;
		return 1;
	case CL_NATS_O_TLS:
		o->tls = true;
		return 1;
	case CL_NATS_O_TLS_CA:
		o->ca = arg;
		return 1;
	case CL_NATS_O_TLS_CERT:
		o->cert = arg;
		return 1;
	case CL_NATS_O_TLS_KEY:
		o->key = arg;
		return 1;
	case CL_NATS_O_TLS_NAME:
		o->tls_name = arg;
		return 1;
	case CL_NATS_O_TLS_INSECURE:
		o->tls_insecure = true;
		return 1;
	}
	return 0;
}

int cl_nats_conn_check(const struct cl_nats_conn_opts *o, const char **why)
{
	if (!!o->cert != !!o->key) {
		*why = "--nats-tls-cert and --nats-tls-key go together";
		return -EINVAL;
	}
	if (o->password && !o->user) {
		*why = "--nats-password needs --nats-user";
		return -EINVAL;
	}
	if (!!o->user + !!o->token + !!o->creds + !!o->nkey_seed > 1) {
		*why = "--nats-user, --nats-token, --nats-creds and --nats-nkey are exclusive";
		return -EINVAL;
	}
	if (o->tls_insecure && (o->ca || o->tls_name)) {
		*why = "--nats-tls-insecure excludes --nats-tls-ca and --nats-tls-name";
		return -EINVAL;
	}
	return 0;
}

static int b32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

static uint16_t crc16_xmodem(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;

	while (n--) {
		crc ^= (uint16_t)(*p++ << 8);
		for (int i = 0; i < 8; i++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

/* Decodes `n` base32 characters into `out` (`cap` bytes); the byte count. */
static int b32_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		int v = b32_value(s[i]);

		if (v < 0)
			return -EINVAL;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			if (len == cap)
				return -EINVAL;
			out[len++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return (int)len;
}

static void b32_encode(const uint8_t *p, size_t n, char *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			*out++ = abc[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		*out++ = abc[(acc << (5 - bits)) & 31];
	*out = 0;
}

int cl_nats_nkey_public(const char *path, char *out, size_t cap)
{
	char line[1024], *seed = NULL;
	uint8_t raw[40], pub[35];
	size_t plen = 32;
	EVP_PKEY *pk;
	uint16_t crc;
	FILE *f;
	int n, r = -ENOENT;

	if (cap < 57)
		return -ENOSPC;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!seed && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");

		if (!strncmp(p, "SU", 2) &&
		    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == NKEY_SEED_LEN)
			seed = p;
	}
	(void)fclose(f);
	if (!seed)
		goto out;
	r = -EINVAL;
	n = b32_decode(seed, NKEY_SEED_LEN, raw, sizeof(raw));
	if (n != 36)
		goto out;
	crc = crc16_xmodem(raw, 34);
	if (raw[34] != (crc & 0xff) || raw[35] != crc >> 8 || (raw[0] & 0xf8) != NKEY_PREFIX_SEED ||
	    (((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3)) != NKEY_PREFIX_USER)
		goto out;
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 2, 32);
	if (!pk)
		goto out;
	pub[0] = NKEY_PREFIX_USER;
	if (EVP_PKEY_get_raw_public_key(pk, pub + 1, &plen) == 1 && plen == 32) {
		crc = crc16_xmodem(pub, 33);
		pub[33] = (uint8_t)(crc & 0xff);
		pub[34] = (uint8_t)(crc >> 8);
		b32_encode(pub, sizeof(pub), out);
		r = 0;
	}
	EVP_PKEY_free(pk);
out:
	/* The seed is a secret: do not leave it on the stack. */
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

const char *cl_nats_url_redact(const char *urls, char *out, size_t cap)
{
	size_t n = 0;

	if (!cap)
		return out;
	out[0] = 0;
	for (const char *p = urls; *p && n + 1 < cap;) {
		size_t len = strcspn(p, ",");
		const char *host = p, *scheme = strstr(p, "://"), *at;
		int w;

		if (scheme && scheme < p + len)
			host = scheme + 3;
		/* user information ends before the path (an '@' may follow) */
		at = memchr(host, '@',
			    strcspn(host, "/") < (size_t)(p + len - host)
				    ? strcspn(host, "/")
				    : (size_t)(p + len - host));
		/* the scheme, then what follows the user information */
		w = snprintf(out + n, cap - n, "%s%.*s%.*s", n ? "," : "", (int)(host - p), p,
			     (int)(p + len - (at ? at + 1 : host)), at ? at + 1 : host);
		if (w < 0 || (size_t)w >= cap - n) {
			out[n] = 0; /* whole URLs only */
			break;
		}
		n += (size_t)w;
		p += len + (p[len] == ',');
	}
	return out;
}

natsStatus cl_nats_conn_apply(natsOptions *opts, const struct cl_nats_conn_opts *o)
{
	natsStatus s = NATS_OK;
	const char *what = NULL, *file = NULL;

	if (!o)
		return NATS_OK;
	if (o->user) {
		const char *pw = o->password ? o->password : getenv("CTFLIVE_NATS_PASSWORD");

		s = natsOptions_SetUserInfo(opts, o->user, pw ? pw : "");
	} else if (o->token || getenv("CTFLIVE_NATS_TOKEN")) {
		s = natsOptions_SetToken(opts, o->token ? o->token : getenv("CTFLIVE_NATS_TOKEN"));
	}
	if (s == NATS_OK && o->creds) {
		what = "credentials file";
		file = o->creds;
		s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds, NULL);
	}
	if (s == NATS_OK && o->nkey_seed) {
		char pub[64];
		int r = cl_nats_nkey_public(o->nkey_seed, pub, sizeof(pub));

		what = "NKey seed file";
		file = o->nkey_seed;
		if (r < 0) {
			log_error("NATS: %s '%s': %s", what, file,
				  r == -ENOENT   ? "no user NKey seed (SU...) in it"
				  : r == -EINVAL ? "malformed user NKey seed"
						 : strerror(-r));
			return NATS_INVALID_ARG;
		}
		s = natsOptions_SetNKeyFromSeed(opts, pub, o->nkey_seed);
	}
	if (s == NATS_OK && (o->tls || o->ca || o->cert || o->tls_name || o->tls_insecure))
		s = natsOptions_SetSecure(opts, true);
	if (s == NATS_OK && o->ca) {
		what = "CA certificates";
		file = o->ca;
		s = natsOptions_LoadCATrustedCertificates(opts, o->ca);
	}
	if (s == NATS_OK && o->cert) {
		what = "client certificate or key";
		file = o->cert;
		s = natsOptions_LoadCertificatesChain(opts, o->cert, o->key);
	}
	if (s == NATS_OK && o->tls_name)
		s = natsOptions_SetExpectedHostname(opts, o->tls_name);
	if (s == NATS_OK && o->tls_insecure)
		s = natsOptions_SkipServerVerification(opts, true);
	if (s != NATS_OK)
		log_error("NATS: %s%s%s%s: %s", what ? what : "connection options",
			  file ? " '" : "", file ? file : "", file ? "'" : "",
			  cl_nats_conn_error(NULL, s));
	return s;
}

const char *cl_nats_conn_error(natsConnection *nc, natsStatus s)
{
	const char *txt = NULL;
	natsStatus ls = NATS_OK;

	if (nc)
		ls = natsConnection_GetLastError(nc, &txt);
	static _Thread_local char buf[512];

	if (!txt || !*txt || ls == NATS_OK) {
		txt = nats_GetLastError(&ls);
		if (!txt || !*txt)
			txt = natsStatus_GetText(s);
	}
	/* A server that wants a client certificate closes the connection
	 * after the TLS handshake: the client library only says the PONG of
	 * its handshake is missing. */
	if (strstr(txt, "Expected 'PONG'")) {
		(void)snprintf(buf, sizeof(buf),
			       "%s: the server closed the connection during the handshake "
			       "(does it require a TLS client certificate? --nats-tls-cert, "
			       "--nats-tls-key)",
			       txt);
		txt = buf;
	}
	return txt;
}

/* SPDX-License-Identifier: MIT */
/*
 * NATS connection options shared by every NATS user of ctflive: the relay's
 * publisher (`ctflive-relayd --publish`), the edge relay (`--from`) and the
 * readers (`ctflive view/ls nats://`). One option table, one parser, one
 * place that turns them into libnats options (doc/nats.md, "Connecting").
 *
 * What the NATS C client (libnats 3.4) offers and operators need:
 * - user and password (also in the URL, nats://USER:PASSWORD@HOST:PORT),
 *   token (also nats://TOKEN@HOST:PORT), a user credentials file (JWT and
 *   NKey seed, decentralized authentication), an NKey seed file (the public
 *   key is derived from the seed, ed25519 as the NKeys encoding says);
 * - TLS: trusted CA certificates, client certificate chain and key (mutual
 *   TLS), the name expected in the server's certificate, skipping the
 *   server's verification (tests only), or TLS with the system's CAs.
 *
 * A command puts CL_NATS_CONN_LONGOPTS in its getopt_long() table and hands
 * every option to cl_nats_conn_opt() first; after parsing it calls
 * cl_nats_conn_check(). The strings are borrowed from argv: they must live
 * as long as the options are used.
 */
#ifndef CL_NATS_CONN_H
#define CL_NATS_CONN_H

#include <stdbool.h>
#include <stddef.h>

struct cl_nats_conn_opts {
	const char *user, *password; /* NULL: none (password: $CTFLIVE_NATS_PASSWORD) */
	const char *token;           /* NULL: none, or $CTFLIVE_NATS_TOKEN */
	const char *creds;           /* user credentials file (JWT + NKey seed) */
	const char *nkey_seed;       /* file holding a user NKey seed ("SU...") */
	const char *ca;              /* TLS: trusted CA certificates (PEM file) */
	const char *cert, *key;      /* TLS: client certificate chain and its key (PEM) */
	const char *tls_name;        /* TLS: host name expected in the server certificate */
	bool tls;                    /* TLS required (implied by ca, cert, tls_name) */
	bool tls_insecure;           /* TLS without verifying the server */
};

/* getopt_long() values of the options (above those of any caller). */
enum {
	CL_NATS_O_USER = 0x4e00,
	CL_NATS_O_PASSWORD,
	CL_NATS_O_TOKEN,
	CL_NATS_O_CREDS,
	CL_NATS_O_NKEY,
	CL_NATS_O_TLS,
	CL_NATS_O_TLS_CA,
	CL_NATS_O_TLS_CERT,
	CL_NATS_O_TLS_KEY,
	CL_NATS_O_TLS_NAME,
	CL_NATS_O_TLS_INSECURE,
};

#define CL_NATS_CONN_LONGOPTS                                                     \
	{ "nats-user", required_argument, NULL, CL_NATS_O_USER },                 \
		{ "nats-password", required_argument, NULL, CL_NATS_O_PASSWORD }, \
		{ "nats-token", required_argument, NULL, CL_NATS_O_TOKEN },       \
		{ "nats-creds", required_argument, NULL, CL_NATS_O_CREDS },       \
		{ "nats-nkey", required_argument, NULL, CL_NATS_O_NKEY },         \
		{ "nats-tls", no_argument, NULL, CL_NATS_O_TLS },                 \
		{ "nats-tls-ca", required_argument, NULL, CL_NATS_O_TLS_CA },     \
		{ "nats-tls-cert", required_argument, NULL, CL_NATS_O_TLS_CERT }, \
		{ "nats-tls-key", required_argument, NULL, CL_NATS_O_TLS_KEY },   \
		{ "nats-tls-name", required_argument, NULL, CL_NATS_O_TLS_NAME }, \
	{                                                                         \
		"nats-tls-insecure", no_argument, NULL, CL_NATS_O_TLS_INSECURE    \
	}

/* Help text of the options (two-space indent, 28-column descriptions). */
#define CL_NATS_CONN_HELP                                                                    \
	"NATS connection (also nats://USER:PASSWORD@HOST:PORT or nats://TOKEN@HOST:PORT):\n" \
	"      --nats-user USER      user name (password: --nats-password or the\n"          \
	"                            CTFLIVE_NATS_PASSWORD environment variable)\n"          \
	"      --nats-password PASS  password of --nats-user\n"                              \
	"      --nats-token TOKEN    authentication token (or CTFLIVE_NATS_TOKEN)\n"         \
	"      --nats-creds FILE     user credentials file (JWT and NKey seed)\n"            \
	"      --nats-nkey FILE      file holding a user NKey seed (SU...)\n"                \
	"      --nats-tls            require TLS (system CA certificates)\n"                 \
	"      --nats-tls-ca FILE    trust the CA certificates in FILE (PEM; implies TLS)\n" \
	"      --nats-tls-cert FILE  client certificate chain (PEM, with --nats-tls-key)\n"  \
	"      --nats-tls-key FILE   its private key (PEM)\n"                                \
	"      --nats-tls-name NAME  name expected in the server's certificate\n"            \
	"      --nats-tls-insecure   do not verify the server's certificate (tests only)\n"

/*
 * Takes option `c` with argument `arg` (getopt's optarg) into `o`.
 * Returns 1 when `c` is one of CL_NATS_CONN_LONGOPTS, 0 when it is not.
 */
int cl_nats_conn_opt(int c, const char *arg, struct cl_nats_conn_opts *o);

/*
 * Checks the combination after parsing: --nats-tls-cert and --nats-tls-key
 * go together; --nats-password needs --nats-user; at most one of user,
 * token, credentials file and NKey seed; skipping verification excludes a
 * CA file and a server name. 0, or -EINVAL with a static reason in *why.
 */
int cl_nats_conn_check(const struct cl_nats_conn_opts *o, const char **why);

/*
 * The public key ("U...", 56 characters and a NUL in `out`, `cap` >= 57)
 * of the first user NKey seed found in file `path` (a seed file, or a
 * credentials file): the seed's ed25519 key pair, encoded as the NKeys
 * format says (base32 without padding of the prefix byte, the 32 key bytes
 * and their CRC-16/XMODEM, little-endian). 0, -errno reading the file,
 * -ENOENT without a seed, -EINVAL for a malformed seed (bad CRC or
 * prefix), -ENOSPC when `cap` is too small.
 */
int cl_nats_nkey_public(const char *path, char *out, size_t cap);

/* The server list of a URL for messages: "nats://HOST:PORT[,...]", without
 * the user information (password, token) of each URL. Copied into `out`
 * (`cap` bytes, cut when longer); returns `out`. */
const char *cl_nats_url_redact(const char *urls, char *out, size_t cap);

#ifdef CTFLIVE_HAVE_NATS
#include <nats/nats.h>
/*
 * Applies `o` (may be NULL: nothing) to libnats options `opts`. Reads the
 * password and token from the environment when the options lack them.
 * Returns NATS_OK, or the failing status with a reason logged (a file that
 * cannot be read, an NKey seed that is not one).
 */
natsStatus cl_nats_conn_apply(natsOptions *opts, const struct cl_nats_conn_opts *o);

/*
 * The reason a connection attempt failed, for messages: the server's error
 * ("Authorization Violation"), the TLS error, or the status text of `s`.
 * The text is the client library's, valid until the next call on this
 * thread.
 */
const char *cl_nats_conn_error(natsConnection *nc, natsStatus s);
#endif

#endif

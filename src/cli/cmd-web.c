/* SPDX-License-Identifier: MIT */
/*
 * ctflive web [--listen URL] [--token-file F] net://RELAYHOST[:PORT]:
 * serves a page that shows the relay's sessions and, for a chosen session,
 * its events, counts and rates as they arrive (web.h describes the parts).
 *
 * The listener is http://localhost:8080 unless --listen says otherwise.
 * "Localhost" is the names localhost, 127.0.0.1 and ::1 only (not the rest
 * of 127.0.0.0/8): any other address needs --token-file. Runs until SIGINT
 * or SIGTERM; exits 0 then, 1 when it cannot listen, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "log.h"
#include "macro.h"
#include "web.h"

#define MAX_LISTEN    4
#define TOKEN_MIN_LEN 16
#define TOKEN_MAX_LEN 256

static void usage(FILE *f)
{
	fputs("usage: ctflive web [OPTIONS] net://RELAYHOST[:PORT]\n"
	      "\n"
	      "Serve a page that shows the relay's live sessions and, for the session\n"
	      "chosen on it, the events as they arrive, their counts per event name and\n"
	      "per stream, and the events lost or discarded.\n"
	      "\n"
	      "  --listen URL       where to serve the page: http://HOST[:PORT]\n"
	      "                     (default http://localhost:8080; port 0 picks one)\n"
	      "  --token-file F     require the token in file F on every request\n"
	      "                     (needed unless HOST is localhost, 127.0.0.1 or ::1)\n"
	      "  --max-rows N       event rows per second sent to the page per session\n"
	      "                     (default 200; the others are counted, not shown)\n"
	      "  --timeout MS       give up when the relay does not answer within MS ms\n"
	      "                     (30000)\n"
	      "  -h, --help         show this help\n",
	      f);
}

struct listen_url {
	char host[256];
	char port[8];
};

/* http://HOST[:PORT][/], HOST a name, an IPv4 address or [IPv6]. */
static int parse_listen(const char *s, struct listen_url *ret)
{
	const char *h, *end, *p;
	size_t n;
	long port = 8080;

	if (strncmp(s, "http://", 7))
		return -EINVAL;
	h = s + 7;
	if (*h == '[') {
		end = strchr(h, ']');
		if (!end)
			return -EINVAL;
		n = (size_t)(end - h - 1);
		h++;
		p = end + 1;
	} else {
		n = strcspn(h, ":/");
		p = h + n;
	}
	if (n == 0 || n >= sizeof(ret->host))
		return -EINVAL;
	memcpy(ret->host, h, n);
	ret->host[n] = '\0';
	if (*p == ':') {
		char *e;

		errno = 0;
		port = strtol(p + 1, &e, 10);
		if (errno || e == p + 1 || port < 0 || port > 65535)
			return -EINVAL;
		p = e;
	}
	if (*p == '/')
		p++;
	if (*p)
		return -EINVAL;
	snprintf(ret->port, sizeof(ret->port), "%ld", port);
	return 0;
}

static bool is_localhost(const char *host)
{
	return !strcasecmp(host, "localhost") || !strcmp(host, "127.0.0.1") || !strcmp(host, "::1");
}

/* Reads the token: one line of 16 to 256 characters from [A-Za-z0-9._~+/=-]
 * (safe in a header and a cookie), a final newline allowed. */
static int read_token(const char *path, char **ret)
{
	char buf[TOKEN_MAX_LEN + 3];
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return log_error_errno(-errno, "cannot open token file '%s'", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return log_error_errno(-errno, "cannot read token file '%s'", path);
	len = (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len < TOKEN_MIN_LEN || len > TOKEN_MAX_LEN) {
		log_error("token file '%s': the token must have %d to %d characters", path,
			  TOKEN_MIN_LEN, TOKEN_MAX_LEN);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-",
			    buf[i]) ||
		    !buf[i]) {
			log_error("token file '%s': the token may only use letters, digits and "
				  "._~+/=-",
				  path);
			return -EINVAL;
		}
	}
	buf[len] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* Listening sockets for every address of the host (one port for all). */
static int open_listeners(const struct listen_url *lu, int *fds, size_t *nfds, int *ret_port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];
	int r, one = 1, err = 0;

	snprintf(port, sizeof(port), "%s", lu->port);
	r = getaddrinfo(lu->host, port, &hints, &res);
	if (r) {
		log_error("cannot resolve '%s': %s", lu->host, gai_strerror(r));
		return -EINVAL;
	}
	*nfds = 0;
	*ret_port = -1;
	for (struct addrinfo *a = res; a && *nfds < MAX_LISTEN; a = a->ai_next) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd;

		if (*ret_port >= 0) {
			/* the port the first socket got (port 0) */
			if (a->ai_family == AF_INET)
				((struct sockaddr_in *)(void *)a->ai_addr)->sin_port =
					htons((uint16_t)*ret_port);
			else if (a->ai_family == AF_INET6)
				((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_port =
					htons((uint16_t)*ret_port);
		}
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (a->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
			err = -errno;
			close(fd);
			continue;
		}
		if (*ret_port < 0)
			*ret_port = ntohs(ss.ss_family == AF_INET
						  ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
		fds[(*nfds)++] = fd;
	}
	freeaddrinfo(res);
	if (!*nfds) {
		log_error_errno(err ? err : -EADDRNOTAVAIL, "cannot listen on %s port %s", lu->host,
				lu->port);
		return err ? err : -EADDRNOTAVAIL;
	}
	return 0;
}

int cl_cmd_web(int argc, char **argv)
{
	enum { OPT_LISTEN = 256, OPT_TOKEN, OPT_ROWS, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "token-file", required_argument, NULL, OPT_TOKEN },
		{ "max-rows", required_argument, NULL, OPT_ROWS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ 0 },
	};
	const char *listen_arg = "http://localhost:8080", *token_file = NULL, *why = NULL;
	char redacted[1024];
	struct MHD_Daemon *daemons[MAX_LISTEN] = { 0 };
	struct web_ctx ctx = { .max_rows = WEB_ROWS_DEFAULT };
	int fds[MAX_LISTEN], opt, r, port, sig, rc = 1;
	struct listen_url lu;
	char *token = NULL;
	size_t nfds = 0;
	sigset_t set;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_LISTEN:
			listen_arg = optarg;
			break;
		case OPT_TOKEN:
			token_file = optarg;
			break;
		case OPT_ROWS: {
			char *e;
			long v;

			errno = 0;
			v = strtol(optarg, &e, 10);
			if (errno || e == optarg || *e || v < 1 || v > 100000) {
				log_error("invalid row rate '%s' (1 to 100000)", optarg);
				return 2;
			}
			ctx.max_rows = (unsigned)v;
			break;
		}
		case OPT_TIMEOUT:
			if (cl_cli_parse_ms(optarg, &ctx.timeout_ms) < 0) {
				log_error("invalid timeout '%s'", optarg);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	r = ctflive_live_url_parse(argv[optind], &ctx.relay, &why);
	if (r < 0) {
		log_error("invalid URL '%s': %s",
			  cl_cli_url_redact(argv[optind], redacted, sizeof(redacted)), why);
		return 2;
	}
	if (ctx.relay.has_session) {
		log_error("invalid URL '%s': expecting net://RELAYHOST[:PORT] without a session",
			  argv[optind]);
		return 2;
	}
	snprintf(ctx.relay_text, sizeof(ctx.relay_text), "%s", argv[optind]);
	if (parse_listen(listen_arg, &lu) < 0) {
		log_error("invalid listen URL '%s': expecting http://HOST[:PORT]", listen_arg);
		return 2;
	}
	if (token_file) {
		if (read_token(token_file, &token) < 0)
			return 2;
		ctx.token = token;
		ctx.token_len = strlen(token);
	} else if (!is_localhost(lu.host)) {
		log_error("listening on '%s' needs --token-file (only localhost, 127.0.0.1 and "
			  "::1 are served without a token)",
			  lu.host);
		return 2;
	}
	ctx.check_host = !token;

	/* signals are taken by sigwait() below; every thread inherits the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&ctx.lock, NULL);
	pthread_cond_init(&ctx.cond, NULL);

	if (open_listeners(&lu, fds, &nfds, &port) < 0)
		goto out;
	r = web_lister_start(&ctx);
	if (r < 0) {
		log_error_errno(r, "cannot start a thread");
		goto out;
	}
	for (size_t i = 0; i < nfds; i++) {
		daemons[i] = web_http_start(&ctx, fds[i]);
		if (!daemons[i]) {
			log_error("cannot start the HTTP server");
			goto out;
		}
		fds[i] = -1; /* the daemon's now */
	}
	if (strchr(lu.host, ':'))
		printf("ctflive web: serving http://[%s]:%d/ for %s\n", lu.host, port,
		       ctx.relay_text);
	else
		printf("ctflive web: serving http://%s:%d/ for %s\n", lu.host, port,
		       ctx.relay_text);
	fflush(stdout);
	do {
		r = sigwait(&set, &sig);
	} while (r == EINTR);
	log_info("stopping on signal %d", sig);
	rc = 0;
out:
	web_ctx_signal_stop(&ctx);
	for (size_t i = 0; i < MAX_LISTEN; i++)
		if (daemons[i])
			MHD_stop_daemon(daemons[i]);
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	web_ctx_stop_threads(&ctx);
	free(ctx.sessions);
	free(token);
	pthread_mutex_destroy(&ctx.lock);
	pthread_cond_destroy(&ctx.cond);
	return rc;
}

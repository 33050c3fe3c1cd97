/* SPDX-License-Identifier: MIT */
/*
 * ctflive-relayd: command line, listening sockets and the main loop.
 *
 * Options mirror lttng-relayd's where they exist (-o, -C, -D, -L, -d, -b, -v,
 * -x, -P, -g, -p, -s, --dynamic-port-allocation); --port-file lets tests bind
 * port 0 and learn the ports chosen. Readiness and stopping are reported to
 * systemd (sd_notify(3)) when NOTIFY_SOCKET is set.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef CTFLIVE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "fsutil.h"
#include "io.h"
#include "live.h"
#include "log.h"
#include "marker.h"
#ifdef CTFLIVE_HAVE_NATS
#include "nats-conn.h"
#endif
#include "nats-edge.h"
#include "nats-pub.h"
#include "prep.h"
#include "publish.h"
#include "relay.h"

#define DEFAULT_CONTROL_URL "tcp://0.0.0.0:5342"
#define DEFAULT_DATA_URL    "tcp://0.0.0.0:5343"
#define DEFAULT_LIVE_URL    "tcp://localhost:5344"

enum listener_kind { LISTEN_CONTROL, LISTEN_DATA, LISTEN_LIVE };

struct listener {
	struct cl_watch watch;
	struct relay *relay;
	enum listener_kind kind;
	uint16_t port;
	bool paused;     /* out of descriptors: not accepting until the next tick */
	unsigned pauses; /* to rate-limit the warning */
};

static struct listener *listeners; /* the three of main(), for the tick */

/*
 * Kept open (on /dev/null) for one purpose: out of descriptors, it is
 * closed to accept a pending connection and close it at once, so that the
 * peer learns it was refused instead of waiting in the listen backlog.
 */
static int reserve_fd = -1;

static bool out_of_fds(int r)
{
	return r == -EMFILE || r == -ENFILE;
}

/* Out of descriptors: accepts one pending connection of `l` and closes it. */
static void refuse_one(struct listener *l)
{
	static uint64_t refused, last_log_s;
	struct timespec now;
	int fd;

	if (reserve_fd < 0)
		return;
	close(reserve_fd);
	fd = accept4(l->watch.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		refused++;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)now.tv_sec != last_log_s) {
			last_log_s = (uint64_t)now.tv_sec;
			log_warning("out of file descriptors: a connection on port %u was closed "
				    "at once (%llu so far; no idle stream left to close; raise "
				    "'ulimit -Hn')",
				    l->port, (unsigned long long)refused);
		}
	}
	reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* A listening URL, checked by parse_url() and resolved by bind_listener(). */
struct listen_url {
	int family;
	char host[256];
	char port[8];
};

struct options {
	const char *output;
	const char *urls[3];
	struct listen_url listen[3]; /* urls[], parsed */
	const char *port_file;
	const char *pid_file;
	const char *group; /* -g: group of the run directory (root only) */
	const char *sync_policy;
	bool dynamic_ports;
	bool by_session;  /* --group-output-by-session */
	unsigned by_seen; /* 1: --group-output-by-host given, 2: by-session */
	bool daemonize;
	bool background;
	int verbose;
	unsigned max_minor;
	uint64_t max_packet; /* --max-packet-size, bytes */
	bool disallow_clear;
	struct sock_allow allow[3]; /* --allow-from: control, data, live */
	struct nats_pub_opts nats;  /* --publish and its options (nats.urls NULL: none) */
	bool nats_opt_seen;         /* a --publish-* or --retain-* option was given */
	struct nats_edge_opts edge; /* --from and its options (edge.urls NULL: none) */
	bool edge_opt_seen;         /* a --from-* option was given */
	bool conn_opt_seen;         /* a --nats-* option was given */
#ifdef CTFLIVE_HAVE_NATS
	struct cl_nats_conn_opts conn; /* --nats-*: of --publish and --from */
#endif
};

static void usage(FILE *f)
{
	(void)fprintf(
		f,
		"Usage: ctflive-relayd [OPTION]...\n"
		"Receive LTTng traces from session daemons and serve them to live viewers.\n"
		"\n"
		"  -o, --output DIR          write traces under DIR (default: $HOME/lttng-traces)\n"
		"  -C, --control-port URL    control port URL (default: %s)\n"
		"  -D, --data-port URL       data port URL (default: %s)\n"
		"  -L, --live-port URL       live viewer port URL (default: %s)\n"
		"                            URL: tcp://ADDR:PORT or tcp6://[ADDR]:PORT; PORT may be 0\n"
		"      --dynamic-port-allocation\n"
		"                            the system picks the ports not given (or without a\n"
		"                            port number); each is written to RUNDIR/relayd/\n"
		"                            control.port, data.port, live.port (RUNDIR:\n"
		"                            $LTTNG_RUNDIR, else /var/run/lttng for root, else\n"
		"                            $LTTNG_HOME/.lttng or $HOME/.lttng); removed at exit\n"
		"      --port-file PATH      once listening, write 'control P', 'data P', 'live P'\n"
		"                            lines to PATH (atomically); removed at exit\n"
		"  -P, --pid-file PATH       write the daemon's PID to PATH; removed at exit\n"
		"  -g, --group GROUP         group of RUNDIR and RUNDIR/relayd when root\n"
		"                            (default: 'tracing' if it exists, else root)\n"
		"  -p, --group-output-by-host\n"
		"                            session directories OUTPUT/HOST/SESSION-DATETIME\n"
		"                            (the default)\n"
		"  -s, --group-output-by-session\n"
		"                            session directories OUTPUT/SESSION/HOST-DATETIME\n"
		"      --sync POLICY         when viewers may read a packet: 'data' (default:\n"
		"                            after data and index are synced to disk) or 'none'\n"
		"                            (as soon as written, like lttng-relayd; the default\n"
		"                            of an edge relay, --from)\n"
		"      --protocol-minor N    announce relayd and live protocol 2.N (4..15, default\n"
		"                            15; below 15: CTF 1.8 sessions only)\n"
		"  -x, --disallow-clear      refuse 'lttng clear' (GET_CONFIGURATION flag)\n"
		"      --max-packet-size BYTES\n"
		"                            close a data connection that announces a packet\n"
		"                            whose data + padding exceeds BYTES (default\n"
		"                            67108864, at most 4294967296): LTTng sends one\n"
		"                            sub-buffer per packet, raise it for larger\n"
		"                            --subbuf-size\n"
		"      --allow-from [PORT:]CIDR[,CIDR]...\n"
		"                            accept connections only from these networks on\n"
		"                            PORT (control, data or live; default: all three);\n"
		"                            repeatable\n"
		"      --publish URLS        also publish every durable packet, the metadata and\n"
		"                            the sessions' life cycle to NATS JetStream at URLS\n"
		"                            (nats://HOST:PORT[,nats://HOST:PORT...]), one\n"
		"                            JetStream stream per session (doc/nats.md)\n"
		"                            (authentication, TLS: the NATS connection options\n"
		"                            below; --publish-creds, --publish-tls-ca,\n"
		"                            --publish-tls-cert, --publish-tls-key: older names\n"
		"                            of --nats-creds, --nats-tls-ca, --nats-tls-cert,\n"
		"                            --nats-tls-key)\n"
		"      --publish-id ID       this relay's id in subjects (default: HOSTNAME-TIME)\n"
		"      --publish-replicas N  replicas of each JetStream stream (1..5, default 1)\n"
		"      --publish-queue BYTES at most BYTES waiting to be published (default\n"
		"                            67108864); beyond, messages are dropped and counted\n"
		"      --retain-age SECONDS  JetStream keeps a session's packets at most SECONDS\n"
		"      --retain-bytes BYTES  JetStream keeps at most BYTES of packets per session\n"
		"                            (oldest go first; metadata is kept whole)\n",
		DEFAULT_CONTROL_URL, DEFAULT_DATA_URL, DEFAULT_LIVE_URL);
	(void)fputs(
		"      --from URLS           edge relay: serve every live session that relays\n"
		"                            publish to NATS JetStream at URLS\n"
		"                            (nats://HOST:PORT[,HOST:PORT...]) to live viewers\n"
		"                            (doc/nats.md); not with --publish\n"
		"      --from-cache BYTES    keep at most BYTES of each stream's newest packets\n"
		"                            (default 67108864, at least 65536)\n"
		"      --from-hosts PATTERN  serve only the sessions of hosts whose name matches\n"
		"                            PATTERN (fnmatch(3), e.g. 'web-[0-4]*'): edges that\n"
		"                            share the fleet\n"
		"      --from-idle-timeout MS\n"
		"                            end a session as interrupted when nothing of it\n"
		"                            arrived for MS ms (default 60000)\n"
#ifdef CTFLIVE_HAVE_NATS
		CL_NATS_CONN_HELP
#endif
		"  -d, --daemonize           run as a daemon (after the ports are bound)\n"
		"  -b, --background          like -d, but keep the working directory\n"
		"  -v, --verbose             more messages (repeat for more)\n"
		"  -V, --version             show the version and exit\n"
		"  -h, --help                show this help and exit\n"
		"\n"
		"SIGINT, SIGTERM and SIGHUP stop the relay: sessions still being written are\n"
		"marked interrupted.\n",
		f);
}

/*
 * Parses tcp://HOST[:PORT] or tcp6://[HOST][:PORT] (net:// is taken as
 * tcp://); PORT may be 0, and without it `default_port` is used, as
 * lttng-relayd does. Returns 0, or -EINVAL with *why saying what is wrong.
 */
static int parse_url(const char *url, unsigned default_port, struct listen_url *u, const char **why)
{
	const char *p, *port;
	bool bracketed = false;
	unsigned char addr[sizeof(struct in6_addr)];
	size_t hl;
	char *end;
	long v;

	*why = NULL;
	if (!strncmp(url, "tcp://", 6) || !strncmp(url, "net://", 6)) {
		p = url + 6;
		u->family = AF_INET;
	} else if (!strncmp(url, "tcp6://", 7)) {
		p = url + 7;
		u->family = AF_INET6;
	} else {
		*why = "unknown protocol (expecting tcp://ADDR:PORT or tcp6://[ADDR]:PORT)";
		return -EINVAL;
	}
	if (*p == '[') {
		const char *rb = strchr(p, ']');

		u->family = AF_INET6; /* tcp://[::1]:PORT as well as tcp6:// */
		if (!rb) {
			*why = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		if (rb[1] != ':' && rb[1] != '\0') {
			*why = "expecting ':' after ']'";
			return -EINVAL;
		}
		hl = (size_t)(rb - p - 1);
		p++;
		port = rb[1] ? rb + 2 : NULL;
		bracketed = true;
	} else {
		const char *colon = strrchr(p, ':');

		hl = colon ? (size_t)(colon - p) : strlen(p);
		port = colon ? colon + 1 : NULL;
	}
	if (hl == 0) {
		*why = "missing address";
		return -EINVAL;
	}
	if (hl >= sizeof(u->host)) {
		*why = "address too long";
		return -EINVAL;
	}
	memcpy(u->host, p, hl);
	u->host[hl] = '\0';
	/* An address in brackets, or with colons, can only be an IPv6 address. */
	if (u->family == AF_INET6 && (bracketed || strchr(u->host, ':')) &&
	    inet_pton(AF_INET6, u->host, addr) != 1) {
		*why = "bad IPv6 address";
		return -EINVAL;
	}
	if (!port) {
		(void)snprintf(u->port, sizeof(u->port), "%u", default_port);
		return 0;
	}
	if (*port == '\0') {
		*why = "missing port";
		return -EINVAL;
	}
	errno = 0;
	v = strtol(port, &end, 10);
	if (*port < '0' || *port > '9' || errno || *end != '\0' || v < 0 || v > 65535) {
		*why = "invalid port (expecting 0 to 65535)";
		return -EINVAL;
	}
	(void)snprintf(u->port, sizeof(u->port), "%u", (unsigned)v);
	return 0;
}

/* Resolves and binds `u` (given as `url`); logs why it cannot. */
static int bind_listener(const struct listen_url *u, const char *url, int *ret_fd,
			 uint16_t *ret_port)
{
	struct addrinfo hints = { .ai_family = u->family,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1, r;

	r = getaddrinfo(u->host, u->port, &hints, &ai);
	if (r != 0) {
		log_error("cannot resolve '%s' in '%s': %s", u->host, url,
			  r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return r == EAI_MEMORY ? -ENOMEM : -EADDRNOTAVAIL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return log_error_errno(r, "cannot listen on '%s'", url);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		freeaddrinfo(ai);
		close(fd);
		return log_error_errno(r, "cannot listen on '%s'", url);
	}
	freeaddrinfo(ai);
	*ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	*ret_fd = fd;
	return 0;
}

static void listener_cb(struct cl_watch *w, uint32_t events)
{
	struct listener *l = cl_container_of(w, struct listener, watch);
	int r;

	(void)events;
	for (int tries = 0; tries < 2; tries++) {
		if (l->kind == LISTEN_LIVE)
			r = live_accept(l->relay, w->fd);
		else
			r = conn_accept(l->relay, w->fd,
					l->kind == LISTEN_CONTROL ? CONN_CONTROL : CONN_DATA);
		/* Out of descriptors: idle streams' files are closed to make room. */
		if (!out_of_fds(r) || stream_park_idle(l->relay, 16) == 0)
			break;
	}
	if (out_of_fds(r))
		refuse_one(l);
	if (r < 0 && !l->paused) {
		/* Pending connections stay queued: stop polling the listener (it
		 * would wake up at once, forever) and retry at the next tick. */
		if (l->pauses++ % 200 == 0)
			log_warning_errno(r, "cannot accept connections on port %u, pausing",
					  l->port);
		l->paused = true;
		if (cl_loop_mod(l->relay->loop, w, 0) < 0)
			log_warning("cannot pause port %u", l->port);
	}
}

/* Writes `text` to `path` atomically (a temporary file renamed over it);
 * *ret_st identifies the file written. */
static int write_file_atomic(const char *path, const char *text, struct stat *ret_st)
{
	char tmp[PATH_MAX];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = cl_write_full(fd, text, strlen(text));
	if (r == 0 && fstat(fd, ret_st) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

/* Removes a file written at start-up, unless another process replaced it. */
static void remove_written(const char *path, const struct stat *written)
{
	struct stat st;

	if (stat(path, &st) == 0 && st.st_dev == written->st_dev && st.st_ino == written->st_ino &&
	    unlink(path) < 0)
		log_warning_errno(-errno, "cannot remove '%s'", path);
}

/* A file the daemon writes once ready and removes at exit. */
struct run_file {
	char path[PATH_MAX];
	struct stat st;
	bool written;
};

static int run_file_write(struct run_file *f, const char *what, const char *text)
{
	int r = write_file_atomic(f->path, text, &f->st);

	if (r < 0)
		return log_error_errno(r, "cannot write %s '%s'", what, f->path);
	f->written = true;
	return 0;
}

static void run_file_remove(struct run_file *f)
{
	if (f->written)
		remove_written(f->path, &f->st);
	f->written = false;
}

/* `path` made absolute against the current directory (so it still names the
 * same file once daemonized, after chdir("/")). */
static int absolute_path(const char *path, char *out, size_t cap)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return snprintf(out, cap, "%s", path) < (int)cap ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return snprintf(out, cap, "%s/%s", cwd, path) < (int)cap ? 0 : -ENAMETOOLONG;
}

/*
 * The run directory where lttng-relayd 2.16 writes its port files: the
 * LTTNG_RUNDIR environment variable, else /var/run/lttng for root, else
 * LTTNG_HOME (or HOME, or the password entry's home) followed by "/.lttng".
 */
static int rundir_path(char *out, size_t cap)
{
	const char *dir = getenv("LTTNG_RUNDIR"), *home;
	int n;

	if (dir && dir[0])
		n = snprintf(out, cap, "%s", dir);
	else if (getuid() == 0)
		n = snprintf(out, cap, "/var/run/lttng");
	else {
		home = getenv("LTTNG_HOME");
		if (!home || !home[0])
			home = getenv("HOME");
		if (!home || !home[0]) {
			struct passwd *pw = getpwuid(getuid());

			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return -ENOENT;
		n = snprintf(out, cap, "%s/.lttng", home);
	}
	return n >= 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

/*
 * Creates run directory `dir` if needed (mode 0700); as root, as
 * lttng-relayd does, gives it group `gid` and mode 0755.
 */
static int make_rundir(const char *dir, gid_t gid)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "cannot create run directory '%s'", dir);
	if (getuid() != 0)
		return 0;
	if (chown(dir, 0, gid) < 0 || chmod(dir, 0755) < 0)
		return log_error_errno(-errno, "cannot set the owner of run directory '%s'", dir);
	return 0;
}

/*
 * The group of the run directory: -g GROUP (which must exist), else
 * "tracing" if it exists, else root.
 */
static int rundir_group(const char *name, gid_t *ret)
{
	struct group *g = getgrnam(name ? name : "tracing");

	if (g) {
		*ret = g->gr_gid;
		return 0;
	}
	if (name) {
		log_error("unknown group '%s'", name);
		return -ENOENT;
	}
	*ret = 0;
	return 0;
}

/* --dynamic-port-allocation: RUNDIR/relayd/{control,data,live}.port, each
 * holding the decimal port and a newline, as lttng-relayd 2.16 writes them. */
static int write_dynamic_port_files(const struct options *o, const struct listener *ls,
				    struct run_file files[3])
{
	static const char *const names[3] = { "control.port", "data.port", "live.port" };
	char dir[PATH_MAX - 16], sub[PATH_MAX - 16], text[16];
	gid_t gid = 0;
	int r;

	r = rundir_path(dir, sizeof(dir));
	if (r < 0)
		return log_error_errno(r, "cannot find the run directory");
	r = getuid() == 0 ? rundir_group(o->group, &gid) : 0;
	if (r < 0)
		return r;
	if (snprintf(sub, sizeof(sub), "%s/relayd", dir) >= (int)sizeof(sub))
		return log_error_errno(-ENAMETOOLONG, "run directory '%s' too long", dir);
	r = make_rundir(dir, gid);
	if (r == 0)
		r = make_rundir(sub, gid);
	for (int i = 0; r == 0 && i < 3; i++) {
		(void)snprintf(files[i].path, sizeof(files[i].path), "%s/%s", sub, names[i]);
		(void)snprintf(text, sizeof(text), "%u\n", ls[i].port);
		r = run_file_write(&files[i], "port file", text);
	}
	return r;
}

static void signal_cb(struct cl_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;
	struct listener *l = cl_container_of(w, struct listener, watch);

	(void)events;
	if (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		log_info("signal %u received, shutting down", si.ssi_signo);
#ifdef CTFLIVE_HAVE_SYSTEMD
	(void)sd_notify(0, "STOPPING=1");
#endif
	cl_loop_stop(l->relay->loop);
}

static void before_sleep(void *userdata)
{
	struct relay *relay = userdata;

	conn_collect(relay);
	live_collect(relay);
	nats_pub_observe(relay);
	relay_collect(relay);
}

static void tick(void *userdata)
{
	struct relay *relay = userdata;

	relay->collect_streams = true; /* e.g. a data connection left a packet */
	publish_tick(userdata);
	nats_pub_tick(userdata);
	nats_edge_tick(userdata);
	for (int i = 0; listeners && i < 3; i++) {
		struct listener *l = &listeners[i];

		if (l->paused && cl_loop_mod(l->relay->loop, &l->watch, EPOLLIN) == 0) {
			l->paused = false;
			log_debug("accepting connections on port %u again", l->port);
		}
	}
}

#define SHORTOPTS ":o:C:D:L:P:g:psxdbvhV"

/*
 * The option getopt_long() just complained about (returned `c`, '?' or ':'),
 * as the user wrote it. glibc sets optopt to 0 for an unknown or ambiguous
 * long option, to the option's value for a long option with a missing or an
 * unexpected argument, and to the character for a short option; after a long
 * option or the last character of a short one, argv[optind - 1] is that
 * argument. Returns true for a long option.
 */
static bool bad_option(char **argv, int c, char *buf, size_t cap)
{
	const char *arg = argv[optind - 1];
	bool is_long;

	if (c == ':')
		is_long = !strncmp(arg, "--", 2);
	else
		is_long = optopt == 0 || optopt >= 256 ||
			  (optopt != ':' && strchr(SHORTOPTS, optopt));
	if (is_long)
		(void)snprintf(buf, cap, "%.*s", (int)strcspn(arg, "="), arg);
	else
		(void)snprintf(buf, cap, "-%c", optopt);
	return is_long;
}

/* How many long options start with `prefix`. */
static int long_matches(const struct option *opts, const char *prefix)
{
	int n = 0;

	for (; opts->name; opts++)
		n += !strncmp(opts->name, prefix, strlen(prefix));
	return n;
}

/* Usage errors: one line, exit status 2. */
#define usage_error(...) (log_error(__VA_ARGS__), 2)

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_PORT_FILE = 256,
		OPT_SYNC,
		OPT_MINOR,
		OPT_MAX_PACKET,
		OPT_DYNAMIC,
		OPT_PUBLISH,
		OPT_PUB_CREDS,
		OPT_PUB_CA,
		OPT_PUB_CERT,
		OPT_PUB_KEY,
		OPT_PUB_ID,
		OPT_PUB_REPLICAS,
		OPT_PUB_QUEUE,
		OPT_RETAIN_AGE,
		OPT_RETAIN_BYTES,
		OPT_ALLOW_FROM,
		OPT_FROM,
		OPT_FROM_CACHE,
		OPT_FROM_IDLE,
		OPT_FROM_HOSTS,
	};
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "control-port", required_argument, NULL, 'C' },
		{ "data-port", required_argument, NULL, 'D' },
		{ "live-port", required_argument, NULL, 'L' },
		{ "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ "dynamic-port-allocation", no_argument, NULL, OPT_DYNAMIC },
		{ "pid-file", required_argument, NULL, 'P' },
		{ "group", required_argument, NULL, 'g' },
		{ "group-output-by-host", no_argument, NULL, 'p' },
		{ "group-output-by-session", no_argument, NULL, 's' },
		{ "sync", required_argument, NULL, OPT_SYNC },
		{ "protocol-minor", required_argument, NULL, OPT_MINOR },
		{ "disallow-clear", no_argument, NULL, 'x' },
		{ "max-packet-size", required_argument, NULL, OPT_MAX_PACKET },
		{ "allow-from", required_argument, NULL, OPT_ALLOW_FROM },
		{ "publish", required_argument, NULL, OPT_PUBLISH },
		{ "publish-creds", required_argument, NULL, OPT_PUB_CREDS },
		{ "publish-tls-ca", required_argument, NULL, OPT_PUB_CA },
		{ "publish-tls-cert", required_argument, NULL, OPT_PUB_CERT },
		{ "publish-tls-key", required_argument, NULL, OPT_PUB_KEY },
		{ "publish-id", required_argument, NULL, OPT_PUB_ID },
		{ "publish-replicas", required_argument, NULL, OPT_PUB_REPLICAS },
		{ "publish-queue", required_argument, NULL, OPT_PUB_QUEUE },
		{ "retain-age", required_argument, NULL, OPT_RETAIN_AGE },
		{ "retain-bytes", required_argument, NULL, OPT_RETAIN_BYTES },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "from-cache", required_argument, NULL, OPT_FROM_CACHE },
		{ "from-idle-timeout", required_argument, NULL, OPT_FROM_IDLE },
		{ "from-hosts", required_argument, NULL, OPT_FROM_HOSTS },
#ifdef CTFLIVE_HAVE_NATS
		CL_NATS_CONN_LONGOPTS,
#endif
		{ "daemonize", no_argument, NULL, 'd' },
		{ "background", no_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const url_names[3] = { "control port", "data port", "live port" };
	char name[64];
	int c;

	o->max_minor = CL_RELAYD_VERSION_MINOR;
	o->max_packet = RELAY_DEFAULT_MAX_PACKET;
	o->sync_policy = NULL; /* "data", or "none" for an edge (its files are a cache) */
	o->nats.replicas = 1;
	o->nats.queue_bytes = UINT64_C(64) << 20;
	o->edge.cache_bytes = UINT64_C(64) << 20;
	o->edge.idle_ms = 60000;
	opterr = 0; /* getopt's own messages name the program by its path */
	while ((c = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) != -1) {
#ifdef CTFLIVE_HAVE_NATS
		if (cl_nats_conn_opt(c, optarg, &o->conn)) {
			o->conn_opt_seen = true;
			continue;
		}
#endif
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case OPT_DYNAMIC:
			o->dynamic_ports = true;
			break;
		case 'P':
			o->pid_file = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'p':
		case 's':
			o->by_session = c == 's';
			o->by_seen |= c == 's' ? 2 : 1;
			break;
		case 'C':
			o->urls[0] = optarg;
			break;
		case 'D':
			o->urls[1] = optarg;
			break;
		case 'L':
			o->urls[2] = optarg;
			break;
		case OPT_PORT_FILE:
			o->port_file = optarg;
			break;
		case OPT_SYNC:
			o->sync_policy = optarg;
			break;
		case OPT_MINOR: {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (end == optarg || *end || errno || v < 4 || v > CL_RELAYD_VERSION_MINOR)
				return usage_error(
					"invalid --protocol-minor '%s' (expecting 4 to %u)", optarg,
					CL_RELAYD_VERSION_MINOR);
			o->max_minor = (unsigned)v;
			break;
		}
		case 'x':
			o->disallow_clear = true;
			break;
		case OPT_MAX_PACKET: {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (end == optarg || *end || errno || *optarg == '-' || v < 4096 ||
			    v > RELAY_MAX_PACKET_SIZE)
				return usage_error("invalid --max-packet-size '%s' (expecting 4096 "
						   "to %llu)",
						   optarg,
						   (unsigned long long)RELAY_MAX_PACKET_SIZE);
			o->max_packet = v;
			break;
		}
		case OPT_ALLOW_FROM: {
			static const char *const ports[3] = { "control:", "data:", "live:" };
			const char *list = optarg, *why = NULL;
			int only = -1;

			for (int i = 0; i < 3; i++)
				if (!strncmp(list, ports[i], strlen(ports[i]))) {
					only = i;
					list += strlen(ports[i]);
				}
			if (only < 0) {
				/* "WORD:" that cannot start an IPv6 address: a port name */
				size_t w = strspn(list, "abcdefghijklmnopqrstuvwxyz"
							"ABCDEFGHIJKLMNOPQRSTUVWXYZ");

				if (w && list[w] == ':' &&
				    (w > 4 || strspn(list, "abcdefABCDEF") < w))
					return usage_error(
						"invalid --allow-from '%s': unknown port "
						"'%.*s' (expecting control:, data: or "
						"live:)",
						optarg, (int)w, list);
			}
			for (int i = 0; i < 3 && !why; i++)
				if (only < 0 || only == i)
					(void)sock_allow_parse(&o->allow[i], list, &why);
			if (why)
				return usage_error("invalid --allow-from '%s': %s", optarg, why);
			break;
		}
		case OPT_PUBLISH:
			if (strncmp(optarg, "nats://", 7) && strncmp(optarg, "tls://", 6))
				return usage_error("invalid --publish '%s' (expecting "
						   "nats://HOST:PORT[,...])",
						   optarg);
			o->nats.urls = optarg;
			break;
		case OPT_PUB_CREDS:
		case OPT_PUB_CA:
		case OPT_PUB_CERT:
		case OPT_PUB_KEY:
			/* older names of --nats-creds, --nats-tls-ca/-cert/-key */
#ifdef CTFLIVE_HAVE_NATS
			*(c == OPT_PUB_CREDS  ? &o->conn.creds
			  : c == OPT_PUB_CA   ? &o->conn.ca
			  : c == OPT_PUB_CERT ? &o->conn.cert
					      : &o->conn.key) = optarg;
#endif
			o->nats_opt_seen = true;
			break;
		case OPT_PUB_ID:
			o->nats.relay_id = optarg;
			o->nats_opt_seen = true;
			if (!*optarg || strlen(optarg) > 64)
				return usage_error("invalid --publish-id '%s' (1 to 64 bytes)",
						   optarg);
			break;
		case OPT_PUB_REPLICAS:
		case OPT_PUB_QUEUE:
		case OPT_RETAIN_AGE:
		case OPT_RETAIN_BYTES: {
			static const long long max[] = { 5, INT64_MAX, INT64_MAX / 1000000000,
							 INT64_MAX };
			static const char *const names[] = { "--publish-replicas",
							     "--publish-queue", "--retain-age",
							     "--retain-bytes" };
			int k = c - OPT_PUB_REPLICAS;
			char *end;
			long long v;

			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (end == optarg || *end || errno || v < 1 || v > max[k])
				return usage_error("invalid value '%s' for '%s' (expecting 1 to "
						   "%lld)",
						   optarg, names[k], max[k]);
			if (c == OPT_PUB_REPLICAS)
				o->nats.replicas = (int)v;
			else if (c == OPT_PUB_QUEUE)
				o->nats.queue_bytes = (uint64_t)v;
			else if (c == OPT_RETAIN_AGE)
				o->nats.retain_age = v;
			else
				o->nats.retain_bytes = v;
			o->nats_opt_seen = true;
			break;
		}
		case OPT_FROM:
			if (strncmp(optarg, "nats://", 7))
				return usage_error("invalid --from '%s' (expecting "
						   "nats://HOST:PORT[,...])",
						   optarg);
			o->edge.urls = optarg;
			break;
		case OPT_FROM_HOSTS:
			o->edge.hosts = optarg;
			o->edge_opt_seen = true;
			break;
		case OPT_FROM_CACHE:
		case OPT_FROM_IDLE: {
			long long lo = c == OPT_FROM_CACHE ? 65536 : 100;
			long long hi = c == OPT_FROM_CACHE ? INT64_MAX : INT32_MAX;
			char *end;
			long long v;

			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (end == optarg || *end || errno || v < lo || v > hi)
				return usage_error("invalid value '%s' for '%s' (expecting %lld to "
						   "%lld)",
						   optarg,
						   c == OPT_FROM_CACHE ? "--from-cache"
								       : "--from-idle-timeout",
						   lo, hi);
			if (c == OPT_FROM_CACHE)
				o->edge.cache_bytes = (uint64_t)v;
			else
				o->edge.idle_ms = (int)v;
			o->edge_opt_seen = true;
			break;
		}
		case 'd':
			o->daemonize = true;
			break;
		case 'b':
			o->background = true;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ctflive-relayd %s (relayd and live protocol 2.%u)\n",
			       CTFLIVE_VERSION, (unsigned)CL_RELAYD_VERSION_MINOR);
			return 0;
		case ':':
			(void)bad_option(argv, c, name, sizeof(name));
			return usage_error("option '%s' requires an argument (try '--help')", name);
		default:
			if (bad_option(argv, c, name, sizeof(name)) && optopt)
				return usage_error("option '%s' takes no argument (try '--help')",
						   name);
			if (!strncmp(name, "--", 2) && long_matches(longopts, name + 2) > 1)
				return usage_error("option '%s' is ambiguous (try '--help')", name);
			return usage_error("unrecognized option '%s' (try '--help')", name);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s' (try '--help')", argv[optind]);
	if (o->by_seen == 3)
		return usage_error("--group-output-by-host and --group-output-by-session "
				   "are exclusive");
	if (o->group && !getgrnam(o->group))
		return usage_error("unknown group '%s'", o->group);
	if (o->nats_opt_seen && !o->nats.urls)
		return usage_error("--publish-* and --retain-* options need --publish");
	if (o->edge_opt_seen && !o->edge.urls)
		return usage_error("--from-* options need --from");
	if (o->edge.urls && o->nats.urls)
		return usage_error("--from and --publish are exclusive");
	if (o->conn_opt_seen && !o->nats.urls && !o->edge.urls)
		return usage_error("--nats-* options need --publish or --from");
#ifdef CTFLIVE_HAVE_NATS
	{
		const char *why = NULL;

		if (cl_nats_conn_check(&o->conn, &why) < 0)
			return usage_error("%s", why);
		o->nats.conn = &o->conn;
		o->edge.conn = &o->conn;
	}
#else
	if (o->nats.urls || o->edge.urls)
		return usage_error("--publish, --from: this ctflive-relayd was built without "
				   "NATS support (libnats)");
#endif
	if (!o->sync_policy)
		o->sync_policy = o->edge.urls ? "none" : "data";
	if (strcmp(o->sync_policy, "data") && strcmp(o->sync_policy, "none"))
		return usage_error("invalid --sync '%s' (expecting 'data' or 'none')",
				   o->sync_policy);
	for (int i = 0; i < 3; i++) {
		static const char *const default_urls[3] = { DEFAULT_CONTROL_URL, DEFAULT_DATA_URL,
							     DEFAULT_LIVE_URL };
		static const char *const dynamic_urls[3] = { "tcp://0.0.0.0:0", "tcp://0.0.0.0:0",
							     "tcp://localhost:0" };
		static const unsigned default_ports[] = { 5342, 5343, 5344 };
		const char *why;

		/* --dynamic-port-allocation: what is not given is port 0. */
		if (!o->urls[i])
			o->urls[i] = o->dynamic_ports ? dynamic_urls[i] : default_urls[i];
		if (parse_url(o->urls[i], o->dynamic_ports ? 0 : default_ports[i], &o->listen[i],
			      &why) < 0)
			return usage_error("invalid %s URL '%s': %s", url_names[i], o->urls[i],
					   why);
	}
	return -1;
}

/* The output directory when this run created it: removed again, if still
 * empty, when the relay fails to start (a port in use, ...). */
static char created_output[PATH_MAX];

static int open_output(const char *output, int *ret_fd)
{
	char def[PATH_MAX];
	int fd;

	if (!output) {
		const char *home = getenv("HOME");

		if (!home ||
		    snprintf(def, sizeof(def), "%s/lttng-traces", home) >= (int)sizeof(def))
			return -EINVAL;
		output = def;
	}
	if (mkdir(output, CL_DIR_MODE) == 0)
		(void)snprintf(created_output, sizeof(created_output), "%s", output);
	else if (errno != EEXIST)
		return log_error_errno(-errno, "cannot create output directory '%s'", output);
	fd = open(output, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "cannot open output directory '%s'", output);
	if (marker_lock_output(fd, output) < 0) {
		close(fd);
		return -EBUSY;
	}
	log_info("writing traces under '%s'", output);
	*ret_fd = fd;
	return 0;
}

static int daemonize(bool keep_cwd)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	if (!keep_cwd && chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		(void)dup2(fd, 2);
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct relay relay = { .output_fd = -1 };
	struct listener ls[3] = { 0 }, sig = { 0 };
	struct run_file port_file = { 0 }, pid_file = { 0 }, dyn_files[3] = { 0 };
	char text[128];
	sigset_t mask;
	int r, ret = 1;

	cl_log_set_program("ctflive-relayd");
	r = parse_options(argc, argv, &o);
	if (r >= 0)
		return r;
	cl_log_set_level(o.verbose >= 2   ? CL_LOG_DEBUG
			 : o.verbose == 1 ? CL_LOG_INFO
					  : CL_LOG_NOTICE);
	(void)signal(SIGPIPE, SIG_IGN);
	/* Blocked before any thread starts, so only the signalfd sees them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return 1;
	relay.max_active = sock_max_active_streams(sock_raise_fd_limit());
	reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* From here on, every exit goes through `out`, which frees what exists. */
	for (int i = 0; i < 3; i++)
		ls[i].watch.fd = -1;
	sig.watch.fd = -1;
	cl_list_init(&relay.sessions);
	cl_list_init(&relay.streams);
	cl_list_init(&relay.chunks);
	cl_list_init(&relay.active);
	cl_list_init(&relay.pdirs);
	sock_set_init(&relay.conns, RELAY_MAX_CONNECTIONS, "connections");
	cl_list_init(&relay.markers);
	relay.allow_clear = !o.disallow_clear;
	relay.max_minor = o.max_minor;
	relay.max_packet = o.max_packet;
	relay.next_stream_handle = 1;
	relay.sync_publish = strcmp(o.sync_policy, "none") != 0;
	memcpy(relay.allow, o.allow, sizeof(relay.allow));
	relay.group_by_session = o.by_session;

	r = open_output(o.output, &relay.output_fd);
	if (r < 0)
		goto out;
	recover_output(&relay);
	r = cl_loop_new(&relay.loop);
	if (r < 0) {
		log_error_errno(r, "cannot create the event loop");
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		r = bind_listener(&o.listen[i], o.urls[i], &ls[i].watch.fd, &ls[i].port);
		if (r < 0)
			goto out;
		ls[i].watch.cb = listener_cb;
		ls[i].relay = &relay;
		ls[i].kind = (enum listener_kind)i;
		r = cl_loop_add(relay.loop, &ls[i].watch, EPOLLIN);
		if (r < 0) {
			log_error_errno(r, "cannot watch '%s'", o.urls[i]);
			goto out;
		}
		log_info("listening on %s (%s port %u)", o.urls[i],
			 i == 0   ? "control"
			 : i == 1 ? "data"
				  : "live",
			 ls[i].port);
	}
	/* Relative to where we were started, even once daemonized (chdir "/"). */
	if (o.port_file && absolute_path(o.port_file, port_file.path, sizeof(port_file.path)) < 0) {
		log_error("cannot resolve port file path '%s'", o.port_file);
		goto out;
	}
	if (o.pid_file && absolute_path(o.pid_file, pid_file.path, sizeof(pid_file.path)) < 0) {
		log_error("cannot resolve PID file path '%s'", o.pid_file);
		goto out;
	}
	/* Before any thread starts: threads do not survive fork(). */
	if (o.daemonize || o.background) {
		r = daemonize(o.background);
		if (r < 0) {
			log_error_errno(r, "cannot daemonize");
			goto out;
		}
	}
	r = live_init(&relay);
	if (r < 0) {
		log_error_errno(r, "cannot start the live server");
		goto out;
	}
	r = publish_init(&relay);
	if (r < 0) {
		log_error_errno(r, "cannot start the sync worker");
		goto out;
	}
	/* Index files made ahead of need (prep.h); without it, made when needed. */
	r = prep_new(relay.output_fd, &relay.prep);
	if (r < 0)
		log_warning_errno(r, "cannot start the file helper: index files made when needed");
#ifdef CTFLIVE_HAVE_NATS
	if (o.nats.urls && nats_pub_start(&relay, &o.nats) < 0)
		goto out;
	if (o.edge.urls && nats_edge_start(&relay, &o.edge) < 0)
		goto out;
#endif

	sig.watch.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	sig.watch.cb = signal_cb;
	sig.relay = &relay;
	if (sig.watch.fd < 0 || cl_loop_add(relay.loop, &sig.watch, EPOLLIN) < 0) {
		log_error("cannot watch signals");
		goto out;
	}

	if (o.dynamic_ports && write_dynamic_port_files(&o, ls, dyn_files) < 0)
		goto out;
	if (o.pid_file) {
		(void)snprintf(text, sizeof(text), "%ld\n", (long)getpid());
		if (run_file_write(&pid_file, "PID file", text) < 0)
			goto out;
	}
	/* Last: tests take the port file as the sign that every file exists. */
	if (o.port_file) {
		(void)snprintf(text, sizeof(text), "control %u\ndata %u\nlive %u\n", ls[0].port,
			       ls[1].port, ls[2].port);
		if (run_file_write(&port_file, "port file", text) < 0)
			goto out;
	}
	listeners = ls;
	cl_loop_set_before_sleep(relay.loop, before_sleep, &relay);
	r = cl_loop_set_tick(relay.loop, 50, tick, &relay);
	if (r < 0) {
		log_error_errno(r, "cannot start the timer");
		goto out;
	}

#ifdef CTFLIVE_HAVE_SYSTEMD
	/* The ports listen and the port files exist: ready (sd_notify(3)). */
	r = sd_notifyf(
		0,
		"READY=1\nMAINPID=%ld\nSTATUS=listening on ports %u (control), %u (data), %u (live)",
		(long)getpid(), ls[0].port, ls[1].port, ls[2].port);
	if (r < 0)
		log_warning_errno(r, "cannot notify the service manager");
#endif
	created_output[0] = '\0'; /* started: the directory is the run's */
	r = cl_loop_run(relay.loop);
	if (r < 0)
		log_error_errno(r, "event loop failed");
	ret = r < 0 ? 1 : 0;

out:
	listeners = NULL;
	conn_close_all(&relay);
	live_fini(&relay);
	publish_fini(&relay);
	relay_shutdown(&relay);
	prep_free(relay.prep); /* after the streams: none holds a request */
	relay.prep = NULL;
	nats_pub_stop(&relay); /* after the sessions ended: publishes their end */
	nats_edge_stop(&relay);
	run_file_remove(&port_file);
	for (int i = 0; i < 3; i++)
		run_file_remove(&dyn_files[i]);
	run_file_remove(&pid_file);
	for (int i = 0; i < 3; i++) {
		if (ls[i].watch.fd < 0)
			continue;
		if (relay.loop)
			cl_loop_del(relay.loop, &ls[i].watch);
		close(ls[i].watch.fd);
	}
	if (sig.watch.fd >= 0) {
		cl_loop_del(relay.loop, &sig.watch);
		close(sig.watch.fd);
	}
	if (relay.output_fd >= 0)
		close(relay.output_fd);
	if (ret != 0 && created_output[0])
		(void)rmdir(created_output); /* made by a start that failed, if empty */
	stream_table_free(&relay);
	if (reserve_fd >= 0)
		close(reserve_fd);
	cl_loop_free(relay.loop);
	return ret;
}

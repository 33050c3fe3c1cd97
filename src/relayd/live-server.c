/* SPDX-License-Identifier: MIT */
/*
 * Live viewer server. NEEDSWORK: not implemented yet; viewer connections are
 * accepted and closed at once so that viewers fail fast instead of hanging.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "live.h"
#include "log.h"
#include "relay.h"

int live_init(struct relay *relay)
{
	(void)relay;
	return 0;
}

void live_fini(struct relay *relay)
{
	(void)relay;
}

void live_accept(struct relay *relay, int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

	(void)relay;
	if (fd >= 0) {
		log_notice("live viewers are not supported yet, closing the connection");
		close(fd);
	}
}

void live_tick(struct relay *relay)
{
	(void)relay;
}

void live_before_sleep(struct relay *relay)
{
	(void)relay;
}

void live_collect(struct relay *relay)
{
	(void)relay;
}

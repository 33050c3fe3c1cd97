/* SPDX-License-Identifier: MIT */
/*
 * The live viewer server of ctflive-relayd (LTTng live protocol, see
 * live-protocol.md), driven by the relay's loop.
 */
#ifndef CL_RELAYD_LIVE_H
#define CL_RELAYD_LIVE_H

struct relay;

/* Sets up the live server state (relay->live). 0 or -errno. */
int live_init(struct relay *relay);
/* Frees the live server state and closes viewer connections. */
void live_fini(struct relay *relay);
/* Accepts a viewer connection on `listen_fd`. */
void live_accept(struct relay *relay, int listen_fd);
/* Periodic work (publishing synced data). */
void live_tick(struct relay *relay);
/* Work done once per loop iteration before sleeping. */
void live_before_sleep(struct relay *relay);
/* Frees closed viewer connections. */
void live_collect(struct relay *relay);

#endif

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
/* Accepts a viewer connection on `listen_fd`. 0 or accept4()'s -errno. */
int live_accept(struct relay *relay, int listen_fd);
struct session;
/* Streams of `s` were published: viewers attached to it get viewer streams. */
void live_streams_published(struct relay *relay, struct session *s);
/* Answers held viewer requests that have news or timed out, frees closed viewers. */
void live_collect(struct relay *relay);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Intrusive circular doubly-linked list. A node is embedded in its owner;
 * cl_container_of() gets back to the owner. An unlinked node points to itself.
 */
#ifndef CL_LIST_H
#define CL_LIST_H

#include <stdbool.h>

#include "macro.h"

struct cl_list_node {
	struct cl_list_node *prev, *next;
};

struct cl_list {
	struct cl_list_node head;
};

static inline void cl_list_init(struct cl_list *l)
{
	l->head.prev = l->head.next = &l->head;
}

static inline void cl_list_node_init(struct cl_list_node *n)
{
	n->prev = n->next = n;
}

static inline bool cl_list_empty(const struct cl_list *l)
{
	return l->head.next == &l->head;
}

static inline void cl_list_append(struct cl_list *l, struct cl_list_node *n)
{
	n->prev = l->head.prev;
	n->next = &l->head;
	l->head.prev->next = n;
	l->head.prev = n;
}

static inline void cl_list_remove(struct cl_list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	cl_list_node_init(n);
}

/* Iterates `pos` (a struct cl_list_node *) over list `l`. */
#define cl_list_for_each(pos, l) \
	for ((pos) = (l)->head.next; (pos) != &(l)->head; (pos) = (pos)->next)
/* Same, but `pos` may be removed during the iteration; `tmp` holds the next node. */
#define cl_list_for_each_safe(pos, tmp, l)                                     \
	for ((pos) = (l)->head.next, (tmp) = (pos)->next; (pos) != &(l)->head; \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif

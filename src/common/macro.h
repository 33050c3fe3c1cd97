/* SPDX-License-Identifier: MIT */
/*
 * Small macros shared by every ctflive module. Kept deliberately few.
 */
#ifndef CL_MACRO_H
#define CL_MACRO_H

#include <stddef.h>

#define CL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CL_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define CL_MAX(a, b)     ((a) > (b) ? (a) : (b))
#define CL_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#define CL_UNUSED        __attribute__((unused))

/* Pointer to the struct that embeds member `m` at address `p`. */
#define cl_container_of(p, type, m) ((type *)(void *)((char *)(p)-offsetof(type, m)))

#endif

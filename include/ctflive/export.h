/* SPDX-License-Identifier: MIT */
/*
 * libctflive: CTFLIVE_API marks the functions of the public API.
 *
 * libctflive is built with -fvisibility=hidden (and a GNU ld version
 * script, src/lib/libctflive.map, that keeps only ctflive_* global): a
 * function is exported from libctflive.so only when its declaration in a
 * public header carries CTFLIVE_API. Programs that include the headers see
 * an ordinary declaration (default visibility is the default).
 */
#ifndef CTFLIVE_EXPORT_H
#define CTFLIVE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define CTFLIVE_API __attribute__((visibility("default")))
#else
#define CTFLIVE_API
#endif

#endif

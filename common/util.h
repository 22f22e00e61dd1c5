/*
 * util: small helpers every module shares: durations, hex, bounded file
 * reads, atomic file writes, RFC 3339 time.
 */
#ifndef SIGNET_UTIL_H
#define SIGNET_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

/* Parse "N[smhd]" (a bare number is seconds) into seconds.  Bounded to
 * 0..max_seconds. */
int util_parse_duration(const char *s, long long max_seconds, long long *out,
    struct err *e);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void util_hex(const unsigned char *in, size_t len, char *out);

/* Read a whole file of at most max bytes.  *out is NUL-terminated and must
 * be freed by the caller; *len excludes the NUL. */
int util_read_file(const char *path, size_t max, char **out, size_t *len,
    struct err *e);

/* Write data to path atomically (temp file, fsync, rename) with mode. */
int util_write_file(const char *path, const void *data, size_t len,
    unsigned mode, struct err *e);

/* Read a PIN or secret: the first line of a file, without the newline.
 * The file must not be readable by group or others. */
int util_read_secret(const char *path, char *out, size_t outlen,
    struct err *e);

/* Format t as RFC 3339 UTC ("2026-01-02T03:04:05Z"); out needs 21 bytes. */
void util_rfc3339(time_t t, char *out, size_t outlen);

/* Parse RFC 3339 ("2026-01-02T03:04:05Z", fractions and "+01:00"
 * offsets too) into *out; -1 if s is not one. */
int util_parse_rfc3339(const char *s, time_t *out);

/* 1 if s (n bytes) is a lowercase DNS name: 1..253 bytes of [a-z0-9.-],
 * labels of 1..63 bytes (no leading, trailing or double dot). */
int util_dns_name_ok(const char *s, size_t n);

/* True if s is a valid lowercase-or-uppercase hex string of 1..max chars. */
int util_is_hex(const char *s, size_t max);

#endif

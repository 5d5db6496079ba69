/*
 * Docker's syslog log driver, in C for the container monitor: each line of the container's
 * output (16 KiB pieces at most, a last line without newline kept) is one syslog message, stdout
 * at severity info and stderr at err, in Docker's formats: the default (srslog's unix formatter,
 * `<PRI>Jan _2 15:04:05 TAG[PID]: MSG`), rfc3164 (`<PRI>Jan _2 15:04:05 HOST TAG[PID]: MSG`),
 * rfc5424 / rfc5424micro (`<PRI>1 TIME HOST TAG PID TAG - MSG`). PID is the monitor's (Docker's is
 * the daemon's). Sent without ever blocking the container: a message the socket cannot take now
 * is dropped, as a datagram would be.
 */
#ifndef TSBUILD_SYSLOG_H
#define TSBUILD_SYSLOG_H
#include <stddef.h>
#include "jsonlog.h"

struct slog {
  int fd;
  int facility;
  int format; /* 0 default (unix), 1 rfc3164, 2 rfc5424, 3 rfc5424micro */
  char tag[256], host[256];
  unsigned char pend[2][JLOG_MAX_LINE];
  size_t plen[2];
};

/* SPEC: "FACILITY FORMAT ADDRESS TAG" (tab-separated; ADDRESS `unix:/path` or `udp:HOST:PORT`,
 * empty: /dev/log). Returns 0, or -1 with errno. */
int slog_open(struct slog *l, const char *spec);
/* A chunk of stream 0 (stdout) or 1 (stderr) that arrived at T (ns since the epoch). */
void slog_write(struct slog *l, int stream, const unsigned char *data, size_t n, long long t);
/* The stream ended: what is left of its last line is sent as it is. */
void slog_end(struct slog *l, int stream, long long t);
void slog_close(struct slog *l);

#endif

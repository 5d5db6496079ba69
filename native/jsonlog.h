/*
 * Docker's json-file log writer, in C for the container monitor: the same bytes as
 * src/containers/json-log.ts's JsonLogWriter (jsonlog escaping, 16 KiB pieces sharing the first
 * piece's time and never splitting a UTF-8 character, a last line kept without newline, rotation by
 * max-size/max-file as moby names the files). test/containers/monitor-log.test.ts feeds both
 * writers the same input and compares the files byte for byte.
 */
#ifndef TSBUILD_JSONLOG_H
#define TSBUILD_JSONLOG_H
#include <stddef.h>

#define JLOG_MAX_LINE (16 * 1024)

struct jlog_stream {
  unsigned char pend[JLOG_MAX_LINE];
  size_t plen;
  long long ptime;   /* when the first pending byte arrived (ns), -1: none */
  long long partial; /* time of the first piece of a line already logged in part, -1: none */
};

struct jlog {
  int fd;
  const char *path;
  long long size, max_size; /* max_size -1: never rotate */
  int max_file;
  struct jlog_stream s[2]; /* 0 stdout, 1 stderr */
  unsigned char *batch;
  size_t blen, bcap;
};

/* Opens (appends to) PATH, mode 0600. Returns 0, or -1 with errno. */
int jlog_open(struct jlog *l, const char *path, long long max_size, int max_file);
/* Logs a chunk of stream 0 (stdout) or 1 (stderr) that arrived at time T (ns since the epoch). */
int jlog_write(struct jlog *l, int stream, const unsigned char *data, size_t n, long long t);
/* The stream ended: what is left of its last line is logged as it is. */
int jlog_end(struct jlog *l, int stream);
/* Ends both streams and closes the file. */
int jlog_close(struct jlog *l);

#endif

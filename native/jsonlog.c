/* Docker's json-file log writer for the container monitor (see jsonlog.h). */
#include "jsonlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FLUSH_AT (64 * 1024) /* the batch is written out beyond this (same bytes, bounded memory) */

static const char HEX[] = "0123456789abcdef";

static int put(struct jlog *l, const void *p, size_t n) {
  if (l->blen + n > l->bcap) {
    size_t cap = l->bcap ? l->bcap : 65536;
    while (cap < l->blen + n) cap *= 2;
    unsigned char *b = realloc(l->batch, cap);
    if (!b) return -1;
    l->batch = b;
    l->bcap = cap;
  }
  memcpy(l->batch + l->blen, p, n);
  l->blen += n;
  return 0;
}

static int flush_batch(struct jlog *l) {
  size_t off = 0;
  while (off < l->blen) {
    ssize_t w = write(l->fd, l->batch + off, l->blen - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  l->size += (long long)l->blen;
  l->blen = 0;
  return 0;
}

int jlog_open(struct jlog *l, const char *path, long long max_size, int max_file) {
  memset(l, 0, sizeof *l);
  l->path = path;
  l->max_size = max_size;
  l->max_file = max_file < 1 ? 1 : max_file;
  for (int i = 0; i < 2; i++) l->s[i].ptime = l->s[i].partial = -1;
  l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (l->fd < 0) return -1;
  struct stat st;
  if (fstat(l->fd, &st) < 0) return -1;
  l->size = st.st_size;
  return 0;
}

/* Length of the valid UTF-8 sequence at s[i] (as Go's DecodeRune accepts it), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t i, size_t end) {
  unsigned b = s[i], lo = 0x80, hi = 0xbf;
  size_t n;
  if (b >= 0xc2 && b <= 0xdf) n = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b == 0xe0) lo = 0xa0;
    else if (b == 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b == 0xf0) lo = 0x90;
    else if (b == 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > end) return 0;
  if (s[i + 1] < lo || s[i + 1] > hi) return 0;
  for (size_t k = 2; k < n; k++)
    if ((s[i + k] & 0xc0) != 0x80) return 0;
  return n;
}

/* jsonlog's string escaping of s[0:n] */
static int escape(struct jlog *l, const unsigned char *s, size_t n) {
  size_t run = 0, i = 0;
  char esc[8];
  while (i < n) {
    unsigned b = s[i];
    const char *rep = NULL;
    size_t replen = 0, adv = 1;
    if (b >= 0x80) {
      size_t k = utf8_len(s, i, n);
      if (k > 0) {
        if (k == 3 && b == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
          rep = s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
          replen = 6;
          adv = 3;
        } else {
          i += k;
          continue;
        }
      } else {
        rep = "\\ufffd";
        replen = 6;
      }
    } else if (b == '"') rep = "\\\"", replen = 2;
    else if (b == '\\') rep = "\\\\", replen = 2;
    else if (b == '\n') rep = "\\n", replen = 2;
    else if (b == '\r') rep = "\\r", replen = 2;
    else if (b < 0x20 || b == '<' || b == '>' || b == '&') {
      esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = HEX[b >> 4], esc[5] = HEX[b & 15];
      rep = esc;
      replen = 6;
    } else {
      i++;
      continue;
    }
    if (run < i && put(l, s + run, i - run) < 0) return -1;
    if (put(l, rep, replen) < 0) return -1;
    i += adv;
    run = i;
  }
  if (run < n && put(l, s + run, n - run) < 0) return -1;
  return 0;
}

/* Where to cut a too-long line at LIMIT bytes without splitting a UTF-8 character. */
static size_t safe_cut(const unsigned char *s, size_t limit) {
  for (size_t back = 1; back <= 3 && back <= limit; back++) {
    unsigned b = s[limit - back];
    if ((b & 0xc0) == 0x80) continue;
    size_t n = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : (b >= 0xc2 && b < 0xe0) ? 2 : 1;
    return n > back ? limit - back : limit;
  }
  return limit;
}

static void rfc3339nano(long long t, char *out, size_t cap) {
  time_t sec = (time_t)(t >= 0 ? t / 1000000000LL : (t - 999999999LL) / 1000000000LL);
  long nanos = (long)(t - (long long)sec * 1000000000LL);
  struct tm tm;
  gmtime_r(&sec, &tm);
  int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec);
  if (nanos) {
    char frac[16];
    snprintf(frac, sizeof frac, "%09ld", nanos);
    size_t k = 9;
    while (k > 0 && frac[k - 1] == '0') k--;
    frac[k] = 0;
    n += snprintf(out + n, cap - (size_t)n, ".%s", frac);
  }
  snprintf(out + n, cap - (size_t)n, "Z");
}

static void rotate(struct jlog *l) {
  close(l->fd);
  char from[4200], to[4200];
  if (l->max_file < 2) {
    unlink(l->path);
  } else {
    snprintf(to, sizeof to, "%s.%d", l->path, l->max_file - 1);
    unlink(to);
    for (int i = l->max_file - 1; i > 1; i--) {
      snprintf(from, sizeof from, "%s.%d", l->path, i - 1);
      snprintf(to, sizeof to, "%s.%d", l->path, i);
      rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", l->path);
    rename(l->path, to);
  }
  l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  l->size = 0;
}

/* Logs the pending bytes of stream K (len of them), with or without the line's "\n". */
static int emit(struct jlog *l, int k, size_t len, int newline) {
  struct jlog_stream *st = &l->s[k];
  if (!newline && len == 0) return 0;
  long long t = st->partial >= 0 ? st->partial : st->ptime;
  st->partial = newline ? -1 : t;
  if (l->max_size != -1 && l->size + (long long)l->blen >= l->max_size) {
    if (flush_batch(l) < 0) return -1;
    if (l->size >= l->max_size) rotate(l);
    if (l->fd < 0) return -1;
  }
  if (put(l, "{\"log\":\"", 8) < 0 || escape(l, st->pend, len) < 0) return -1;
  if (newline && put(l, "\\n", 2) < 0) return -1;
  char tail[96], ts[48];
  rfc3339nano(t, ts, sizeof ts);
  int n = snprintf(tail, sizeof tail, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", k ? "stderr" : "stdout", ts);
  if (put(l, tail, (size_t)n) < 0) return -1;
  st->plen = 0;
  st->ptime = -1;
  if (l->blen >= FLUSH_AT) return flush_batch(l);
  return 0;
}

int jlog_write(struct jlog *l, int k, const unsigned char *data, size_t n, long long t) {
  struct jlog_stream *st = &l->s[k];
  size_t i = 0;
  while (i < n) {
    const unsigned char *nl = memchr(data + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - data) : n;
    /* while the unfinished line fills the copier's 16 KiB buffer, log it in pieces */
    while (st->plen + (end - i) >= JLOG_MAX_LINE) {
      size_t take = JLOG_MAX_LINE - st->plen;
      memcpy(st->pend + st->plen, data + i, take);
      size_t cut = safe_cut(st->pend, JLOG_MAX_LINE);
      if (st->ptime < 0) st->ptime = t;
      if (emit(l, k, cut, 0) < 0) return -1;
      size_t rest = JLOG_MAX_LINE - cut; /* the start of a character cut off */
      if (rest) {
        memmove(st->pend, st->pend + cut, rest);
        st->plen = rest;
        st->ptime = t;
      }
      i += take;
    }
    if (!nl) {
      if (i < n) {
        memcpy(st->pend + st->plen, data + i, n - i);
        st->plen += n - i;
        if (st->ptime < 0) st->ptime = t;
      }
      break;
    }
    memcpy(st->pend + st->plen, data + i, end - i);
    st->plen += end - i;
    if (st->ptime < 0) st->ptime = t;
    if (emit(l, k, st->plen, 1) < 0) return -1;
    i = end + 1;
  }
  return flush_batch(l);
}

int jlog_end(struct jlog *l, int k) {
  struct jlog_stream *st = &l->s[k];
  if (st->plen > 0 && emit(l, k, st->plen, 0) < 0) return -1;
  st->partial = -1;
  return flush_batch(l);
}

int jlog_close(struct jlog *l) {
  int r = 0;
  if (jlog_end(l, 0) < 0) r = -1;
  if (jlog_end(l, 1) < 0) r = -1;
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  free(l->batch);
  l->batch = NULL;
  l->bcap = l->blen = 0;
  return r;
}

/* Docker's syslog log driver for the container monitor: see syslog.h. */
#include "syslog.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int open_unix(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(a.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int open_udp(const char *hostport) {
  char host[256];
  const char *colon = strrchr(hostport, ':');
  if (!colon || (size_t)(colon - hostport) >= sizeof host) {
    errno = EINVAL;
    return -1;
  }
  memcpy(host, hostport, (size_t)(colon - hostport));
  host[colon - hostport] = 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
    errno = EHOSTUNREACH;
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
    int e = errno;
    close(fd);
    fd = -1;
    errno = e;
  }
  freeaddrinfo(res);
  return fd;
}

int slog_open(struct slog *l, const char *spec) {
  char buf[4200];
  snprintf(buf, sizeof buf, "%s", spec);
  char *f[4] = {0};
  char *p = buf;
  for (int i = 0; i < 4; i++) {
    f[i] = p;
    char *tab = i < 3 ? strchr(p, '\t') : NULL;
    if (i < 3 && !tab) {
      errno = EINVAL;
      return -1;
    }
    if (tab) *tab = 0, p = tab + 1;
  }
  l->facility = atoi(f[0]);
  l->format = atoi(f[1]);
  snprintf(l->tag, sizeof l->tag, "%s", f[3]);
  if (gethostname(l->host, sizeof l->host) < 0) strcpy(l->host, "localhost");
  l->plen[0] = l->plen[1] = 0;
  const char *addr = f[2];
  if (!*addr) l->fd = open_unix("/dev/log");
  else if (!strncmp(addr, "unix:", 5)) l->fd = open_unix(addr + 5);
  else if (!strncmp(addr, "udp:", 4)) l->fd = open_udp(addr + 4);
  else {
    errno = EINVAL;
    return -1;
  }
  return l->fd < 0 ? -1 : 0;
}

static void send_line(struct slog *l, int stream, const unsigned char *msg, size_t n, long long t) {
  static char out[JLOG_MAX_LINE + 1024];
  if (t <= 0) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    t = now.tv_sec * 1000000000LL + now.tv_nsec;
  }
  int pri = l->facility * 8 + (stream ? 3 : 6);
  time_t sec = (time_t)(t / 1000000000LL);
  struct tm tm;
  localtime_r(&sec, &tm);
  char ts[64];
  int k;
  if (l->format <= 1) {
    strftime(ts, sizeof ts, "%b %e %H:%M:%S", &tm);
    k = l->format == 0 ? snprintf(out, sizeof out, "<%d>%s %s[%d]: ", pri, ts, l->tag, (int)getpid())
                       : snprintf(out, sizeof out, "<%d>%s %s %s[%d]: ", pri, ts, l->host, l->tag, (int)getpid());
  } else {
    char zone[8];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm); /* +0000 → +00:00, as Go's Z07:00 (Z for UTC) */
    char z[8];
    if (tm.tm_gmtoff == 0) strcpy(z, "Z");
    else snprintf(z, sizeof z, "%.3s:%.2s", zone, zone + 3);
    char frac[16] = "";
    if (l->format == 3) snprintf(frac, sizeof frac, ".%06lld", (t % 1000000000LL) / 1000);
    k = snprintf(out, sizeof out, "<%d>1 %s%s%s %s %s %d %s - ", pri, ts, frac, z, l->host, l->tag, (int)getpid(), l->tag);
  }
  if (k < 0) return;
  if ((size_t)k + n > sizeof out) n = sizeof out - (size_t)k;
  memcpy(out + k, msg, n);
  /* never block the container: a message the socket cannot take now is dropped */
  while (send(l->fd, out, (size_t)k + n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

void slog_write(struct slog *l, int stream, const unsigned char *data, size_t n, long long t) {
  unsigned char *pend = l->pend[stream];
  size_t *plen = &l->plen[stream];
  for (size_t i = 0; i < n; i++) {
    if (data[i] == '\n') {
      send_line(l, stream, pend, *plen, t);
      *plen = 0;
      continue;
    }
    pend[(*plen)++] = data[i];
    if (*plen == JLOG_MAX_LINE) {
      send_line(l, stream, pend, *plen, t);
      *plen = 0;
    }
  }
}

void slog_end(struct slog *l, int stream, long long t) {
  if (l->plen[stream]) send_line(l, stream, l->pend[stream], l->plen[stream], t);
  l->plen[stream] = 0;
}

void slog_close(struct slog *l) {
  slog_end(l, 0, 0);
  slog_end(l, 1, 0);
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
}

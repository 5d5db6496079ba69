/*
 * tsbuild-memo: the whole-build memo's answer, given before Node starts (bin/tsbuild runs it first).
 *   tsbuild-memo BUNDLE ARG...     ARG...: the command line after `tsbuild`
 * A build that ran no step left a record of itself (src/cli/build-memo.ts writes it and says what
 * is recorded and when). If the record for this working directory and command line exists and
 * everything in it still holds — the CLI bundle's id, the user, the working directory, each argument, the
 * environment variables named, stderr not a terminal when so recorded, each file's identity
 * (device, inode, size, mtime, ctime, mode) or absence, each context directory's listing
 * fingerprint (dirkey.h, as fsx.statDirKey computes it) — the recorded --iidfile, stdout and
 * stderr are written and the exit status is 0. Otherwise nothing is written and the status is 99:
 * the launcher then runs the build as usual. Any doubt (an unreadable or malformed record, an
 * unknown field, a path too long) is a 99.
 *
 * Record: "tsbuild-memo 2\n", then fields "<tag> <length>\n<bytes>\n" (bytes may hold anything):
 *   B bundle id   P uid   C cwd   A one argument, in order   E NAME\0VALUE   U NAME (unset)   T (stderr is
 *   not a terminal)   F PATH\0IDENTITY   N PATH (absent)   R ROOT\0IDENTITY (a context tree)
 *   D REL\0LANE0\0LANE1\0COUNT (a directory of the last R; "" is the root)   I PATH\0CONTENT
 *   O stdout   X stderr   Z end
 */
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "dirkey.h"

#define NOT_ANSWERED 99
#define MAX_RECORD (64 << 20)

struct field {
  char tag;
  const char *data;
  size_t len;
};

/* Reads all of FILE (at most MAX_RECORD bytes) into a malloc-ed buffer; NULL on any failure. */
static char *read_all(const char *file, size_t *len) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat sb;
  char *buf = NULL;
  if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && sb.st_size <= MAX_RECORD) {
    buf = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)sb.st_size) {
      ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        free(buf);
        buf = NULL;
        break;
      }
      got += (size_t)n;
    }
    if (buf) {
      buf[got] = 0;
      *len = got;
    }
  }
  close(fd);
  return buf;
}

/* The next field at *POS of BUF (LEN bytes); 0 when malformed. */
static int next_field(const char *buf, size_t len, size_t *pos, struct field *f) {
  size_t p = *pos;
  if (p + 3 > len || buf[p + 1] != ' ') return 0;
  f->tag = buf[p];
  p += 2;
  size_t n = 0, digits = 0;
  while (p < len && buf[p] >= '0' && buf[p] <= '9' && digits < 10) n = n * 10 + (size_t)(buf[p++] - '0'), digits++;
  if (digits == 0 || p >= len || buf[p] != '\n' || n > len - p - 1 || len - p - 1 - n < 1 || buf[p + 1 + n] != '\n') return 0;
  f->data = buf + p + 1;
  f->len = n;
  *pos = p + 1 + n + 1;
  return 1;
}

/* Splits "A\0B" at its first NUL: A is copied into OUT (NUL-terminated), B returned; NULL if none. */
static const char *split(const struct field *f, char *out, size_t cap, size_t *rest) {
  const char *z = memchr(f->data, 0, f->len);
  if (!z || (size_t)(z - f->data) >= cap) return NULL;
  memcpy(out, f->data, (size_t)(z - f->data));
  out[z - f->data] = 0;
  *rest = f->len - (size_t)(z - f->data) - 1;
  return z + 1;
}

/* A file's identity as build-memo.ts writes it (stat, following links); 0 if it cannot be read. */
static int identity(const char *path, char *out, size_t cap) {
  struct stat sb;
  if (stat(path, &sb) != 0) return 0;
  snprintf(out, cap, "%llu:%llu:%lld:%lld:%lld:%u", (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino,
           (long long)sb.st_size, (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec,
           (long long)sb.st_ctim.tv_sec * 1000000000LL + sb.st_ctim.tv_nsec, (unsigned)sb.st_mode);
  return 1;
}

static int same(const char *a, size_t alen, const char *b) {
  return strlen(b) == alen && memcmp(a, b, alen) == 0;
}

/* A directory's fingerprint line "REL\0LANE0\0LANE1\0COUNT" (fsx.statDirKey's lanes); 0 on error. */
static int dir_line(const char *root, const char *rel, size_t rel_len, char *out, size_t cap, size_t *out_len) {
  char path[PATH_MAX];
  int n = rel_len ? snprintf(path, sizeof path, "%s/%.*s", root, (int)rel_len, rel) : snprintf(path, sizeof path, "%s", root);
  if (n < 0 || (size_t)n >= sizeof path || rel_len + 64 > cap) return 0;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return 0;
  }
  uint64_t lane0 = 0, lane1 = 0, count = 0;
  int r;
  struct dirent *e = NULL;
  struct stat sb;
  while ((r = next_entry(d, &e, &sb)) > 0) {
    uint64_t h[2];
    entry_hash(e->d_name, &sb, h);
    lane0 += h[0];
    lane1 += h[1];
    count++;
  }
  closedir(d);
  if (r < 0) return 0;
  memcpy(out, rel, rel_len);
  int m = snprintf(out + rel_len, cap - rel_len, "%c%lld%c%lld%c%lld", 0, (long long)(int64_t)lane0, 0, (long long)(int64_t)lane1, 0, (long long)count);
  if (m < 0 || (size_t)m >= cap - rel_len) return 0;
  *out_len = rel_len + (size_t)m;
  return 1;
}

/* Writes all of BUF to FD, waiting out a non-blocking descriptor; 0 on failure. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      poll(&p, 1, -1);
      continue;
    }
    if (n <= 0) return 0;
    buf += n;
    len -= (size_t)n;
  }
  return 1;
}

/* 64-bit FNV-1a over the working directory and the arguments, NUL-separated (build-memo.ts). */
static uint64_t fnv64(const char *cwd, int argc, char **argv) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = (const unsigned char *)cwd; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
  for (int i = 0; i < argc; i++) {
    h = (h ^ 0) * 0x100000001b3ULL;
    for (const unsigned char *p = (const unsigned char *)argv[i]; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
  }
  return h;
}

/* The id on the bundle's first line ("//tsbuild-bundle <64 hex>\n"); 0 if it has none. */
static int bundle_id(const char *file, char id[65]) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char head[82];
  ssize_t n = read(fd, head, sizeof head);
  close(fd);
  if (n != (ssize_t)sizeof head || memcmp(head, "//tsbuild-bundle ", 17) != 0 || head[81] != '\n') return 0;
  memcpy(id, head + 17, 64);
  id[64] = 0;
  return 1;
}

static int answer(int argc, char **argv) {
  if (argc < 2) return NOT_ANSWERED;
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char cwd[PATH_MAX], file[PATH_MAX], id[65];
  if (!getcwd(cwd, sizeof cwd)) return NOT_ANSWERED;
  uint64_t h = fnv64(cwd, argc - 2, argv + 2);
  int n = xdg && *xdg ? snprintf(file, sizeof file, "%s/tsbuild/build-memo/%016llx.rec", xdg, (unsigned long long)h)
          : home && *home ? snprintf(file, sizeof file, "%s/.cache/tsbuild/build-memo/%016llx.rec", home, (unsigned long long)h)
          : -1;
  if (n < 0 || (size_t)n >= sizeof file) return NOT_ANSWERED;
  size_t len = 0;
  char *rec = read_all(file, &len);
  if (!rec) return NOT_ANSWERED;
  static const char magic[] = "tsbuild-memo 2\n";
  size_t pos = sizeof magic - 1;
  int ok = len > pos && memcmp(rec, magic, pos) == 0, args = 0, ended = 0, seen = 0;
  struct field f, iid = {0}, out = {0}, err = {0};
  char root[PATH_MAX] = "", a[PATH_MAX], buf[PATH_MAX + 128];
  size_t rest, blen;
  while (ok && !ended && next_field(rec, len, &pos, &f)) {
    const char *v;
    switch (f.tag) {
    case 'B':
      ok = bundle_id(argv[1], id) && same(f.data, f.len, id);
      seen |= 1;
      break;
    case 'P':
      snprintf(buf, sizeof buf, "%u", (unsigned)getuid());
      ok = same(f.data, f.len, buf);
      seen |= 2;
      break;
    case 'C':
      ok = same(f.data, f.len, cwd);
      seen |= 4;
      break;
    case 'A':
      ok = args + 2 < argc && same(f.data, f.len, argv[args + 2]);
      args++;
      break;
    case 'E':
      ok = (v = split(&f, a, sizeof a, &rest)) != NULL && getenv(a) != NULL && same(v, rest, getenv(a));
      break;
    case 'U':
      ok = f.len < sizeof a && (memcpy(a, f.data, f.len), a[f.len] = 0, getenv(a) == NULL);
      break;
    case 'T':
      ok = !isatty(2);
      break;
    case 'F':
      ok = (v = split(&f, a, sizeof a, &rest)) != NULL && identity(a, buf, sizeof buf) && same(v, rest, buf);
      break;
    case 'N': {
      struct stat sb;
      ok = f.len < sizeof a && (memcpy(a, f.data, f.len), a[f.len] = 0, stat(a, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR));
      break;
    }
    case 'R':
      ok = (v = split(&f, root, sizeof root, &rest)) != NULL && identity(root, buf, sizeof buf) && same(v, rest, buf);
      break;
    case 'D': {
      const char *z = memchr(f.data, 0, f.len);
      ok = root[0] && z && dir_line(root, f.data, (size_t)(z - f.data), buf, sizeof buf, &blen) && blen == f.len && memcmp(buf, f.data, blen) == 0;
      break;
    }
    case 'I':
      iid = f;
      ok = memchr(f.data, 0, f.len) != NULL;
      break;
    case 'O':
      out = f;
      break;
    case 'X':
      err = f;
      break;
    case 'Z':
      ended = 1;
      break;
    default:
      ok = 0;
    }
  }
  // (a record without the bundle, the user or the directory it was made for answers nothing)
  if (!ok || !ended || seen != 7 || args != argc - 2) {
    free(rec);
    return NOT_ANSWERED;
  }
  // answered: from here on, whatever happens is this command's outcome
  int status = 0;
  if (iid.data) {
    const char *content = split(&iid, a, sizeof a, &rest);
    int fd = content ? open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666) : -1;
    if (fd < 0 || !write_all(fd, content, rest)) status = 1;
    if (fd >= 0) close(fd);
  }
  if (out.len && !write_all(1, out.data, out.len)) status = 1;
  if (err.len && !write_all(2, err.data, err.len)) status = 1;
  free(rec);
  return status;
}

int main(int argc, char **argv) {
  return answer(argc, argv);
}

/*
 * A directory's listing fingerprint, shared by the Node addon (fsx.c: statDirKey) and the build
 * memo's front (build-memo.c), which must compute the same lanes from the same lstat fields.
 */
#ifndef TSBUILD_DIRKEY_H
#define TSBUILD_DIRKEY_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The next entry of D but "." and "..", lstat-ed beside it: 1 with *E and *SB set, 0 at the end, or
 * -errno. An entry gone between readdir and fstatat is left out, as a listing a moment later would.
 */
static inline int next_entry(DIR *d, struct dirent **e, struct stat *sb) {
  for (;;) {
    errno = 0;
    struct dirent *x = readdir(d);
    if (!x) return -errno;
    if (x->d_name[0] == '.' && (x->d_name[1] == 0 || (x->d_name[1] == '.' && x->d_name[2] == 0))) continue;
    if (fstatat(dirfd(d), x->d_name, sb, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return -errno;
    }
    *e = x;
    return 1;
  }
}

/* splitmix64's finalizer: a cheap mix with full avalanche, applied per 64-bit word. */
static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* One entry's 128-bit hash (two lanes with different seeds) over its name and lstat fields. */
static inline void entry_hash(const char *name, const struct stat *sb, uint64_t out[2]) {
  uint64_t w[10] = {
      (uint64_t)sb->st_dev, (uint64_t)sb->st_ino, (uint64_t)sb->st_size,
      (uint64_t)sb->st_mtim.tv_sec * 1000000000ULL + (uint64_t)sb->st_mtim.tv_nsec,
      (uint64_t)sb->st_ctim.tv_sec * 1000000000ULL + (uint64_t)sb->st_ctim.tv_nsec,
      (uint64_t)sb->st_mode, (uint64_t)sb->st_uid, (uint64_t)sb->st_gid,
      (uint64_t)sb->st_nlink, (uint64_t)sb->st_rdev,
  };
  uint64_t a = 0x243f6a8885a308d3ULL, b = 0x13198a2e03707344ULL;
  size_t len = strlen(name);
  for (size_t i = 0; i < len; i += 8) {
    uint64_t c = 0;
    memcpy(&c, name + i, len - i < 8 ? len - i : 8);
    a = mix64(a ^ c);
    b = mix64(b + c + 0x9e3779b97f4a7c15ULL);
  }
  a = mix64(a ^ len);
  b = mix64(b + len + 0x9e3779b97f4a7c15ULL);
  for (size_t i = 0; i < 10; i++) {
    a = mix64(a ^ w[i]);
    b = mix64(b + w[i] + 0x9e3779b97f4a7c15ULL);
  }
  out[0] = a;
  out[1] = b;
}

#endif

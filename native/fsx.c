/*
 * fsx: the few filesystem calls Node lacks and layers need — mknod (device nodes, overlay
 * whiteouts) and extended attributes on the link itself (security.capability, overlay opaque
 * markers). A Node-API addon in C: every function throws a plain Error naming the syscall, path
 * and errno text, so callers can turn it into a user error.
 * Also lstatDir: a directory's names and the lstat of each in one call (readdir + fstatat on the
 * directory's fd), which the build context's walk needs for every directory of a context; one
 * call per directory costs a fraction of a Node lstat per entry (no path resolution from /, no
 * Stats objects with Dates).
 * And statDirKey: a fingerprint of a directory's listing (every name with its lstat), so an
 * unchanged directory's content digest can be reused without the caller touching its entries.
 * And syncfs: the filesystem holding a path written to disk, on a worker thread (a promise), for
 * what many files were written without an fsync each (a RUN's upper dir on a volatile overlay).
 * And spawnPiped/waitpid: a helper started by posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK),
 * no copy of Node's page tables and no copy-on-write faults after it, which a fork of a Node
 * process with ~100 MB mapped costs: ~10-20 ms of the main thread per RUN step here), with pipes
 * on the fds it names, and reaped on the thread pool.
 * And an op queue: mkdir, link, symlink, lchown, chmod and utimes calls run in order on a thread of
 * their own while the caller goes on (a snapshot's 5,000 links and 400 dirs are ~110 ms of syscalls
 * that the layer's tar encoding and hashing need not wait for); drain() waits for them and says
 * which failed.
 * And mapLatin1: a file as an external one-byte string over a mapping of it (the CLI bundle, which
 * bin/tsbuild.js compiles without reading it into memory twice).
 */
#include <node_api.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include "dirkey.h"
#include "blob-writer.h"
#include "sha256.h"
#include "heap-prefault.h"
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <pthread.h>
#include <dlfcn.h>

#define PATH_BUF 4096
#define NAME_BUF 256

static napi_value throw_errno(napi_env env, const char *call, const char *path, int err) {
  char msg[PATH_BUF + 128];
  snprintf(msg, sizeof msg, "%s %s: %s", call, path, strerror(err));
  char code[32];
  snprintf(code, sizeof code, "E%d", err);
  napi_throw_error(env, code, msg);
  return NULL;
}

napi_value fsx_throw_errno(napi_env env, const char *call, const char *path, int err) {
  return throw_errno(env, call, path, err);
}

void *fsx_external(napi_env env, napi_value v, const char *what) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    char msg[64];
    snprintf(msg, sizeof msg, "expected %s", what);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  return p;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t len) {
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, buf, len, &got) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return -1;
  }
  if (got >= len - 1) {
    napi_throw_range_error(env, NULL, "string too long");
    return -1;
  }
  return 0;
}

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  uint32_t mode = 0, maj = 0, min = 0;
  if (argc < 4 || get_string(env, argv[0], path, sizeof path) < 0) return NULL;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &maj);
  napi_get_value_uint32(env, argv[3], &min);
  if (mknod(path, (mode_t)mode, makedev(maj, min)) != 0) return throw_errno(env, "mknod", path, errno);
  return NULL;
}

/* lsetxattr(path, name, buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[NAME_BUF];
  void *data = NULL;
  size_t len = 0;
  if (argc < 3 || get_string(env, argv[0], path, sizeof path) < 0 ||
      get_string(env, argv[1], name, sizeof name) < 0)
    return NULL;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, "lsetxattr", path, errno);
  return NULL;
}

/* lgetxattr(path, name) -> Buffer | null (null when the attribute is absent) */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[NAME_BUF];
  if (argc < 2 || get_string(env, argv[0], path, sizeof path) < 0 ||
      get_string(env, argv[1], name, sizeof name) < 0)
    return NULL;
  for (;;) {
    ssize_t n = lgetxattr(path, name, NULL, 0);
    if (n < 0) {
      if (errno == ENODATA || errno == ENOTSUP) {
        napi_get_null(env, &result);
        return result;
      }
      return throw_errno(env, "lgetxattr", path, errno);
    }
    void *buf = NULL;
    napi_create_buffer(env, (size_t)n, &buf, &result);
    ssize_t m = lgetxattr(path, name, buf, (size_t)n);
    if (m >= 0 && m == n) return result;
    if (m < 0 && errno != ERANGE) return throw_errno(env, "lgetxattr", path, errno);
    /* the value grew between the two calls: ask again */
  }
}

/* llistxattr(path) -> string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 1 || get_string(env, argv[0], path, sizeof path) < 0) return NULL;
  napi_create_array(env, &arr);
  ssize_t n = llistxattr(path, NULL, 0);
  if (n < 0) {
    if (errno == ENOTSUP) return arr;
    return throw_errno(env, "llistxattr", path, errno);
  }
  if (n == 0) return arr;
  char *buf = malloc((size_t)n);
  if (!buf) return throw_errno(env, "llistxattr", path, ENOMEM);
  ssize_t m = llistxattr(path, buf, (size_t)n);
  if (m < 0) {
    int err = errno;
    free(buf);
    return throw_errno(env, "llistxattr", path, err);
  }
  uint32_t i = 0;
  for (char *p = buf; p < buf + m; p += strlen(p) + 1) {
    napi_value s;
    napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, i++, s);
  }
  free(buf);
  return arr;
}

/* lremovexattr(path, name); absent attributes are not an error */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[NAME_BUF];
  if (argc < 2 || get_string(env, argv[0], path, sizeof path) < 0 ||
      get_string(env, argv[1], name, sizeof name) < 0)
    return NULL;
  if (lremovexattr(path, name) != 0 && errno != ENODATA)
    return throw_errno(env, "lremovexattr", path, errno);
  return NULL;
}

/* A directory stream for `path` (never following a last symlink into another place: O_DIRECTORY
 * fails on anything but a directory); NULL with a JS error thrown. */
static DIR *open_dir(napi_env env, const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, "opendir", path, errno);
    return NULL;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    throw_errno(env, "opendir", path, err);
  }
  return d;
}

/* The directory named by a call's first argument (copied into `path`, PATH_BUF bytes), opened;
 * NULL with a JS error thrown. */
static DIR *dir_arg(napi_env env, napi_callback_info info, char *path) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "expected a path");
    return NULL;
  }
  if (get_string(env, argv[0], path, PATH_BUF) < 0) return NULL;
  return open_dir(env, path);
}

/* Fields per entry in lstatDir's `stats`, in this order (all int64). */
enum { ST_DEV, ST_INO, ST_SIZE, ST_MTIME_NS, ST_CTIME_NS, ST_MODE, ST_UID, ST_GID, ST_NLINK, ST_RDEV, ST_FIELDS };

/* One entry's row of lstatDir's `stats`. */
static void fill_row(int64_t *f, const struct stat *sb) {
  f[ST_DEV] = (int64_t)makedev(major(sb->st_dev), minor(sb->st_dev));
  f[ST_INO] = (int64_t)sb->st_ino;
  f[ST_SIZE] = (int64_t)sb->st_size;
  f[ST_MTIME_NS] = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
  f[ST_CTIME_NS] = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
  f[ST_MODE] = sb->st_mode;
  f[ST_UID] = sb->st_uid;
  f[ST_GID] = sb->st_gid;
  f[ST_NLINK] = (int64_t)sb->st_nlink;
  f[ST_RDEV] = (int64_t)makedev(major(sb->st_rdev), minor(sb->st_rdev));
}

/* Row N of a growing `stats` array (*ST, room for *CAP rows), grown as needed; 0 when out of memory. */
static int push_row(int64_t **st, size_t *cap, size_t n, const struct stat *sb) {
  if (n == *cap) {
    int64_t *more = realloc(*st, *cap * 2 * ST_FIELDS * sizeof **st);
    if (!more) return 0;
    *st = more;
    *cap *= 2;
  }
  fill_row(*st + n * ST_FIELDS, sb);
  return 1;
}

/* N rows as a BigInt64Array (copied). */
static napi_value rows_array(napi_env env, const int64_t *st, size_t n) {
  void *data;
  napi_value ab, arr;
  size_t bytes = n * ST_FIELDS * sizeof *st;
  napi_create_arraybuffer(env, bytes, &data, &ab);
  if (bytes) memcpy(data, st, bytes);
  napi_create_typedarray(env, napi_bigint64_array, n * ST_FIELDS, ab, 0, &arr);
  return arr;
}

/*
 * lstatDir(path) -> { names: string[], stats: BigInt64Array } with ST_FIELDS values per name, in
 * readdir order ("." and ".." left out). An entry removed between readdir and its lstat is left
 * out too. dev and rdev are encoded as Node encodes them (makedev of major and minor).
 */
static napi_value js_lstatdir(napi_env env, napi_callback_info info) {
  char path[PATH_BUF];
  DIR *d = dir_arg(env, info, path);
  if (!d) return NULL;
  napi_value names;
  napi_create_array(env, &names);
  size_t cap = 64, n = 0;
  int64_t *st = malloc(cap * ST_FIELDS * sizeof *st);
  int err = st ? 0 : ENOMEM;
  while (!err) {
    struct dirent *e = NULL;
    struct stat sb;
    int r = next_entry(d, &e, &sb);
    if (r <= 0) {
      err = -r;
      break;
    }
    if (!push_row(&st, &cap, n, &sb)) {
      err = ENOMEM;
      break;
    }
    napi_value name;
    napi_create_string_utf8(env, e->d_name, NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, names, (uint32_t)n, name);
    n++;
  }
  closedir(d);
  if (err) {
    free(st);
    return throw_errno(env, "lstatdir", path, err);
  }
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "names", names);
  napi_set_named_property(env, out, "stats", rows_array(env, st, n));
  free(st);
  return out;
}

/*
 * statDirKey(path) -> { key: BigInt64Array [lane0, lane1, maxTimeNs, count], subdirs: string[] }.
 * key's lanes fingerprint the listing: the sum of each entry's hash over its name and lstat (dev,
 * ino, size, mtime, ctime, mode, uid, gid, nlink, rdev), so readdir order does not matter; any
 * created, removed, renamed, rewritten, chmod-ed or touched entry changes it. maxTimeNs is the
 * newest mtime or ctime among the entries (the caller's "too fresh to trust" check). subdirs names
 * the entries that are directories, which the caller fingerprints in turn. Errors carry `E<errno>`.
 * statDirKey(path, true) also gives the listing itself, from the same lstat calls, for a caller
 * that may list the directory afterwards (no second stat pass): `stats` as lstatDir's, and the
 * names as one buffer `names` of NUL-terminated names in the same order (no JS string per name
 * unless the caller decodes them).
 */
static napi_value js_statdirkey(napi_env env, napi_callback_info info) {
  char path[PATH_BUF];
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool listing = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &listing);
  DIR *d = dir_arg(env, info, path);
  if (!d) return NULL;
  napi_value subdirs;
  napi_create_array(env, &subdirs);
  size_t cap = listing ? 64 : 0, ncap = listing ? 4096 : 0, nlen = 0;
  int64_t *st = listing ? malloc(cap * ST_FIELDS * sizeof *st) : NULL;
  char *nbuf = listing ? malloc(ncap) : NULL;
  uint64_t lane0 = 0, lane1 = 0, count = 0;
  int64_t maxTime = 0;
  uint32_t nsub = 0;
  int err = listing && (!st || !nbuf) ? ENOMEM : 0;
  while (!err) {
    struct dirent *e = NULL;
    struct stat sb;
    int r = next_entry(d, &e, &sb);
    if (r <= 0) {
      err = -r;
      break;
    }
    if (listing) {
      if (!push_row(&st, &cap, count, &sb)) {
        err = ENOMEM;
        break;
      }
      size_t len = strlen(e->d_name) + 1;
      if (nlen + len > ncap) {
        char *more = realloc(nbuf, ncap * 2 + len);
        if (!more) {
          err = ENOMEM;
          break;
        }
        nbuf = more;
        ncap = ncap * 2 + len;
      }
      memcpy(nbuf + nlen, e->d_name, len);
      nlen += len;
    }
    uint64_t h[2];
    entry_hash(e->d_name, &sb, h);
    lane0 += h[0];
    lane1 += h[1];
    count++;
    int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    int64_t ct = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
    if (mt > maxTime) maxTime = mt;
    if (ct > maxTime) maxTime = ct;
    if (S_ISDIR(sb.st_mode)) {
      napi_value name;
      napi_create_string_utf8(env, e->d_name, NAPI_AUTO_LENGTH, &name);
      napi_set_element(env, subdirs, nsub++, name);
    }
  }
  closedir(d);
  if (err) {
    free(st);
    free(nbuf);
    return throw_errno(env, "statdirkey", path, err);
  }
  void *data;
  napi_value ab, arr, out;
  napi_create_arraybuffer(env, 4 * sizeof(int64_t), &data, &ab);
  int64_t *k = data;
  k[0] = (int64_t)lane0;
  k[1] = (int64_t)lane1;
  k[2] = maxTime;
  k[3] = (int64_t)count;
  napi_create_typedarray(env, napi_bigint64_array, 4, ab, 0, &arr);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "key", arr);
  napi_set_named_property(env, out, "subdirs", subdirs);
  if (listing) {
    napi_value names;
    napi_create_buffer_copy(env, nlen, nbuf, NULL, &names);
    napi_set_named_property(env, out, "names", names);
    napi_set_named_property(env, out, "stats", rows_array(env, st, (size_t)count));
    free(st);
    free(nbuf);
  }
  return out;
}

/* Rejects DEFERRED with an Error `MSG` whose code is E<ERR> (as throw_errno words them). */
static void reject_errno(napi_env env, napi_deferred deferred, const char *msg, int err) {
  char code[32];
  snprintf(code, sizeof code, "E%d", err);
  napi_value m, c, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_reject_deferred(env, deferred, e);
}

/* Runs EXEC on Node's thread pool, then DONE on the main thread; returns the promise DONE settles
 * through *DEFERRED. */
static napi_value queue_promise(napi_env env, const char *name, napi_async_execute_callback exec, napi_async_complete_callback done, void *data,
                                napi_deferred *deferred, napi_async_work *work) {
  napi_value promise, n;
  napi_create_promise(env, deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &n);
  napi_create_async_work(env, NULL, n, exec, done, data, work);
  napi_queue_async_work(env, *work);
  return promise;
}

struct sync_work {
  napi_async_work work;
  napi_deferred deferred;
  int fd, err;
  char path[PATH_BUF];
};

static void sync_execute(napi_env env, void *data) {
  (void)env;
  struct sync_work *w = data;
  w->err = syncfs(w->fd) < 0 ? errno : 0;
  close(w->fd);
}

static void sync_complete(napi_env env, napi_status status, void *data) {
  struct sync_work *w = data;
  if (status == napi_ok && w->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, w->deferred, undef);
  } else {
    int err = status == napi_ok ? w->err : ECANCELED;
    char msg[PATH_BUF + 128];
    snprintf(msg, sizeof msg, "syncfs %s: %s", w->path, strerror(err));
    reject_errno(env, w->deferred, msg, err);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

/* syncfs(path) -> Promise<void>: the path is opened here (so a bad one throws at once), syncfs(2)
 * runs on Node's thread pool, and the promise settles with its outcome (an Error with code E<errno>). */
static napi_value js_syncfs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "syncfs(path)");
    return NULL;
  }
  struct sync_work *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "syncfs", "", ENOMEM);
  if (get_string(env, argv[0], w->path, sizeof w->path) < 0) {
    free(w);
    return NULL;
  }
  w->fd = open(w->path, O_RDONLY | O_CLOEXEC);
  if (w->fd < 0) {
    int err = errno;
    napi_value r = throw_errno(env, "open", w->path, err);
    free(w);
    return r;
  }
  return queue_promise(env, "fsx.syncfs", sync_execute, sync_complete, w, &w->deferred, &w->work);
}

/* The sealed copy spawnPiped(..., sealed) runs: PATH's bytes in a memfd named ARGV0 that can no
 * longer be written, grown or shrunk, made once and kept (close-on-exec) while PATH names the same
 * file, unchanged (device, inode, size, mtime, ctime). */
static struct {
  char path[PATH_BUF], name[NAME_BUF];
  struct stat st;
  int fd;
} sealed_exe = {.fd = -1};

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The sealed copy of PATH (an fd >= 64, above any fd a child is given), -1 when PATH is a script
 * (its interpreter must open it by name, and the close-on-exec copy is gone by then: the script
 * runs from PATH), or -errno. */
static int sealed_copy(const char *path, const char *name) {
  struct stat st;
  if (stat(path, &st) < 0) return -errno;
  if (sealed_exe.fd >= 0 && !strcmp(sealed_exe.path, path) && !strcmp(sealed_exe.name, name) && same_file(&sealed_exe.st, &st))
    return sealed_exe.fd;
  int in = open(path, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -errno;
  char magic[2];
  if (pread(in, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!') {
    close(in);
    return -1;
  }
  int mfd = -1, err = 0;
  if (fstat(in, &st) < 0 || (mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0) err = errno;
  for (off_t off = 0; !err && off < st.st_size;) {
    ssize_t w = sendfile(mfd, in, &off, (size_t)(st.st_size - off));
    if (w <= 0) err = w < 0 ? errno : EIO;
  }
  close(in);
  if (!err && fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) err = errno;
  int high = err ? -1 : fcntl(mfd, F_DUPFD_CLOEXEC, 64);
  if (!err && high < 0) err = errno;
  if (mfd >= 0) close(mfd);
  if (err) return -err;
  if (sealed_exe.fd >= 0) close(sealed_exe.fd);
  snprintf(sealed_exe.path, sizeof sealed_exe.path, "%s", path);
  snprintf(sealed_exe.name, sizeof sealed_exe.name, "%s", name);
  sealed_exe.st = st;
  sealed_exe.fd = high;
  return high;
}

/* spawnPiped(path, argv0, kinds[, sealed]) -> { pid, fds }: runs PATH (argv [ARGV0], an empty
 * environment, every signal at its default and none blocked) with, for child fd i, kinds[i]: "null"
 * (/dev/null: read on fd 0, write on the others), "r" (a pipe the child reads: fds[i] is our write
 * end) or "w" (one it writes: fds[i] our read end); fds[i] is -1 for "null". Our ends are
 * close-on-exec. The child must be reaped (waitpid). With SEALED true, what runs is a sealed memfd
 * copy of PATH named ARGV0, made once for the spawns that follow (sealed_copy; a script runs from
 * PATH): the sandbox helper, which otherwise copies itself into one and executes that at every run
 * (CVE-2019-5736), finds itself running from it already. */
static napi_value js_spawnpiped(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], arg0[NAME_BUF];
  uint32_t n = 0;
  bool sealed = false;
  if (argc < 3 || get_string(env, argv[0], path, sizeof path) < 0 || get_string(env, argv[1], arg0, sizeof arg0) < 0) return NULL;
  if (napi_get_array_length(env, argv[2], &n) != napi_ok || n == 0 || n > 16 || (argc > 3 && napi_get_value_bool(env, argv[3], &sealed) != napi_ok)) {
    napi_throw_type_error(env, NULL, "spawnPiped(path, argv0, kinds[, sealed]): 1 to 16 kinds");
    return NULL;
  }
  char exe[64];
  if (sealed) {
    int fd = sealed_copy(path, arg0);
    if (fd < -1) return throw_errno(env, "sealed copy of", path, -fd);
    sealed = fd >= 0;
    snprintf(exe, sizeof exe, "/proc/self/fd/%d", fd);
  }
  int ours[16], theirs[16], err = 0;
  for (uint32_t i = 0; i < n; i++) ours[i] = theirs[i] = -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  for (uint32_t i = 0; i < n && !err; i++) {
    napi_value k;
    char kind[8];
    napi_get_element(env, argv[2], i, &k);
    if (get_string(env, k, kind, sizeof kind) < 0) {
      err = -1;
      break;
    }
    if (!strcmp(kind, "null")) {
      posix_spawn_file_actions_addopen(&fa, (int)i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
      continue;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
      err = errno;
      break;
    }
    int child_reads = !strcmp(kind, "r");
    ours[i] = child_reads ? p[1] : p[0];
    theirs[i] = child_reads ? p[0] : p[1];
    /* (dup2 onto the same number would keep close-on-exec: never the case, our fds are >= 3 apart) */
    posix_spawn_file_actions_adddup2(&fa, theirs[i], (int)i);
  }
  pid_t pid = -1;
  if (!err) {
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *args[] = {arg0, NULL};
    char *envp[] = {NULL};
    /* (the child opens /proc/self/fd/N before exec closes its close-on-exec fds) */
    err = posix_spawn(&pid, sealed ? exe : path, &fa, &at, args, envp);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  for (uint32_t i = 0; i < n; i++)
    if (theirs[i] >= 0) close(theirs[i]);
  if (err) {
    for (uint32_t i = 0; i < n; i++)
      if (ours[i] >= 0) close(ours[i]);
    return err > 0 ? throw_errno(env, "posix_spawn", path, err) : NULL;
  }
  napi_value out, fds, v;
  napi_create_object(env, &out);
  napi_create_array_with_length(env, n, &fds);
  for (uint32_t i = 0; i < n; i++) {
    napi_create_int32(env, ours[i], &v);
    napi_set_element(env, fds, i, v);
  }
  napi_create_int32(env, pid, &v);
  napi_set_named_property(env, out, "pid", v);
  napi_set_named_property(env, out, "fds", fds);
  return out;
}

/* waitpid(pid) -> Promise<{ code, signal }>: waits for the child on the thread pool and reaps it
 * (code: its exit status, or null when a signal ended it; signal: that signal's number, or null).
 * waitpid(pid, true) -> { code, signal } | null: reaps it now if it has exited (WNOHANG), without
 * the thread pool, whose threads may all be busy with fsyncs; null while it still runs. */
struct wait_work {
  napi_async_work work;
  napi_deferred deferred;
  pid_t pid;
  int status, err;
};

static void wait_execute(napi_env env, void *data) {
  (void)env;
  struct wait_work *w = data;
  pid_t r;
  do r = waitpid(w->pid, &w->status, 0);
  while (r < 0 && errno == EINTR);
  w->err = r < 0 ? errno : 0;
}

/* { code, signal } of a wait status */
static napi_value wait_status_object(napi_env env, int st) {
  napi_value out, code, sig;
  napi_create_object(env, &out);
  if (WIFEXITED(st)) napi_create_int32(env, WEXITSTATUS(st), &code);
  else napi_get_null(env, &code);
  if (WIFSIGNALED(st)) napi_create_int32(env, WTERMSIG(st), &sig);
  else napi_get_null(env, &sig);
  napi_set_named_property(env, out, "code", code);
  napi_set_named_property(env, out, "signal", sig);
  return out;
}

static void wait_complete(napi_env env, napi_status status, void *data) {
  struct wait_work *w = data;
  if (status != napi_ok || w->err) {
    char msg[64];
    int err = status == napi_ok ? w->err : ECANCELED;
    snprintf(msg, sizeof msg, "waitpid %d: %s", (int)w->pid, strerror(err));
    reject_errno(env, w->deferred, msg, err);
  } else {
    napi_resolve_deferred(env, w->deferred, wait_status_object(env, w->status));
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

static napi_value js_waitpid(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t pid = 0;
  bool now = false;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0 ||
      (argc > 1 && napi_get_value_bool(env, argv[1], &now) != napi_ok)) {
    napi_throw_type_error(env, NULL, "waitpid(pid[, now])");
    return NULL;
  }
  if (now) {
    int st = 0;
    pid_t r;
    do r = waitpid(pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      char what[16];
      snprintf(what, sizeof what, "%d", (int)pid);
      return throw_errno(env, "waitpid", what, errno);
    }
    if (r == 0) {
      napi_value none;
      napi_get_null(env, &none);
      return none;
    }
    return wait_status_object(env, st);
  }
  struct wait_work *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "waitpid", "", ENOMEM);
  w->pid = pid;
  return queue_promise(env, "fsx.waitpid", wait_execute, wait_complete, w, &w->deferred, &w->work);
}


/* ---- op queue ------------------------------------------------------------------------------- */

#define OPQ_BATCH 64
enum { OP_MKDIR = 1, OP_LINK = 2, OP_SYMLINK = 3, OP_LCHOWN = 4, OP_CHMOD = 5, OP_UTIMES = 6, OP_FILE = 7 };
static const char *const OP_NAMES[] = {"", "mkdir", "link", "symlink", "lchown", "chmod", "utimes", "write"};

struct op {
  struct op *next;
  int kind;
  bool soft;     /* a failure is reported and the queue goes on (a donor link the caller can redo) */
  int64_t n1, n2; /* mode | uid, gid | seconds */
  char *a, *b;    /* path, second path (link: a = existing, b = new; symlink: a = target, b = path) */
  /* OP_FILE: a new file (O_EXCL) at a with these bytes, then owner (uid >= 0), mode n1, mtime n2 */
  int64_t uid, gid;
  size_t len;
  unsigned char *data;
};

/* OP_FILE's work: the file made, written, owned, moded and timed as a layer's entry is. */
static int write_file(struct op *o) {
  int fd = open(o->a, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  for (size_t off = 0; off < o->len;) {
    ssize_t n = write(fd, o->data + off, o->len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      goto fail;
    }
    off += (size_t)n;
  }
  if (o->uid >= 0 && fchown(fd, (uid_t)o->uid, (gid_t)o->gid) < 0) goto fail;
  if (fchmod(fd, (mode_t)o->n1) < 0) goto fail;
  struct timespec ts[2] = {{(time_t)o->n2, 0}, {(time_t)o->n2, 0}};
  if (futimens(fd, ts) < 0) goto fail;
  return close(fd);
fail: {
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}
}

struct opq {
  pthread_mutex_t mu;
  pthread_cond_t more, idle;
  pthread_t thread;
  struct op *head, *tail;
  bool busy, closing, joined, waiting;
  /* ops pushed since the thread was last woken: it is woken per OPQ_BATCH of them (or by drain),
   * not per op, which would cost a futex wake each */
  unsigned unsignaled;
  /* the first hard failure: later ops are skipped (they may depend on it) */
  int err;
  char err_call[16];
  char *err_path;
  /* soft failures: the new paths of links that could not be made, NUL-separated */
  char *soft;
  size_t soft_len, soft_cap;
};

static int run_op(struct op *o) {
  switch (o->kind) {
    case OP_MKDIR: return mkdir(o->a, (mode_t)o->n1);
    case OP_LINK: return link(o->a, o->b);
    case OP_SYMLINK: return symlink(o->a, o->b);
    case OP_LCHOWN: return lchown(o->a, (uid_t)o->n1, (gid_t)o->n2);
    case OP_CHMOD: return chmod(o->a, (mode_t)o->n1);
    case OP_UTIMES: {
      struct timespec ts[2] = {{(time_t)o->n1, 0}, {(time_t)o->n1, 0}};
      return utimensat(AT_FDCWD, o->a, ts, AT_SYMLINK_NOFOLLOW);
    }
    case OP_FILE: return write_file(o);
  }
  errno = EINVAL;
  return -1;
}

static void soft_fail(struct opq *q, const char *path) {
  size_t n = strlen(path) + 1;
  if (q->soft_len + n > q->soft_cap) {
    size_t cap = q->soft_cap ? q->soft_cap * 2 : 4096;
    while (cap < q->soft_len + n) cap *= 2;
    char *p = realloc(q->soft, cap);
    if (!p) {
      if (!q->err) q->err = ENOMEM, snprintf(q->err_call, sizeof q->err_call, "%s", "link"), q->err_path = strdup(path);
      return;
    }
    q->soft = p;
    q->soft_cap = cap;
  }
  memcpy(q->soft + q->soft_len, path, n);
  q->soft_len += n;
}

static void *opq_main(void *arg) {
  struct opq *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (!q->head && !q->closing) {
      q->waiting = true;
      pthread_cond_wait(&q->more, &q->mu);
      q->waiting = false;
    }
    /* woken for a batch (or a drain): take everything queued so far */
    q->unsignaled = 0;
    if (!q->head) break;
    struct op *o = q->head;
    q->head = NULL;
    q->tail = NULL;
    q->busy = true;
    bool failed = q->err != 0;
    pthread_mutex_unlock(&q->mu);
    /* a batch, run without the lock; failures recorded under it */
    while (o) {
      struct op *next = o->next;
      if (!failed && run_op(o) < 0) {
        int e = errno;
        pthread_mutex_lock(&q->mu);
        if (o->soft) soft_fail(q, o->b);
        else if (!q->err) {
          q->err = e;
          snprintf(q->err_call, sizeof q->err_call, "%s", OP_NAMES[o->kind]);
          q->err_path = strdup(o->kind == OP_LINK || o->kind == OP_SYMLINK ? o->b : o->a);
          failed = true;
        }
        pthread_mutex_unlock(&q->mu);
      }
      free(o->a);
      free(o->b);
      free(o->data);
      free(o);
      o = next;
    }
    pthread_mutex_lock(&q->mu);
    q->busy = false;
    if (!q->head) pthread_cond_broadcast(&q->idle);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

/* Lets the thread finish what is queued, then joins it. */
static void opq_stop(struct opq *q) {
  if (q->joined) return;
  pthread_mutex_lock(&q->mu);
  q->closing = true;
  pthread_cond_signal(&q->more);
  pthread_mutex_unlock(&q->mu);
  pthread_join(q->thread, NULL);
  q->joined = true;
}

static void opq_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct opq *q = data;
  opq_stop(q);
  free(q->err_path);
  free(q->soft);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->more);
  pthread_cond_destroy(&q->idle);
  free(q);
}

static struct opq *get_opq(napi_env env, napi_value v) {
  return fsx_external(env, v, "an op queue");
}

/* The queue a one-argument call names (a TypeError thrown when it names none). */
static struct opq *arg_opq(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "expected an op queue");
    return NULL;
  }
  return get_opq(env, argv[0]);
}

/* The queue V names, if it still takes ops (else NULL with an error thrown naming CALL). */
static struct opq *open_opq(napi_env env, napi_value v, const char *call) {
  struct opq *q = get_opq(env, v);
  if (q && q->joined) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s: the queue is closed", call);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  return q;
}

/* opQueue() -> an external: the queue and its thread (joined when the external is collected or
 * closed with opClose). */
static napi_value js_opqueue(napi_env env, napi_callback_info info) {
  (void)info;
  struct opq *q = calloc(1, sizeof *q);
  if (!q) return throw_errno(env, "opQueue", "", ENOMEM);
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->more, NULL);
  pthread_cond_init(&q->idle, NULL);
  int e = pthread_create(&q->thread, NULL, opq_main, q);
  if (e) {
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->more);
    pthread_cond_destroy(&q->idle);
    free(q);
    return throw_errno(env, "pthread_create", "op queue", e);
  }
  napi_value ext;
  napi_create_external(env, q, opq_finalize, NULL, &ext);
  return ext;
}

static char *dup_string(napi_env env, napi_value v) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return NULL;
  }
  char *s = malloc(n + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, n + 1, &n);
  return s;
}

static void enqueue(struct opq *q, struct op *o) {
  pthread_mutex_lock(&q->mu);
  if (q->tail) q->tail->next = o;
  else q->head = o;
  q->tail = o;
  if (q->waiting && ++q->unsignaled >= OPQ_BATCH) {
    q->unsignaled = 0;
    pthread_cond_signal(&q->more);
  }
  pthread_mutex_unlock(&q->mu);
}

/* opPush(queue, kind, a, b, n1, n2, soft): b is a string for link/symlink, else ignored. */
static napi_value js_oppush(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "opPush(queue, kind, a, b, n1, n2, soft)");
    return NULL;
  }
  struct opq *q = open_opq(env, argv[0], "opPush");
  if (!q) return NULL;
  struct op *o = calloc(1, sizeof *o);
  if (!o) return throw_errno(env, "opPush", "", ENOMEM);
  int32_t kind = 0;
  napi_get_value_int32(env, argv[1], &kind);
  o->kind = kind;
  napi_get_value_int64(env, argv[4], &o->n1);
  napi_get_value_int64(env, argv[5], &o->n2);
  if (argc > 6) napi_get_value_bool(env, argv[6], &o->soft);
  o->a = dup_string(env, argv[2]);
  if (o->a && (kind == OP_LINK || kind == OP_SYMLINK)) o->b = dup_string(env, argv[3]);
  if (!o->a || ((kind == OP_LINK || kind == OP_SYMLINK) && !o->b) || kind < OP_MKDIR || kind > OP_UTIMES) {
    free(o->a);
    free(o->b);
    free(o);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_type_error(env, NULL, "opPush: bad op");
    return NULL;
  }
  enqueue(q, o);
  return NULL;
}

/* opFile(queue, path, bytes, mode, uid, gid, mtime): OP_FILE with a copy of BYTES (a Buffer);
 * uid -1: no chown. */
static napi_value js_opfile(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "opFile(queue, path, bytes, mode, uid, gid, mtime)");
    return NULL;
  }
  struct opq *q = open_opq(env, argv[0], "opFile");
  if (!q) return NULL;
  void *data = NULL;
  size_t len = 0;
  bool isBuffer = false;
  napi_is_buffer(env, argv[2], &isBuffer);
  if (!isBuffer || napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "opFile: expected a Buffer");
    return NULL;
  }
  struct op *o = calloc(1, sizeof *o);
  if (!o) return throw_errno(env, "opFile", "", ENOMEM);
  o->kind = OP_FILE;
  o->a = dup_string(env, argv[1]);
  o->data = len ? malloc(len) : NULL;
  if (!o->a || (len && !o->data)) {
    free(o->a);
    free(o->data);
    free(o);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    return pending ? NULL : throw_errno(env, "opFile", "", ENOMEM);
  }
  if (len) memcpy(o->data, data, len);
  o->len = len;
  napi_get_value_int64(env, argv[3], &o->n1);
  napi_get_value_int64(env, argv[4], &o->uid);
  napi_get_value_int64(env, argv[5], &o->gid);
  napi_get_value_int64(env, argv[6], &o->n2);
  enqueue(q, o);
  return NULL;
}

/* opDrain(queue) -> string[]: waits until every op pushed so far ran; returns the new paths of soft
 * links that failed (and forgets them); throws the first hard failure (code E<errno>, which ops
 * after it were skipped for). */
static napi_value js_opdrain(napi_env env, napi_callback_info info) {
  struct opq *q = arg_opq(env, info);
  if (!q) return NULL;
  pthread_mutex_lock(&q->mu);
  if (q->head) pthread_cond_signal(&q->more);
  while (q->head || q->busy) pthread_cond_wait(&q->idle, &q->mu);
  if (q->err) {
    char call[16], path[PATH_BUF];
    int err = q->err;
    snprintf(call, sizeof call, "%s", q->err_call);
    snprintf(path, sizeof path, "%s", q->err_path ? q->err_path : "");
    pthread_mutex_unlock(&q->mu);
    return throw_errno(env, call, path, err);
  }
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  for (size_t off = 0; off < q->soft_len; i++) {
    napi_value s;
    size_t n = strlen(q->soft + off);
    napi_create_string_utf8(env, q->soft + off, n, &s);
    napi_set_element(env, arr, i, s);
    off += n + 1;
  }
  q->soft_len = 0;
  pthread_mutex_unlock(&q->mu);
  return arr;
}

/* opClose(queue): runs what is queued and ends the thread (pushing after it is an error). */
static napi_value js_opclose(napi_env env, napi_callback_info info) {
  struct opq *q = arg_opq(env, info);
  if (q) opq_stop(q);
  return NULL;
}

/* mapLatin1(path) -> string | undefined: the file's bytes as a one-byte (latin1) V8 string that
 * V8 reads in place from a read-only private mapping of the file: no read buffer and no string
 * copy, each ~2.5 ms per MiB first touched on tsbuild's CI machine kind (the launcher's 1.2-1.6 MB
 * bundle: ~1 ms instead of ~12). The mapping lives as long as the string: V8 calls the finalizer,
 * which unmaps it, once the string (and the script compiled from it) is gone. The caller must
 * never see the file rewritten in place (a truncation SIGBUSes a reader of the mapping):
 * scripts/bundle.mjs writes a new file and renames it over the old.
 * node_api_create_external_string_latin1 is experimental in Node 20: it is looked up at run time
 * (not compiled in under NAPI_EXPERIMENTAL, which would change what the whole addon links against),
 * and without it, for an empty file, or on any failure, undefined: the caller reads the file. */
typedef napi_status (*make_external_latin1_fn)(napi_env, char *, size_t, napi_finalize, void *, napi_value *, bool *);

static void unmap_latin1(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value js_maplatin1(napi_env env, napi_callback_info info) {
  static make_external_latin1_fn make;
  static bool looked_up;
  if (!looked_up) {
    make = (make_external_latin1_fn)dlsym(RTLD_DEFAULT, "node_api_create_external_string_latin1");
    looked_up = true;
  }
  size_t argc = 1;
  napi_value argv[1];
  char path[PATH_BUF];
  size_t n;
  if (!make || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &n) != napi_ok || n + 1 >= sizeof path)
    return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  void *p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < ((uint64_t)1 << 30))
    /* no MAP_POPULATE: with a code cache V8 need not read every page (those it reads fault in,
     * 16 at a time, as lazy functions compile); populating them all was no faster (40 runs) */
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return NULL;
  size_t len = (size_t)st.st_size;
  napi_value r;
  bool copied = false;
  if (make(env, p, len, unmap_latin1, (void *)(uintptr_t)len, &r, &copied) != napi_ok) {
    munmap(p, len);
    return NULL;
  }
  /* copied: V8 made a string of its own and Node has called the finalizer (the mapping is gone) */
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lstatDir", NULL, js_lstatdir, NULL, NULL, NULL, napi_enumerable, NULL},
      {"statDirKey", NULL, js_statdirkey, NULL, NULL, NULL, napi_enumerable, NULL},
      {"syncfs", NULL, js_syncfs, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spawnPiped", NULL, js_spawnpiped, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waitpid", NULL, js_waitpid, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opQueue", NULL, js_opqueue, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opPush", NULL, js_oppush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opDrain", NULL, js_opdrain, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opClose", NULL, js_opclose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opFile", NULL, js_opfile, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sha256Hex", NULL, sha256_js_hex, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sha256New", NULL, sha256_js_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sha256Update", NULL, sha256_js_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sha256DigestHex", NULL, sha256_js_digest_hex, NULL, NULL, NULL, napi_enumerable, NULL},
      {"randomFill", NULL, sha256_js_random_fill, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mapLatin1", NULL, js_maplatin1, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  blobw_register(env, exports);
  prefault_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

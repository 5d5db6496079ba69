/*
 * A blob written and hashed off the main thread (fsx.node): the caller hands over chunks (copied
 * here, so it may reuse its buffers at once) and goes on producing the next ones, while one thread
 * hashes them (SHA-256 through the OpenSSL that Node itself carries) and another writes them to the
 * file — whole pages straight to the disk (O_DIRECT; the blob is rarely read back soon, and filling
 * fresh page-cache pages cost ~2.4 ms per MiB of CPU on this machine kind), flushing a durable
 * blob's part every SYNC_EVERY bytes; where the filesystem has no direct I/O, through the page
 * cache with writeback started every WRITEBACK bytes (sync_file_range). The writer may wait for
 * the disk, the hasher goes on meanwhile. On the main thread a 51 MB layer cost ~45 ms of hashing
 * and ~60 ms of copying and write calls; the second core does it here.
 * Memory is bounded: a push waits while LIMIT bytes are queued. The first write error stops the
 * thread; the next push throws it and end() rejects with it (code E<errno>, as fsx's other calls).
 */
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <openssl/evp.h>
#include "blob-writer.h"

#define BLOCK (1u << 20)
#define LIMIT (32u << 20)
#define WRITEBACK (16u << 20)
/* A durable blob written directly is fdatasync'd every SYNC_EVERY bytes on the writer's thread: the
 * disk flushes its cache of one part while the next is written, instead of all of it in the final
 * fsync (1 GiB: ~0.65 s of writes, then ~0.7 s of fsync here, against ~1.0-1.4 s together). */
#define SYNC_EVERY (64u << 20)
#define SPARE (LIMIT / BLOCK + 2)

/* A block's bytes start on a page boundary: the writer hands them to the disk without the page
 * cache (O_DIRECT), which wants the buffer, the file offset and the length aligned. */
#define ALIGN 4096u

/* Bytes of a file that go into the blob at a point of a block's data (blobPushGather): read by
 * the hasher's thread, straight into the block the writer gets. */
struct mark {
  size_t at;      /* in the block's data: the file's bytes come before data[at] */
  int fd;         /* the caller's: open until end() settles */
  uint64_t off;   /* where they are in the file */
  uint64_t len;
};

struct block {
  struct block *next;
  size_t len, cap;
  bool hash;
  /* ranges of files inserted into the data (none for most blocks), in order of `at` */
  struct mark *marks;
  unsigned nmarks, capmarks;
  uint64_t total; /* len + the marks' lengths */
  bool pooled;    /* from the arena (arena_take): given back to it, never freed */
  _Alignas(ALIGN) unsigned char data[];
};

/*
 * The process's BLOCK-sized blocks come from one arena kept for the process's life, shared by all
 * its blob writers: a layer's writer starts with blocks an earlier one filled, not fresh memory.
 * The arena is mapped with MADV_HUGEPAGE: a page first touched costs ~2.5 ms per MiB on this
 * machine kind (a fault and a zeroed 4 KiB page each), a 2 MiB huge page a small part of that —
 * the blocks of a 51 MB layer were ~3,000 faults of the hasher's thread. At most ARENA_BLOCKS
 * exist; beyond them (writers side by side) a block is malloc'd and freed as before.
 */
#define SLOT (BLOCK + ALIGN)
_Static_assert(sizeof(struct block) == ALIGN, "a block's header is one page: SLOT = header + BLOCK");
#define ARENA_BLOCKS 40u
#define HUGE (2u << 20)

static struct {
  pthread_mutex_t mu;
  unsigned char *base; /* ARENA_BLOCKS slots, reserved at the first block */
  unsigned carved;     /* slots handed out at least once */
  struct block *free;  /* slots given back */
} arena = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A block of BLOCK bytes from the arena, or NULL when it has none left (or cannot be mapped). */
static struct block *arena_take(void) {
  struct block *b = NULL;
  pthread_mutex_lock(&arena.mu);
  if (arena.free) {
    b = arena.free;
    arena.free = b->next;
  } else {
    if (!arena.base) {
      /* aligned to a huge page, so that every whole 2 MiB of it can be one */
      size_t len = (size_t)ARENA_BLOCKS * SLOT + HUGE;
      unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m != MAP_FAILED) {
        unsigned char *start = (unsigned char *)(((uintptr_t)m + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
        madvise(start, (size_t)ARENA_BLOCKS * SLOT, MADV_HUGEPAGE); /* (advice: ignored where THP is off) */
        arena.base = start;
      }
    }
    if (arena.base && arena.carved < ARENA_BLOCKS) {
      b = (struct block *)(arena.base + (size_t)arena.carved++ * SLOT);
      b->marks = NULL;
      b->capmarks = 0;
      b->pooled = true;
    }
  }
  pthread_mutex_unlock(&arena.mu);
  return b;
}

/* Gives an arena block back (its marks array kept with it for the next user). */
static void arena_give(struct block *b) {
  pthread_mutex_lock(&arena.mu);
  b->next = arena.free;
  arena.free = b;
  pthread_mutex_unlock(&arena.mu);
}

struct blobw {
  pthread_mutex_t mu;
  pthread_cond_t more, hashed_more, room;
  /* two threads: the hasher takes sealed blocks, hashes them and hands them to the writer, which
   * writes them (and waits for the disk when it must: the hasher does not) */
  pthread_t thread, writer;
  bool started, ending, done, hashing_done, joined;
  int fd;
  /* the same file opened O_DIRECT (-1 where the filesystem has no direct I/O): whole pages go
   * through it from the block to the disk, skipping the page cache — copying a layer into fresh
   * page-cache pages was the writer's main cost (~2.4 ms per MiB on this machine kind), and the
   * final fsync then has only metadata and the last partial page left. Once the file offset is
   * not page-aligned (a short block: the blob's last, or one of unhashed bytes) the rest goes
   * through `fd`. */
  int dfd;
  bool durable; /* blobOpen's second argument: the caller will fsync, so flushing early pays */
  uint64_t synced;
  /* sealed blocks the hasher takes, oldest first; `open` is the one pushes still fill */
  struct block *head, *tail, *open;
  /* hashed blocks the writer takes */
  struct block *whead, *wtail;
  /* written blocks of BLOCK bytes kept for reuse: a block malloc'd per MiB is mmap'd fresh, and
   * every page of it faulted in and zeroed (~a quarter of a 1 GiB load's CPU) */
  struct block *spare;
  unsigned nspare;
  /* bytes pushed or read in and not yet written (a push waits while there are LIMIT), and of them
   * those handed to the writer (the hasher waits while there are LIMIT / 2 before it reads more
   * of a marked file: a file range takes no memory until it is read) */
  size_t queued, wqueued;
  uint64_t size, written, flushed;
  EVP_MD_CTX *md;
  int err;
  const char *err_call;
  char path[4096];
  /* end(): the promise and its work */
  napi_deferred deferred;
  napi_async_work work;
  unsigned char digest[32];
};

static void set_err(struct blobw *w, const char *call, int e) {
  if (!w->err) {
    w->err = e;
    w->err_call = call;
  }
}

/* Frees a list of blocks. */
static void free_blocks(struct block *b) {
  while (b) {
    struct block *n = b->next;
    if (b->pooled) {
      arena_give(b);
    } else {
      free(b->marks);
      free(b);
    }
    b = n;
  }
}

/* An empty block of CAP bytes for bytes of this kind (hashed or not): a spare one when it is of
 * BLOCK bytes and there is one, else a new one; NULL when out of memory (the lock held, dropped
 * while allocating). */
static struct block *new_block(struct blobw *w, size_t cap, bool hash) {
  struct block *b = NULL;
  if (cap == BLOCK && w->spare) {
    b = w->spare;
    w->spare = b->next;
    w->nspare--;
  } else {
    pthread_mutex_unlock(&w->mu);
    b = cap == BLOCK ? arena_take() : NULL;
    if (!b) {
      b = aligned_alloc(ALIGN, (sizeof *b + cap + ALIGN - 1) & ~(size_t)(ALIGN - 1));
      if (b) {
        b->marks = NULL;
        b->capmarks = 0;
        b->pooled = false;
      }
    }
    pthread_mutex_lock(&w->mu);
    if (!b) return NULL;
  }
  b->next = NULL;
  b->len = 0;
  b->cap = cap;
  b->hash = hash;
  b->nmarks = 0;
  b->total = 0;
  return b;
}

/* A block the hasher fills, once the writer's queue has room (the lock held). */
static struct block *take_block(struct blobw *w) {
  while (!w->err && w->wqueued >= LIMIT / 2) pthread_cond_wait(&w->room, &w->mu);
  return new_block(w, BLOCK, true);
}

/* Hands a block to the writer (the lock held). */
static void to_writer(struct blobw *w, struct block *b) {
  b->next = NULL;
  w->wqueued += b->len;
  if (w->wtail) w->wtail->next = b;
  else w->whead = b;
  w->wtail = b;
  pthread_cond_signal(&w->hashed_more);
}

/* A block the writer has no use for: kept for reuse or freed (the lock held). */
static void recycle(struct blobw *w, struct block *b) {
  if (b->cap == BLOCK && w->nspare < SPARE) {
    b->next = w->spare;
    w->spare = b;
    w->nspare++;
  } else {
    b->next = NULL;
    free_blocks(b);
  }
}

/*
 * The hasher's thread: takes the pushed blocks in order, hashes their bytes and hands blocks to the
 * writer. A full block without marks goes on as it is; otherwise the bytes are assembled into
 * blocks of BLOCK bytes (`out`): pushed bytes copied, a mark's file bytes read straight in — so
 * whatever the pieces, the writer gets whole pages (direct I/O) but for the blob's last block.
 * Runs without the lock but for queue and spare-list changes.
 */
static void *blobw_hasher(void *arg) {
  struct blobw *w = arg;
  struct block *out = NULL;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->head && !w->ending) pthread_cond_wait(&w->more, &w->mu);
    struct block *b = w->head;
    if (!b) break; /* ending, and all taken */
    w->head = b->next;
    if (!w->head) w->tail = NULL;
    if (w->err) { /* failed: what is left is dropped (the writer accounts for it) */
      w->queued -= b->len;
      recycle(w, b);
      pthread_cond_broadcast(&w->room);
      continue;
    }
    if (!out && b->nmarks == 0 && b->len == b->cap) { /* as it is */
      pthread_mutex_unlock(&w->mu);
      bool bad = b->hash && EVP_DigestUpdate(w->md, b->data, b->len) != 1;
      pthread_mutex_lock(&w->mu);
      if (bad) set_err(w, "sha256", EIO);
      to_writer(w, b);
      continue;
    }
    pthread_mutex_unlock(&w->mu);
    int e = 0;
    const char *call = NULL;
    size_t from = 0; /* b's data placed so far */
    for (unsigned m = 0; !e && m <= b->nmarks; m++) {
      size_t upto = m < b->nmarks ? b->marks[m].at : b->len;
      uint64_t left = m < b->nmarks ? b->marks[m].len : 0, off = m < b->nmarks ? b->marks[m].off : 0;
      /* b's data before the mark, then the mark's file bytes */
      while (!e && (from < upto || left > 0)) {
        if (!out) {
          pthread_mutex_lock(&w->mu);
          out = take_block(w);
          pthread_mutex_unlock(&w->mu);
          if (!out) {
            e = ENOMEM, call = "blob writer";
            break;
          }
        }
        unsigned char *at = out->data + out->len;
        size_t room = out->cap - out->len, n;
        if (from < upto) {
          n = upto - from < room ? upto - from : room;
          memcpy(at, b->data + from, n);
          from += n;
        } else {
          n = left < room ? (size_t)left : room;
          ssize_t r = pread(b->marks[m].fd, at, n, (off_t)off);
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) {
            e = r < 0 ? errno : EIO, call = "read of an earlier layer's blob";
            break;
          }
          n = (size_t)r;
          off += n;
          left -= n;
          pthread_mutex_lock(&w->mu);
          w->queued += n; /* (counted once read: see `queued`) */
          pthread_mutex_unlock(&w->mu);
        }
        if (b->hash && EVP_DigestUpdate(w->md, at, n) != 1) e = EIO, call = "sha256";
        out->len += n;
        if (out->len == out->cap) {
          pthread_mutex_lock(&w->mu);
          to_writer(w, out);
          pthread_mutex_unlock(&w->mu);
          out = NULL;
        }
      }
    }
    pthread_mutex_lock(&w->mu);
    if (e) {
      set_err(w, call, e);
      pthread_cond_broadcast(&w->room); /* (a push waiting for room throws it) */
    }
    recycle(w, b); /* (its bytes are in `out` blocks now, counted in `queued` until written) */
  }
  if (out) {
    if (out->len > 0 && !w->err) to_writer(w, out);
    else recycle(w, out);
  }
  w->hashing_done = true;
  pthread_cond_signal(&w->hashed_more);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void *blobw_main(void *arg) {
  struct blobw *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->whead && !w->hashing_done) pthread_cond_wait(&w->hashed_more, &w->mu);
    struct block *b = w->whead;
    if (!b) break; /* the hasher has ended, and all taken */
    w->whead = b->next;
    if (!w->whead) w->wtail = NULL;
    bool failed = w->err != 0;
    pthread_mutex_unlock(&w->mu);
    int e = 0;
    const char *call = NULL;
    if (!failed) {
      size_t off = 0;
      if (w->dfd >= 0 && w->written % ALIGN == 0) {
        size_t whole = b->len & ~(size_t)(ALIGN - 1);
        while (off < whole) {
          ssize_t n = pwrite(w->dfd, b->data + off, whole - off, (off_t)w->written);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0 || (size_t)n % ALIGN != 0) { /* no direct I/O here after all: the page cache then */
            if (n > 0) off += (size_t)n, w->written += (uint64_t)n;
            close(w->dfd);
            w->dfd = -1;
            break;
          }
          off += (size_t)n;
          w->written += (uint64_t)n;
        }
        w->flushed = w->written; /* (nothing of it is in the page cache to start writeback on) */
        if (w->durable && w->dfd >= 0 && w->written - w->synced >= SYNC_EVERY) {
          if (fdatasync(w->fd) != 0) e = errno, call = "fdatasync";
          w->synced = w->written;
        }
      }
      while (!e && off < b->len) {
        ssize_t n = pwrite(w->fd, b->data + off, b->len - off, (off_t)w->written);
        if (n < 0) {
          if (errno == EINTR) continue;
          e = errno, call = "write";
        } else {
          off += (size_t)n;
          w->written += (uint64_t)n;
        }
      }
      if (!e && w->written - w->flushed >= WRITEBACK) {
        /* start the disk on what is written so far; the final fsync then waits for less */
        sync_file_range(w->fd, (off_t)w->flushed, (off_t)(w->written - w->flushed), SYNC_FILE_RANGE_WRITE);
        w->flushed = w->written;
      }
    }
    pthread_mutex_lock(&w->mu);
    if (e) set_err(w, call, e);
    w->queued -= b->len;
    w->wqueued -= b->len;
    recycle(w, b); /* kept for the next push or the hasher: no fresh pages */
    pthread_cond_broadcast(&w->room);
  }
  w->done = true;
  pthread_cond_broadcast(&w->room);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void blobw_stop(struct blobw *w) {
  if (w->joined || !w->started) return;
  pthread_mutex_lock(&w->mu);
  if (w->open) { /* what was pushed last */
    if (w->tail) w->tail->next = w->open;
    else w->head = w->open;
    w->tail = w->open;
    w->open = NULL;
  }
  w->ending = true;
  pthread_cond_signal(&w->more);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  pthread_join(w->writer, NULL);
  w->joined = true;
}

static void blobw_free(struct blobw *w) {
  blobw_stop(w);
  free_blocks(w->head);
  free_blocks(w->whead);
  free_blocks(w->spare);
  free_blocks(w->open);
  if (w->fd >= 0) close(w->fd);
  if (w->dfd >= 0) close(w->dfd);
  if (w->md) EVP_MD_CTX_free(w->md);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->more);
  pthread_cond_destroy(&w->hashed_more);
  pthread_cond_destroy(&w->room);
  free(w);
}

static void blobw_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  blobw_free(data);
}


static struct blobw *get_w(napi_env env, napi_value v) {
  return fsx_external(env, v, "a blob writer");
}

/* The writer a one-argument call names (a TypeError thrown when it names none). */
static struct blobw *arg_w(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "expected a blob writer");
    return NULL;
  }
  return get_w(env, argv[0]);
}

/* blobOpen(path, durable) -> external: creates PATH (O_EXCL, 0644) and starts the thread.
 * DURABLE (default false): the caller fsyncs the blob at the end; the writer flushes as it goes. */
static napi_value js_blobopen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct blobw *w = calloc(1, sizeof *w);
  if (!w) return fsx_throw_errno(env, "blobOpen", "", ENOMEM);
  w->fd = -1;
  w->dfd = -1;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->more, NULL);
  pthread_cond_init(&w->hashed_more, NULL);
  pthread_cond_init(&w->room, NULL);
  size_t n = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], w->path, sizeof w->path, &n) != napi_ok || n >= sizeof w->path - 1) {
    blobw_free(w);
    napi_throw_type_error(env, NULL, "blobOpen(path)");
    return NULL;
  }
  if (argc > 1) napi_get_value_bool(env, argv[1], &w->durable);
  w->md = EVP_MD_CTX_new();
  if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
    blobw_free(w);
    return fsx_throw_errno(env, "sha256", "init", EIO);
  }
  w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    int e = errno;
    napi_value r = fsx_throw_errno(env, "open", w->path, e);
    blobw_free(w);
    return r;
  }
  w->dfd = open(w->path, O_WRONLY | O_DIRECT | O_CLOEXEC); /* (-1: EINVAL on tmpfs, say) */
  int e = pthread_create(&w->writer, NULL, blobw_main, w);
  if (!e) {
    e = pthread_create(&w->thread, NULL, blobw_hasher, w);
    if (e) { /* the writer alone: told the hasher is done, it ends */
      pthread_mutex_lock(&w->mu);
      w->hashing_done = true;
      pthread_cond_signal(&w->hashed_more);
      pthread_mutex_unlock(&w->mu);
      pthread_join(w->writer, NULL);
    }
  }
  if (e) {
    unlink(w->path);
    blobw_free(w);
    return fsx_throw_errno(env, "pthread_create", "blob writer", e);
  }
  w->started = true;
  napi_value ext;
  napi_create_external(env, w, blobw_finalize, NULL, &ext);
  return ext;
}

/* Hands the open block to the thread (the lock held). */
static void seal(struct blobw *w) {
  if (!w->open) return;
  if (w->tail) w->tail->next = w->open;
  else w->head = w->open;
  w->tail = w->open;
  w->open = NULL;
  pthread_cond_signal(&w->more);
}

/* The open block, for bytes of this kind (hashed or not), made or taken from the spares when
 * there is none or the open one is full or of the other kind; NULL when out of memory (the lock
 * held, dropped while allocating). A block of more than BLOCK bytes is made for a bigger push. */
static struct block *open_block(struct blobw *w, bool hash, size_t want) {
  if (w->open && (w->open->len == w->open->cap || w->open->total >= BLOCK || w->open->hash != hash)) seal(w);
  if (w->open) return w->open;
  struct block *b = new_block(w, want > BLOCK ? want : BLOCK, hash);
  if (!b) return NULL;
  w->open = b;
  return b;
}

/* Copies LEN bytes into open blocks (the lock held); 0, or ENOMEM. */
static int push_bytes(struct blobw *w, const unsigned char *src, size_t len, bool hash) {
  while (len > 0) {
    struct block *b = open_block(w, hash, len);
    if (!b) return ENOMEM;
    size_t n = b->cap - b->len;
    if (n > len) n = len;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->total += n;
    w->queued += n;
    w->size += n;
    src += n;
    len -= n;
  }
  if (w->open && (w->open->len == w->open->cap || w->open->total >= BLOCK)) seal(w);
  return 0;
}

/* Marks LEN bytes of FD at OFF to come next (the lock held); 0, or ENOMEM. */
static int push_range(struct blobw *w, int fd, uint64_t off, uint64_t len, bool hash) {
  if (len == 0) return 0;
  struct block *b = open_block(w, hash, 0);
  if (!b) return ENOMEM;
  if (b->nmarks == b->capmarks) {
    unsigned cap = b->capmarks ? 2 * b->capmarks : 64;
    struct mark *m = realloc(b->marks, cap * sizeof *m);
    if (!m) return ENOMEM;
    b->marks = m;
    b->capmarks = cap;
  }
  b->marks[b->nmarks++] = (struct mark){.at = b->len, .fd = fd, .off = off, .len = len};
  b->total += len;
  w->size += len;
  if (b->total >= BLOCK) seal(w);
  return 0;
}

/* The bytes of a Uint8Array argument (a Buffer), or false with a TypeError thrown. */
static bool arg_bytes(napi_env env, napi_value v, const char *fn, void **data, size_t *len) {
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  if (isTyped) {
    napi_typedarray_type t;
    size_t offset;
    napi_value ab;
    napi_get_typedarray_info(env, v, &t, len, data, &ab, &offset);
    if (t == napi_uint8_array) return true; /* one byte per element */
  }
  char msg[64];
  snprintf(msg, sizeof msg, "%s: expected a Buffer", fn);
  napi_throw_type_error(env, NULL, msg);
  return false;
}

/* Waits while LIMIT bytes are queued and returns with the lock held, or throws the thread's first
 * error (or that the writer has ended) and returns false without it. */
static bool wait_room(napi_env env, struct blobw *w, const char *fn) {
  if (w->joined) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s: the writer has ended", fn);
    napi_throw_error(env, NULL, msg);
    return false;
  }
  pthread_mutex_lock(&w->mu);
  while (!w->err && w->queued >= LIMIT) pthread_cond_wait(&w->room, &w->mu);
  if (w->err) {
    int e = w->err;
    const char *call = w->err_call;
    pthread_mutex_unlock(&w->mu);
    fsx_throw_errno(env, call, w->path, e);
    return false;
  }
  return true;
}

/* blobPush(w, bytes, hash): copies BYTES (a Buffer or Uint8Array) for the thread; HASH false: the
 * bytes are written but not hashed (a source already verified). Waits while LIMIT bytes are
 * queued; throws the thread's first error. */
static napi_value js_blobpush(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct blobw *w = argc >= 2 ? get_w(env, argv[0]) : NULL;
  if (!w) return NULL;
  bool hash = true;
  if (argc > 2) napi_get_value_bool(env, argv[2], &hash);
  void *data = NULL;
  size_t len = 0;
  if (!arg_bytes(env, argv[1], "blobPush", &data, &len) || !wait_room(env, w, "blobPush")) return NULL;
  int e = push_bytes(w, data, len, hash);
  pthread_mutex_unlock(&w->mu);
  return e ? fsx_throw_errno(env, "blobPush", w->path, e) : NULL;
}

/* blobPushGather(w, bytes, hash, marks): BYTES (copied, as blobPush) with file ranges inserted:
 * MARKS is a Float64Array of [at, fd, offset, length] quadruples, `at` (non-decreasing, at most
 * BYTES' length) the index in BYTES before which LENGTH bytes of the open file FD from OFFSET go.
 * The files are read on the hasher's thread, so they must stay open until end() settles; a file
 * that ends early fails the blob. One call for many small files' headers and contents (a layer's
 * unchanged files, read from an earlier layer's blob) instead of reading them here. */
static napi_value js_blobpushgather(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct blobw *w = argc >= 4 ? get_w(env, argv[0]) : NULL;
  if (!w) {
    if (argc < 4) napi_throw_type_error(env, NULL, "blobPushGather(w, bytes, hash, marks)");
    return NULL;
  }
  bool hash = true;
  napi_get_value_bool(env, argv[2], &hash);
  void *data = NULL;
  size_t len = 0;
  if (!arg_bytes(env, argv[1], "blobPushGather", &data, &len)) return NULL;
  bool isTyped = false;
  napi_typedarray_type t = napi_int8_array;
  size_t count = 0, offset;
  void *mv = NULL;
  napi_value ab;
  napi_is_typedarray(env, argv[3], &isTyped);
  if (isTyped) napi_get_typedarray_info(env, argv[3], &t, &count, &mv, &ab, &offset);
  if (!isTyped || t != napi_float64_array || count % 4 != 0) {
    napi_throw_type_error(env, NULL, "blobPushGather: marks must be a Float64Array of [at, fd, offset, length] quadruples");
    return NULL;
  }
  const double *m = mv;
  size_t prev = 0;
  for (size_t i = 0; i < count; i += 4) {
    double at = m[i], fd = m[i + 1], off = m[i + 2], n = m[i + 3];
    if (!(at >= (double)prev && at <= (double)len && at == (size_t)at && fd >= 0 && fd == (int)fd && off >= 0 && off == (uint64_t)off && n >= 0 && n == (uint64_t)n)) {
      napi_throw_range_error(env, NULL, "blobPushGather: a mark out of order or out of range");
      return NULL;
    }
    prev = (size_t)at;
  }
  if (!wait_room(env, w, "blobPushGather")) return NULL;
  const unsigned char *src = data;
  int e = 0;
  prev = 0;
  for (size_t i = 0; !e && i < count; i += 4) {
    size_t at = (size_t)m[i];
    e = push_bytes(w, src + prev, at - prev, hash);
    if (!e) e = push_range(w, (int)m[i + 1], (uint64_t)m[i + 2], (uint64_t)m[i + 3], hash);
    prev = at;
  }
  if (!e) e = push_bytes(w, src + prev, len - prev, hash);
  pthread_mutex_unlock(&w->mu);
  return e ? fsx_throw_errno(env, "blobPushGather", w->path, e) : NULL;
}

static void end_execute(napi_env env, void *data) {
  (void)env;
  struct blobw *w = data;
  blobw_stop(w);
  unsigned int n = 0;
  if (!w->err && EVP_DigestFinal_ex(w->md, w->digest, &n) != 1) set_err(w, "sha256", EIO);
}

static void end_complete(napi_env env, napi_status status, void *data) {
  struct blobw *w = data;
  if (status == napi_ok && !w->err) {
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", w->digest[i]);
    napi_value out, h, s;
    napi_create_object(env, &out);
    napi_create_string_utf8(env, hex, 64, &h);
    napi_create_double(env, (double)w->size, &s);
    napi_set_named_property(env, out, "hex", h);
    napi_set_named_property(env, out, "size", s);
    napi_resolve_deferred(env, w->deferred, out);
  } else {
    int e = status == napi_ok ? w->err : ECANCELED;
    char msg[4096 + 128], code[32];
    snprintf(msg, sizeof msg, "%s %s: %s", w->err_call ? w->err_call : "write", w->path, strerror(e));
    snprintf(code, sizeof code, "E%d", e);
    napi_value m, c, err;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
    napi_create_error(env, c, m, &err);
    napi_reject_deferred(env, w->deferred, err);
  }
  napi_delete_async_work(env, w->work);
  w->work = NULL;
}

/* blobEnd(w) -> Promise<{ hex, size }>: once every byte is written (not fsynced: blobSync) and
 * hashed. The hex is of the hashed bytes only. */
static napi_value js_blobend(napi_env env, napi_callback_info info) {
  struct blobw *w = arg_w(env, info);
  if (!w) return NULL;
  if (w->work) {
    napi_throw_error(env, NULL, "blobEnd: already ending");
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "fsx.blobEnd", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, end_execute, end_complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

/* blobFd(w) -> the file's descriptor (still the writer's: it is closed when the writer is
 * collected or closed with blobClose), for the caller's fsync after blobEnd. */
static napi_value js_blobfd(napi_env env, napi_callback_info info) {
  struct blobw *w = arg_w(env, info);
  if (!w) return NULL;
  napi_value fd;
  napi_create_int32(env, w->fd, &fd);
  return fd;
}

/* blobClose(w): stops the thread (what is queued is still written) and closes the file. */
static napi_value js_blobclose(napi_env env, napi_callback_info info) {
  struct blobw *w = arg_w(env, info);
  if (!w) return NULL;
  if (w->work) {
    napi_throw_error(env, NULL, "blobClose: end() has not settled");
    return NULL;
  }
  blobw_stop(w);
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  if (w->dfd >= 0) close(w->dfd);
  w->dfd = -1;
  free_blocks(w->spare); /* (the rest goes when the external is collected) */
  w->spare = NULL;
  w->nspare = 0;
  return NULL;
}

void blobw_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"blobOpen", NULL, js_blobopen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blobPush", NULL, js_blobpush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blobPushGather", NULL, js_blobpushgather, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blobEnd", NULL, js_blobend, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blobFd", NULL, js_blobfd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blobClose", NULL, js_blobclose, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

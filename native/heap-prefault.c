/*
 * prefaultHeap(): makes the V8 heap pages that exist now resident from a thread of their own,
 * while the main thread goes on. A page first touched costs a fault and a zeroed page — ~2.5 ms
 * per MiB on the machine kind tsbuild's CI runs on (a paravirtualised guest), ~40 ms of a one-file
 * rebuild's main thread for its young generation alone. V8 (Node 20, x64) commits its heap in pages
 * of 256 KiB, each a private anonymous mapping of its own, and the young generation's pages exist
 * from the start; MADV_POPULATE_WRITE (Linux 5.14) faults a range in writable without touching its
 * bytes, so a page V8 is writing meanwhile keeps its contents. Best effort throughout: an older
 * kernel (EINVAL), a page unmapped or made inaccessible in the meantime (ENOMEM, EFAULT) or a
 * /proc/self/maps that cannot be read only mean fewer pages made resident.
 */
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "heap-prefault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* V8's regular page (MemoryChunk) on x64: what a 256 KiB private anonymous rw mapping is here. */
#define V8_PAGE (256u << 10)
#define MAX_PAGES 1024

static bool started;

static void *prefault(void *arg) {
  (void)arg;
  static unsigned long start[MAX_PAGES];
  unsigned n = 0;
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f) return NULL;
  char line[640];
  while (n < MAX_PAGES && fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, ino;
    char perms[8], dev[16];
    int end = 0;
    /* "lo-hi perms offset dev inode [path]": an anonymous mapping has inode 0 and no path */
    if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms, &off, dev, &ino, &end) < 6) continue;
    if (ino != 0 || strcmp(perms, "rw-p") != 0 || hi - lo != V8_PAGE) continue;
    if (end > 0 && line[end] != '\n' && line[end] != '\0') continue; /* a path ([stack], a file) */
    start[n++] = lo;
  }
  fclose(f);
  for (unsigned i = 0; i < n; i++) madvise((void *)start[i], V8_PAGE, MADV_POPULATE_WRITE);
  return NULL;
}

/* prefaultHeap() -> boolean: starts the thread (once per process; false when it was started
 * before or cannot be). */
static napi_value js_prefault_heap(napi_env env, napi_callback_info info) {
  (void)info;
  bool ok = false;
  if (!started) {
    pthread_attr_t at;
    pthread_t t;
    if (pthread_attr_init(&at) == 0) {
      pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
      pthread_attr_setstacksize(&at, 64u << 10);
      ok = pthread_create(&t, &at, prefault, NULL) == 0;
      pthread_attr_destroy(&at);
    }
    started = true;
  }
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

void prefault_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"prefaultHeap", NULL, js_prefault_heap, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

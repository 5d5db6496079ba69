/*
 * SHA-256 and random bytes for JavaScript (fsx.node), so that a build never loads node:crypto:
 * its first require cost a cold build 11-23 ms of the main thread (median 14 ms, 15 builds at
 * load 2.6; ~6 ms in a bare `node`), Node compiling ~15 internal crypto modules, for hashes
 * OpenSSL computes in microseconds. The digest comes from the
 * OpenSSL the node binary carries and exports (as in blob-writer.c: no -lcrypto), random bytes
 * from getrandom(2).
 *
 *   sha256Hex(data) -> string                  64 lowercase hex digits
 *   sha256New() -> handle                      an incremental hash (an external)
 *   sha256Update(handle, data)
 *   sha256DigestHex(handle) -> string          the digest; the handle then starts a new hash
 *   randomFill(view)                           fills a Buffer/TypedArray/DataView
 *
 * `data` is a Buffer, TypedArray or DataView (its bytes, not copied), or a string hashed as its
 * UTF-8 bytes exactly as Node's hash.update(string) does (an unpaired surrogate as U+FFFD: V8's
 * WriteUtf8 with REPLACE_INVALID_UTF8 on both paths). Anything else is a TypeError.
 *
 * A handle is reused (digest.ts keeps a few): making one (the external, its finalizer, the
 * OpenSSL context) costs ~1.5 us more than node:crypto's createHash, a reset nothing.
 */
#include <node_api.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/evp.h>
#include "blob-writer.h"
#include "sha256.h"

/* Fetched once: EVP_sha256() would make every init look the implementation up again (OpenSSL 3). */
static EVP_MD *fetched;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static void fetch_md(void) { fetched = EVP_MD_fetch(NULL, "SHA256", NULL); }
static const EVP_MD *md(void) {
  pthread_once(&fetch_once, fetch_md);
  return fetched ? fetched : EVP_sha256();
}

struct hasher {
  EVP_MD_CTX *ctx;
};

/* Marks a hasher's external, so that another external (an op queue, a blob writer) handed to
 * sha256Update is a TypeError instead of memory read as a hasher. */
static const napi_type_tag HASHER_TAG = {0x7473627569646873ULL, 0x6861323536637478ULL};

/* Strings of up to STACK_TEXT / 3 UTF-16 units are converted on the stack in one pass (at most 3
 * UTF-8 bytes each: a surrogate pair is 4 bytes for 2 units); longer ones are measured first. */
#define STACK_TEXT 6144

static napi_value type_error(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value crypto_error(napi_env env, const char *call) {
  char msg[96];
  snprintf(msg, sizeof msg, "%s: OpenSSL failed", call);
  napi_throw_error(env, "EIO", msg);
  return NULL;
}

/* The bytes of a Buffer/TypedArray/DataView, or false (not one of them). */
static bool view_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count = 0, offset = 0;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok) return false;
    size_t width = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: width = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: width = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: width = 8; break;
      default: break;
    }
    *len = count * width;
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset = 0;
    return napi_get_dataview_info(env, v, len, data, &ab, &offset) == napi_ok;
  }
  return false;
}

/* Feeds `v` (bytes or a string) to `ctx`; false with an exception pending. */
static bool update(napi_env env, EVP_MD_CTX *ctx, napi_value v, const char *call) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_string) {
    size_t units = 0, n = 0;
    if (napi_get_value_string_utf16(env, v, NULL, 0, &units) != napi_ok) return false;
    char stack[STACK_TEXT + 1];
    if (units <= STACK_TEXT / 3) n = STACK_TEXT;
    else if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return false;
    char *buf = n < sizeof stack ? stack : malloc(n + 1);
    if (!buf) {
      napi_throw_error(env, "ENOMEM", "sha256: out of memory");
      return false;
    }
    size_t got = 0;
    bool ok = napi_get_value_string_utf8(env, v, buf, n + 1, &got) == napi_ok &&
              EVP_DigestUpdate(ctx, buf, got) == 1;
    if (buf != stack) free(buf);
    if (!ok) crypto_error(env, call);
    return ok;
  }
  void *data = NULL;
  size_t len = 0;
  if (t != napi_object || !view_bytes(env, v, &data, &len)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: data must be a string, Buffer, TypedArray or DataView", call);
    type_error(env, msg);
    return false;
  }
  if (len && EVP_DigestUpdate(ctx, data, len) != 1) {
    crypto_error(env, call);
    return false;
  }
  return true;
}

static napi_value hex_of(napi_env env, EVP_MD_CTX *ctx, const char *call) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx, d, &n) != 1) return crypto_error(env, call);
  static const char digits[] = "0123456789abcdef";
  char hex[2 * EVP_MAX_MD_SIZE];
  for (unsigned i = 0; i < n; i++) {
    hex[2 * i] = digits[d[i] >> 4];
    hex[2 * i + 1] = digits[d[i] & 15];
  }
  napi_value s;
  napi_create_string_latin1(env, hex, 2 * n, &s);
  return s;
}

/* One context per thread for the one-shot hash (fsx.node may be loaded by workers too). */
static _Thread_local EVP_MD_CTX *oneshot;

/* sha256Hex(data) */
napi_value sha256_js_hex(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1) return type_error(env, "sha256Hex: data must be a string, Buffer, TypedArray or DataView");
  if (!oneshot && !(oneshot = EVP_MD_CTX_new())) return crypto_error(env, "sha256Hex");
  if (EVP_DigestInit_ex(oneshot, md(), NULL) != 1) return crypto_error(env, "sha256Hex");
  if (!update(env, oneshot, arg, "sha256Hex")) return NULL;
  return hex_of(env, oneshot, "sha256Hex");
}

static void hasher_free(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  struct hasher *h = data;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

/* sha256New() */
napi_value sha256_js_new(napi_env env, napi_callback_info info) {
  (void)info;
  struct hasher *h = calloc(1, sizeof *h);
  if (!h || !(h->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->ctx, md(), NULL) != 1) {
    if (h) EVP_MD_CTX_free(h->ctx);
    free(h);
    return crypto_error(env, "sha256New");
  }
  napi_value ext;
  if (napi_create_external(env, h, hasher_free, NULL, &ext) != napi_ok) {
    hasher_free(env, h, NULL);
    return NULL;
  }
  if (napi_type_tag_object(env, ext, &HASHER_TAG) != napi_ok) return NULL;
  return ext;
}

/* The open hasher of argument 0, or NULL with an exception pending. */
static struct hasher *arg_hasher(napi_env env, napi_value v, const char *call) {
  napi_valuetype t;
  void *p = NULL;
  bool tagged = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &HASHER_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &p) != napi_ok || !p) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: expected a hasher from sha256New()", call);
    type_error(env, msg);
    return NULL;
  }
  return p;
}

/* sha256Update(handle, data) */
napi_value sha256_js_update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return type_error(env, "sha256Update: expected (hasher, data)");
  struct hasher *h = arg_hasher(env, argv[0], "sha256Update");
  if (h) update(env, h->ctx, argv[1], "sha256Update");
  return NULL;
}

/* sha256DigestHex(handle): the digest, and the handle reset to start a new hash */
napi_value sha256_js_digest_hex(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1) return type_error(env, "sha256DigestHex: expected a hasher from sha256New()");
  struct hasher *h = arg_hasher(env, arg, "sha256DigestHex");
  if (!h) return NULL;
  napi_value hex = hex_of(env, h->ctx, "sha256DigestHex");
  if (hex && EVP_DigestInit_ex(h->ctx, md(), NULL) != 1) return crypto_error(env, "sha256DigestHex");
  return hex;
}

/* randomFill(view): getrandom(2) until the view is full (it returns at most 32 MiB a call, and a
 * signal may cut a long one short). */
napi_value sha256_js_random_fill(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  napi_valuetype t = napi_undefined;
  void *data = NULL;
  size_t len = 0;
  if (argc < 1 || napi_typeof(env, arg, &t) != napi_ok || t != napi_object || !view_bytes(env, arg, &data, &len)) {
    return type_error(env, "randomFill: expected a Buffer, TypedArray or DataView");
  }
  for (size_t at = 0; at < len;) {
    ssize_t n = getrandom((char *)data + at, len - at, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fsx_throw_errno(env, "getrandom", "", errno);
    }
    at += (size_t)n;
  }
  return NULL;
}

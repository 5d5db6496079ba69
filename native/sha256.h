/* SHA-256 and random bytes for JavaScript (sha256.c), registered on fsx.node's exports by fsx.c. */
#ifndef TSBUILD_SHA256_H
#define TSBUILD_SHA256_H
#include <node_api.h>
napi_value sha256_js_hex(napi_env env, napi_callback_info info);
napi_value sha256_js_new(napi_env env, napi_callback_info info);
napi_value sha256_js_update(napi_env env, napi_callback_info info);
napi_value sha256_js_digest_hex(napi_env env, napi_callback_info info);
napi_value sha256_js_random_fill(napi_env env, napi_callback_info info);
#endif

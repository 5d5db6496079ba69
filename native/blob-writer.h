/* The blob writer's functions (blob-writer.c), registered on fsx.node's exports. */
#ifndef TSBUILD_BLOB_WRITER_H
#define TSBUILD_BLOB_WRITER_H
#include <node_api.h>
void blobw_register(napi_env env, napi_value exports);
/* fsx.c's helpers, shared: an Error "CALL PATH: strerror(ERR)" with code E<ERR> thrown (NULL
 * returned); the pointer an external holds, or NULL with a TypeError "expected WHAT" thrown. */
napi_value fsx_throw_errno(napi_env env, const char *call, const char *path, int err);
void *fsx_external(napi_env env, napi_value v, const char *what);
#endif

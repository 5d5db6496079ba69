/* The blob writer's functions (blob-writer.c), registered on fsx.node's exports. */
#ifndef TSBUILD_BLOB_WRITER_H
#define TSBUILD_BLOB_WRITER_H
#include <node_api.h>
void blobw_register(napi_env env, napi_value exports);
#endif

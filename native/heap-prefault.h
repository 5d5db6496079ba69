/* V8 heap pages made resident off the main thread (heap-prefault.c), registered by fsx.c. */
#ifndef TSBUILD_HEAP_PREFAULT_H
#define TSBUILD_HEAP_PREFAULT_H
#include <node_api.h>
void prefault_register(napi_env env, napi_value exports);
#endif

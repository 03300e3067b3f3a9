#ifndef KPATCHCTL_CCOMPRESS_SHIM_H
#define KPATCHCTL_CCOMPRESS_SHIM_H
#include <lzma.h>
#include <zlib.h>
#endif

#ifndef KPATCHCTL_CELF_SHIM_H
#define KPATCHCTL_CELF_SHIM_H
#include <libelf.h>
#include <gelf.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* kpatchctl's patch-author API under its own name: `#include <kpatchctl/patch.h>`. */
#ifndef _KPATCHCTL_PATCH_H
#define _KPATCHCTL_PATCH_H
#include "../kpatch-macros.h"
#include "../kpatch-syscall.h"
#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * The patch-module template of kpatchctl. `kpatchctl build` compiles it together
 * with the differ's patch object(s) and a generated kpatch-desc.h, which defines
 * kpatch_objects[]: one klp_object per patched kernel object (vmlinux has no
 * name), each with its klp_func array of old_name/old_sympos -> new function and
 * the callbacks the author registered (kmod/include/kpatch-macros.h); the
 * declared system states (KPATCH_STATES); and whether this patch replaces every
 * enabled one (KPATCH_REPLACE, `build --replace`).
 * The livepatch core does the rest (consistency model, transition, sysfs).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

#include "kpatch-desc.h"

/* Global: kpatch-macros.h's KPATCH_STATE_GET reaches it from the patched code. */
struct klp_patch kpatchctl_patch = {
	.mod = THIS_MODULE,
	.objs = kpatch_objects,
	.states = KPATCH_STATES,
	.replace = KPATCH_REPLACE,
};

static int __init kpatch_init(void)
{
	return klp_enable_patch(&kpatchctl_patch);
}

/* The livepatch core owns teardown: a disabled patch is freed by the core. */
static void __exit kpatch_exit(void)
{
}

module_init(kpatch_init);
module_exit(kpatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION(KPATCH_DESCRIPTION);

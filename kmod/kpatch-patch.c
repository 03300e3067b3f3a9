// SPDX-License-Identifier: GPL-2.0
/*
 * The patch-module template of kpatchctl. `kpatchctl build` compiles it together
 * with the differ's patch object(s) and a generated kpatch-desc.h, which defines
 * kpatch_objects[]: one klp_object per patched kernel object (vmlinux has no
 * name), each with its klp_func array of old_name/old_sympos -> new function.
 * The livepatch core does the rest (consistency model, transition, sysfs).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

#include "kpatch-desc.h"

static struct klp_patch kpatch_patch = {
	.mod = THIS_MODULE,
	.objs = kpatch_objects,
};

static int __init kpatch_init(void)
{
	return klp_enable_patch(&kpatch_patch);
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

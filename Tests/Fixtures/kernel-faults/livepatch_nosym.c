// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture (KernelFaultsVMTests): a livepatch whose registration fails in the
 * kernel: it replaces a vmlinux function that does not exist, so klp_enable_patch
 * fails (klp_find_object_symbol: -EINVAL) after it began to build the patch's
 * sysfs directory. The kernel must undo all of it.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

static void livepatch_nosym_replacement(void)
{
}

static struct klp_func funcs[] = {
	{ .old_name = "kpatchctl_no_such_function", .new_func = livepatch_nosym_replacement, },
	{ }
};

static struct klp_object objs[] = {
	{ .name = NULL, .funcs = funcs, },	/* vmlinux */
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int livepatch_nosym_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_nosym_exit(void)
{
}

module_init(livepatch_nosym_init);
module_exit(livepatch_nosym_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");

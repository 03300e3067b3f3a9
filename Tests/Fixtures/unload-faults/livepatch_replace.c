// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture (UnloadFaultsVMTests): a cumulative livepatch (klp_patch.replace)
 * of vmlinux's cmdline_proc_show. Applied over livepatch_export while kpexport_user
 * uses livepatch_export, it replaces that patch, whose module then cannot be
 * unloaded. Hand-written, so apply needs --foreign.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "livepatch_replace\n");
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = livepatch_cmdline_proc_show, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, },	/* vmlinux */
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
	.replace = true,
};

static int livepatch_replace_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_replace_exit(void)
{
}

module_init(livepatch_replace_init);
module_exit(livepatch_replace_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");

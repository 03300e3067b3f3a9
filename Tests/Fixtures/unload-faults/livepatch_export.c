// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture (UnloadFaultsVMTests): a livepatch of vmlinux's cmdline_proc_show
 * that also exports a function. kpexport_user, loaded after the patch is applied,
 * uses it, so delete_module of this module fails (in use) after its patch is
 * disabled. Hand-written, so apply needs --foreign.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

int kpexport_value(void)
{
	return 42;
}
EXPORT_SYMBOL(kpexport_value);

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "livepatch_export\n");
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
};

static int livepatch_export_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_export_exit(void)
{
}

module_init(livepatch_export_init);
module_exit(livepatch_export_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture (KernelFaultsVMTests): one patch, two objects. kpblocker's
 * kpblocker_show answers "patched" without sleeping (a reader asleep in the old one
 * holds the transition up), and kpvictim's kpvictim_sum (cloned by gcc into
 * kpvictim_sum.constprop.0, n = 10 folded in) gets the fixed loop. kpvictim can be
 * loaded and removed while the transition runs, or while the patch is applied.
 * Hand-written, so apply needs --foreign.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

static int livepatch_kpblocker_show(struct seq_file *m, void *v)
{
	seq_puts(m, "patched\n");
	return 0;
}

static int livepatch_kpvictim_sum(void)
{
	int i, sum = 0, n = 10;

	for (i = 1; i <= n; i++)
		sum += i;
	return sum;
}

static struct klp_func blocker_funcs[] = {
	{ .old_name = "kpblocker_show", .new_func = livepatch_kpblocker_show, },
	{ }
};

static struct klp_func victim_funcs[] = {
	{ .old_name = "kpvictim_sum.constprop.0", .new_func = livepatch_kpvictim_sum, },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "kpblocker", .funcs = blocker_funcs, },
	{ .name = "kpvictim", .funcs = victim_funcs, },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int livepatch_late_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_late_exit(void)
{
}

module_init(livepatch_late_init);
module_exit(livepatch_late_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");

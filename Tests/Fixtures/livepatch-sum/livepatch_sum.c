// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture, hand-written until kpatchctl build exists: replaces kpvictim_sum
 * with the fixed loop. Self-contained, so it needs no klp relocations.
 *
 * kpvictim only calls kpvictim_sum(10), so gcc cloned it into
 * kpvictim_sum.constprop.0 with n = 10 folded in and no parameter (it returns
 * the constant 45). The replacement keeps that ABI.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

static int livepatch_kpvictim_sum(void)
{
	int i, sum = 0, n = 10;

	for (i = 1; i <= n; i++)
		sum += i;
	return sum;
}

static struct klp_func funcs[] = {
	{ .old_name = "kpvictim_sum.constprop.0", .new_func = livepatch_kpvictim_sum, },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "kpvictim", .funcs = funcs, },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int livepatch_sum_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_sum_exit(void)
{
}

module_init(livepatch_sum_init);
module_exit(livepatch_sum_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");

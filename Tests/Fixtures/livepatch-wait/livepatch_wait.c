// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture, hand-written until kpatchctl build exists: replaces
 * kpvictim_wait_show with one that answers "patched" without waiting. A reader
 * asleep in kpvictim_wait_release has kpvictim_wait_show on its stack, so it
 * blocks the transition until /proc/kpvictim_release is written. Uses only
 * exported symbols (seq_puts).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int livepatch_kpvictim_wait_show(struct seq_file *m, void *v)
{
	seq_puts(m, "patched\n");
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "kpvictim_wait_show", .new_func = livepatch_kpvictim_wait_show, },
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

static int livepatch_wait_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_wait_exit(void)
{
}

module_init(livepatch_wait_init);
module_exit(livepatch_wait_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");

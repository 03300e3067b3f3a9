// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/jump_label.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* New in the fix: a key the patched code defines and flips itself. */
static DEFINE_STATIC_KEY_FALSE(kpc_checked);

static noinline int kpc_calc(int n)
{
	if (static_branch_unlikely(&kpc_checked))
		return n * 3;
	return n * 2;
}

static int kpc_show(struct seq_file *m, void *v)
{
	if (kpc_arg > 0 && !static_key_enabled(&kpc_checked))
		static_branch_enable(&kpc_checked);
	seq_printf(m, "%d\n", kpc_calc(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_static_key_defined", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_static_key_defined", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

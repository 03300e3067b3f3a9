// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static noinline int kpc_scale(int n)
{
	pr_debug("kpc_scale %d\n", n);
	return n * 10;
}

static noinline int kpc_fixed(int n)
{
	pr_debug("kpc_fixed %d\n", n);
	return n + 1;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d\n", kpc_scale(kpc_arg), kpc_fixed(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_counter_shift_include", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_counter_shift_include", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

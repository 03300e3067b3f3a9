// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static noinline int kpc_min(int a, int b)
{
	return a < b ? a : b;
}

static noinline int kpc_max(int a, int b)
{
	return a > b ? a : b;
}

static noinline int kpc_mid(int a, int b)
{
	return (a + b) / 2;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d %d\n", kpc_min(kpc_arg, kpc_arg + 5), kpc_max(kpc_arg, kpc_arg + 5), kpc_mid(kpc_arg, kpc_arg + 5));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_multi_function", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_multi_function", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

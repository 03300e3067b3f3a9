// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

noinline int kpc_twice(int n)
{
	return n * 2;
}

noinline int kpc_thrice(int n)
{
	return n * 3;
}
EXPORT_SYMBOL_GPL(kpc_thrice);

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d\n", kpc_twice(kpc_arg), kpc_thrice(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_export_new_function", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_export_new_function", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

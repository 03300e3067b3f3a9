// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* Global but not exported: only this module can call it. */
noinline int kpc_square(int n)
{
	return n * n;
}

static noinline int kpc_cube(int n)
{
	return n * n * n;
}

static noinline int kpc_eval(int n)
{
	return n + 1;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d %d\n", kpc_eval(kpc_arg), kpc_square(kpc_arg), kpc_cube(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_module_function_call", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_module_function_call", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* notrace, and called only through a function pointer: replacing callers cannot reach it. */
static noinline notrace int kpc_fast(int n)
{
	return n * 5;
}

int (*kpc_op)(int) = kpc_fast;

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_op(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_notrace_pointer_only", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_notrace_pointer_only", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

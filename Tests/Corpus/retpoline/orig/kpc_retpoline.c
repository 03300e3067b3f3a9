// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static noinline int kpc_double(int n)
{
	return n * 2;
}

static noinline int kpc_negate(int n)
{
	return -n;
}

/* Set at run time, so gcc cannot see through it: calls stay indirect (retpoline thunk). */
static int (*kpc_op)(int) = kpc_double;

static noinline int kpc_call(int n)
{
	return kpc_op(n);
}

static noinline int kpc_apply(int n)
{
	return n + 1;
}

static int kpc_show(struct seq_file *m, void *v)
{
	kpc_op = kpc_arg < 0 ? kpc_negate : kpc_double;
	seq_printf(m, "%d %d\n", kpc_apply(kpc_arg), kpc_call(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_retpoline", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_retpoline", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static noinline int kpc_first(int n)
{
	pr_debug("kpc_first %d\n", n);
	pr_debug("kpc_first again\n");
	if (n < 0)
		return 0;
	return n + 1;
}

static noinline int kpc_second(int n)
{
	pr_debug("kpc_second %d\n", n);
	WARN_ON_ONCE(n > 1000);
	return n * 2;
}

static noinline int kpc_third(int n)
{
	pr_debug("kpc_third %d\n", n);
	return n * 3;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d %d\n", kpc_first(kpc_arg), kpc_second(kpc_arg), kpc_third(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_pr_debug_above", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_pr_debug_above", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

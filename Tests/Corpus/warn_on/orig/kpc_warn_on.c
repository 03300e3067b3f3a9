// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static noinline int kpc_checked(int n)
{
	if (WARN_ON(n > 1000))
		return 1000;
	return n;
}

/* Unchanged, but the patch moves it down two lines: only its __bug_table line differs. */
static noinline int kpc_halved(int n)
{
	WARN_ON(n & 1);
	return n / 2;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d\n", kpc_checked(kpc_arg), kpc_halved(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_warn_on", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_warn_on", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* Every caller passes factor 10: IPA-CP specializes a .constprop clone. */
static noinline int kpc_scale(int n, int factor)
{
	return n * factor + 1;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d\n", kpc_scale(kpc_arg, 10), kpc_scale(kpc_arg + 1, 10));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_clone_constprop", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_clone_constprop", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

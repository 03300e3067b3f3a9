// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static int kpc_total;

static noinline int kpc_add(int n)
{
	if (n > 0)
		kpc_total += n;
	return kpc_total;
}

static noinline void kpc_reset(void)
{
	kpc_total = 0;
}

static int kpc_show(struct seq_file *m, void *v)
{
	if (kpc_arg < 0)
		kpc_reset();
	seq_printf(m, "%d\n", kpc_add(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_module_static_var", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_module_static_var", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static noinline void kpc_alpha(int n)
{
	pr_info("%s: %d\n", __func__, n);
}

static noinline void kpc_gamma(int n)
{
	pr_info("%s: %d\n", __func__, n + 1);
}

static noinline void kpc_beta(int n)
{
	pr_info("%s: %d!\n", __func__, n);
	kpc_gamma(n);
}

static int kpc_show(struct seq_file *m, void *v)
{
	kpc_alpha(kpc_arg);
	kpc_beta(kpc_arg);
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_func_name_string", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_func_name_string", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

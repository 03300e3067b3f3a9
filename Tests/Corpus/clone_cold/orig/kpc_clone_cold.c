// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* The unlikely branch goes to a separate kpc_div.cold fragment. */
static noinline int kpc_div(int a, int b)
{
	if (unlikely(b == 0)) {
		pr_err("kpc_clone_cold: division of %d by zero\n", a);
		return 0;
	}
	return a / b;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_div(kpc_arg * 100, kpc_arg - 3));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_clone_cold", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_clone_cold", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

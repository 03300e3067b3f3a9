// SPDX-License-Identifier: GPL-2.0
/* Uses kpc_thrice, which only the live patch lp_export_new_function exports. */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

int kpc_thrice(int n);

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_thrice(5));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_export_user", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_export_user", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

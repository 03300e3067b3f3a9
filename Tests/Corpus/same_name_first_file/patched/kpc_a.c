// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

int kpc_b_value(int n);

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* Same name as the static helper in kpc_b.c: sympos 1 in the module. */
static noinline int kpc_helper(int n)
{
	return n + 150;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d\n", kpc_helper(kpc_arg), kpc_b_value(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_same_name_first_file", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_same_name_first_file", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

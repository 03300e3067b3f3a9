// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static int kpc_slots[8];

static noinline int kpc_store(int n)
{
	kpc_slots[n & 7] = n;
	return kpc_slots[0] + kpc_slots[1] + kpc_slots[2] + kpc_slots[3];
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_store(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_size_changed", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_size_changed", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

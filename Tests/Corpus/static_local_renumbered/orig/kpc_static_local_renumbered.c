// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* Two functions with a static local of the same name. */
static noinline int kpc_up(int step)
{
	static int kpc_count;

	kpc_count += step;
	return kpc_count;
}

static noinline int kpc_down(int step)
{
	static int kpc_count;

	kpc_count -= step;
	return kpc_count;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d\n", kpc_up(kpc_arg), kpc_down(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_static_local_renumbered", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_static_local_renumbered", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

struct kpc_pair {
	int a;
	int b;
};

/* Reads one field of the struct: IPA-SRA passes p->a by value instead. */
static noinline int kpc_pick(struct kpc_pair *p)
{
	return p->a * 3;
}

static int kpc_show(struct seq_file *m, void *v)
{
	struct kpc_pair pair = { kpc_arg, kpc_arg + 1 };

	seq_printf(m, "%d\n", kpc_pick(&pair));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_clone_isra", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_clone_isra", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

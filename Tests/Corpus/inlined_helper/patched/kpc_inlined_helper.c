// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* Small enough that gcc inlines it into both callers; no out-of-line copy. */
static inline int kpc_scale(int n)
{
	return n * 5;
}

static noinline int kpc_front(int n)
{
	return kpc_scale(n) + 1;
}

static noinline int kpc_back(int n)
{
	return kpc_scale(n) - 1;
}

static noinline int kpc_other(int n)
{
	return n - 7;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d %d\n", kpc_front(kpc_arg), kpc_back(kpc_arg), kpc_other(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_inlined_helper", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_inlined_helper", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

#include <linux/atomic.h>

static atomic_t kpc_hits = ATOMIC_INIT(0);

static noinline int kpc_hit(int n)
{
	/* atomic_add_return: a lock xadd, listed in .smp_locks. */
	return atomic_add_return(n > 0 ? n : 0, &kpc_hits);
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_hit(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_atomic_smp_locks", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_atomic_smp_locks", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

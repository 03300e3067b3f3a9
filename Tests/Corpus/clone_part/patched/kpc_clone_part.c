// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

static int kpc_slow_total;

/*
 * A cheap test first and a long tail: too big to inline whole into its three
 * callers, so partial inlining inlines the test and splits the tail off.
 */
static int kpc_check(int n)
{
	int i;

	if (likely(n < 16))
		return n;
	for (i = 0; i < n; i++) {
		kpc_slow_total += i + n;
		if (kpc_slow_total > 100000)
			pr_info("kpc_clone_part: total %d at %d\n", kpc_slow_total, i);
		if (kpc_slow_total & 1)
			pr_info("kpc_clone_part: odd %d\n", kpc_slow_total);
		if (kpc_slow_total & 2)
			pr_info("kpc_clone_part: two %d\n", kpc_slow_total);
		if (kpc_slow_total & 4)
			pr_info("kpc_clone_part: four %d\n", kpc_slow_total);
	}
	pr_info("kpc_clone_part: slow path for %d\n", n);
	return -1;
}

static noinline int kpc_first(int n)
{
	return kpc_check(n) + 1;
}

static noinline int kpc_second(int n)
{
	return kpc_check(n * 2) + 2;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d %d %d\n", kpc_first(kpc_arg), kpc_second(kpc_arg), kpc_check(kpc_arg + 7));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_clone_part", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_clone_part", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

#include <asm/cpufeature.h>

static noinline int kpc_features(int n)
{
	return n;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_features(kpc_arg));
	return 0;
}

/* Written at load only: the __init use of static_cpu_has() below puts a fragment into
 * .altinstr_aux that jumps back into init code, which no patch can carry. */
static bool kpc_avx2_at_load;

static int __init kpc_init(void)
{
	kpc_avx2_at_load = static_cpu_has(X86_FEATURE_AVX2);
	return proc_create_single("kpc_alternative_cpu_has", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_alternative_cpu_has", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

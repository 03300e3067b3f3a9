// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* Always inlined, with code of its own in the caller (a DWARF inlined range). */
static __always_inline void kpc_report(struct seq_file *m, int n)
{
	if (n > 1000)
		n = 1000;
	seq_printf(m, "value %d\n", n * 7);
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "start\n");
	kpc_report(m, kpc_arg);
	seq_puts(m, "end\n");
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_inlined_callee", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_inlined_callee", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

#include <linux/string.h>

static char kpc_name[16] = "kpatch";

static noinline int kpc_fill(char *buf, size_t len)
{
	memcpy(buf, kpc_name, len);
	buf[len - 1] = 0;
	return len - 1;
}

static int kpc_show(struct seq_file *m, void *v)
{
	char buf[8];

	seq_printf(m, "%d %s\n", kpc_fill(buf, sizeof(buf)), buf);
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_fortify_cold_child", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_fortify_cold_child", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

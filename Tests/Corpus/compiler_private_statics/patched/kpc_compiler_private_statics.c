// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

#include <linux/mutex.h>
#include <linux/slab.h>

struct kpc_box {
	struct mutex lock;
	int value;
};

/* Each call site below owns a compiler-private static: __already_done (once), _rs (ratelimit), __key (mutex_init). */
static noinline int kpc_fill(int n)
{
	struct kpc_box *box = kmalloc(sizeof(*box), GFP_KERNEL);
	int v;

	if (!box)
		return -ENOMEM;
	mutex_init(&box->lock);
	mutex_lock(&box->lock);
	box->value = n * 2;
	mutex_unlock(&box->lock);
	if (n > 100)
		pr_info_once("kpc_compiler_private_statics: large %d\n", n);
	if (n < 0)
		pr_info_ratelimited("kpc_compiler_private_statics: negative %d\n", n);
	v = box->value;
	kfree(box);
	return v;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_fill(kpc_arg));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_compiler_private_statics", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_compiler_private_statics", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

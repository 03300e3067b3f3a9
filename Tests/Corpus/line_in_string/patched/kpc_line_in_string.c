// SPDX-License-Identifier: GPL-2.0

#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/string.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

struct kpc_record {
	int id;
	char tag[8];
	char rest[8];
};

static struct kpc_record kpc_rec;

/* Fortify's field-spanning memcpy check embeds __FILE__ ":" __LINE__ in a string. */
static noinline void kpc_copy(const char *src, size_t len)
{
	memcpy(kpc_rec.tag, src, len);
}

#define KPC_HERE KBUILD_BASENAME ":" __stringify(__LINE__)

static noinline const char *kpc_where(void)
{
	return "kpc_where at " KPC_HERE;
}

/* ASSERT_RTNL's shape in older kernels: __FILE__, __LINE__ as consecutive printk arguments. */
static noinline void kpc_assert(int n)
{
	if (n < 0)
		printk(KERN_ERR "kpc: assertion failed at %s (%d)\n", __FILE__, __LINE__);
}

static noinline const char *kpc_limit(void)
{
	return "limit 20";
}

static int kpc_show(struct seq_file *m, void *v)
{
	kpc_copy("abcdefg", kpc_arg);
	kpc_assert(kpc_arg);
	seq_printf(m, "%s %s %d\n", kpc_limit(), kpc_where() ? "here" : "", kpc_rec.tag[0]);
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_line_in_string", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_line_in_string", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

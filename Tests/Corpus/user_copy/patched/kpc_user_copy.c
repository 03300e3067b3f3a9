// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

#include <linux/uaccess.h>

static int kpc_value;

/* Reads an int from user memory; unsafe_get_user puts an __ex_table entry here. */
static noinline int kpc_read_user(const int __user *p)
{
	int v;

	if (!user_access_begin(p, sizeof(*p)))
		return -EFAULT;
	unsafe_get_user(v, p, efault);
	user_access_end();
	kpc_value = v < 0 ? 0 : v;
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

static ssize_t kpc_write(struct file *file, const char __user *buf, size_t len, loff_t *pos)
{
	if (len < sizeof(int))
		return -EINVAL;
	return kpc_read_user((const int __user *)buf) ?: len;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_value + kpc_arg);
	return 0;
}

static int kpc_open(struct inode *inode, struct file *file)
{
	return single_open(file, kpc_show, NULL);
}

static const struct proc_ops kpc_ops = {
	.proc_open = kpc_open,
	.proc_read = seq_read,
	.proc_write = kpc_write,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static int __init kpc_init(void)
{
	return proc_create("kpc_user_copy", 0644, NULL, &kpc_ops) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_user_copy", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture (KernelFaultsVMTests): a second patch target whose /proc/kpblocker
 * read sleeps (interruptibly) in kpblocker_show() until something is written to
 * /proc/kpblocker_release. A reader asleep there holds up a transition of a patch
 * that replaces kpblocker_show, whatever else that patch touches.
 */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/wait.h>
#include <linux/atomic.h>

static DECLARE_WAIT_QUEUE_HEAD(kpblocker_waitq);
static atomic_t kpblocker_gen = ATOMIC_INIT(0);

static noinline int kpblocker_wait(void)
{
	int gen = atomic_read(&kpblocker_gen);

	return wait_event_interruptible(kpblocker_waitq, atomic_read(&kpblocker_gen) != gen);
}

static noinline int kpblocker_show(struct seq_file *m, void *v)
{
	int ret = kpblocker_wait();

	if (ret)
		return ret;
	seq_puts(m, "released\n");
	return 0;
}

static ssize_t kpblocker_release_write(struct file *file, const char __user *buf, size_t len, loff_t *off)
{
	atomic_inc(&kpblocker_gen);
	wake_up_interruptible_all(&kpblocker_waitq);
	return len;
}

static const struct proc_ops kpblocker_release_ops = {
	.proc_write = kpblocker_release_write,
};

static int __init kpblocker_init(void)
{
	if (!proc_create_single("kpblocker", 0444, NULL, kpblocker_show))
		return -ENOMEM;
	if (!proc_create("kpblocker_release", 0200, NULL, &kpblocker_release_ops)) {
		remove_proc_entry("kpblocker", NULL);
		return -ENOMEM;
	}
	return 0;
}

static void __exit kpblocker_exit(void)
{
	remove_proc_entry("kpblocker_release", NULL);
	remove_proc_entry("kpblocker", NULL);
}

module_init(kpblocker_init);
module_exit(kpblocker_exit);
MODULE_LICENSE("GPL");

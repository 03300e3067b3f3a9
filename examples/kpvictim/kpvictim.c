// SPDX-License-Identifier: GPL-2.0
/*
 * kpvictim: a small module for live-patching demos and tests.
 *
 *   /proc/kpvictim          "sum(1..10) = N" from kpvictim_sum(), which has an
 *                           off-by-one (prints 45, should be 55), and the ticks
 *                           of the kpvictim_tick kthread.
 *   kthread kpvictim_tick   calls kpvictim_tick_once() every 100 ms.
 *   /proc/kpvictim_wait     a read sleeps (interruptibly) in kpvictim_wait_release()
 *                           until something is written to /proc/kpvictim_release.
 */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/wait.h>
#include <linux/atomic.h>

static atomic_long_t kpvictim_ticks = ATOMIC_LONG_INIT(0);
static struct task_struct *kpvictim_thread;
static DECLARE_WAIT_QUEUE_HEAD(kpvictim_waitq);
static atomic_t kpvictim_release_gen = ATOMIC_INIT(0);

/* The deliberate bug: the loop stops one short of n. */
static noinline int kpvictim_sum(int n)
{
	int i, sum = 0;

	for (i = 1; i < n; i++)
		sum += i;
	return sum;
}

static noinline void kpvictim_tick_once(void)
{
	atomic_long_inc(&kpvictim_ticks);
}

static int kpvictim_tick_fn(void *unused)
{
	while (!kthread_should_stop()) {
		kpvictim_tick_once();
		msleep_interruptible(100);
	}
	return 0;
}

static noinline int kpvictim_wait_release(void)
{
	int gen = atomic_read(&kpvictim_release_gen);

	return wait_event_interruptible(kpvictim_waitq,
					atomic_read(&kpvictim_release_gen) != gen);
}

static int kpvictim_show(struct seq_file *m, void *v)
{
	seq_printf(m, "sum(1..10) = %d\n", kpvictim_sum(10));
	seq_printf(m, "ticks = %ld\n", atomic_long_read(&kpvictim_ticks));
	return 0;
}

static int kpvictim_wait_show(struct seq_file *m, void *v)
{
	int ret = kpvictim_wait_release();

	if (ret)
		return ret;
	seq_puts(m, "released\n");
	return 0;
}

static ssize_t kpvictim_release_write(struct file *file, const char __user *buf,
				      size_t len, loff_t *off)
{
	atomic_inc(&kpvictim_release_gen);
	wake_up_interruptible_all(&kpvictim_waitq);
	return len;
}

static const struct proc_ops kpvictim_release_ops = {
	.proc_write = kpvictim_release_write,
};

static int __init kpvictim_init(void)
{
	if (!proc_create_single("kpvictim", 0444, NULL, kpvictim_show))
		goto fail;
	if (!proc_create_single("kpvictim_wait", 0444, NULL, kpvictim_wait_show))
		goto fail;
	if (!proc_create("kpvictim_release", 0200, NULL, &kpvictim_release_ops))
		goto fail;
	kpvictim_thread = kthread_run(kpvictim_tick_fn, NULL, "kpvictim_tick");
	if (IS_ERR(kpvictim_thread)) {
		kpvictim_thread = NULL;
		goto fail;
	}
	return 0;
fail:
	remove_proc_entry("kpvictim_release", NULL);
	remove_proc_entry("kpvictim_wait", NULL);
	remove_proc_entry("kpvictim", NULL);
	return -ENOMEM;
}

static void __exit kpvictim_exit(void)
{
	if (kpvictim_thread)
		kthread_stop(kpvictim_thread);
	remove_proc_entry("kpvictim_release", NULL);
	remove_proc_entry("kpvictim_wait", NULL);
	remove_proc_entry("kpvictim", NULL);
}

module_init(kpvictim_init);
module_exit(kpvictim_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kpatchctl demo and test target");

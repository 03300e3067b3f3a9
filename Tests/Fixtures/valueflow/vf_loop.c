// SPDX-License-Identifier: GPL-2.0
/*
 * Value-flow fixture, the kthread: vf_thread_fn's loop
 *   - reads vf_ticks, which vf_tick_once (vf_tick.c) bumps        (hole a: refused)
 *   - reads vf_last, which vf_note_result stores vf_compute into  (hole f: refused)
 *   - reads the object it passed to vf_fill by integer address    (hole c: refused)
 *   - drops objects through vf_step -> vf_drop -> vf_release, and never reads them again
 *     (a release path: let through, the value stops at vf_drop)
 */
#include <linux/module.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include "vf.h"

static struct task_struct *vf_thread, *vf_watch;
static struct vf_obj *vf_pending;
static unsigned long vf_seen;
static int vf_dropped;

static noinline int vf_step(void)
{
	struct vf_obj *o = READ_ONCE(vf_pending);

	if (!o)
		return 0;
	WRITE_ONCE(vf_pending, NULL);
	return vf_drop(o) > 0;
}

static int vf_thread_fn(void *unused)
{
	struct vf_obj local = { .ref = 1 };

	while (!kthread_should_stop()) {
		vf_tick_once();
		vf_note_result(READ_ONCE(vf_dropped));
		vf_fill((unsigned long)&local);
		vf_dropped += vf_step();
		WRITE_ONCE(vf_seen, READ_ONCE(vf_ticks) + READ_ONCE(vf_last) + local.payload);
		msleep_interruptible(100);
	}
	return 0;
}

static int __init vf_init(void)
{
	vf_pending = kzalloc(sizeof(*vf_pending), GFP_KERNEL);
	vf_thread = kthread_run(vf_thread_fn, NULL, "vf_thread");
	if (IS_ERR(vf_thread))
		return PTR_ERR(vf_thread);
	vf_watch = vf_watch_start();
	if (IS_ERR(vf_watch)) {
		kthread_stop(vf_thread);
		return PTR_ERR(vf_watch);
	}
	return 0;
}

static void __exit vf_exit(void)
{
	kthread_stop(vf_watch);
	kthread_stop(vf_thread);
	kfree(READ_ONCE(vf_pending));
}

module_init(vf_init);
module_exit(vf_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kpatchctl value-flow fixture");

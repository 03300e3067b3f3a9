// SPDX-License-Identifier: GPL-2.0
/*
 * Value-flow fixture, frames: a call made from code inlined into a function is that function's own (its
 * frame runs the call, and its code says what it keeps).
 *   vf_put(o)           always inlined: releases o through vf_release (an integer address);
 *   vf_frame_drops()    inlines vf_put on an object it took from vf_frame_slot and never reads it again:
 *                       the value does not come into it;
 *   vf_frame_keeps()    inlines vf_put, then reads the object: the value comes in and goes on as its result;
 *   vf_tail_release(o)  ends with a tail call of vf_release on its own parameter: handed on as that parameter;
 *   vf_watch_fn         a second kthread whose loop inlines vf_check, which only branches on vf_compute's
 *                       result: the value stops in code that runs in the loop's own frame (refused);
 *                       it reads vf_watch_deadline only through vf_watch_due, a function it calls, and
 *                       vf_set_deadline (void, an int) writes it: the loop's data all the same (refused);
 *                       vf_tally only branches on vf_sample's value, then writes the deadline with a value of
 *                       its own (nothing of vf_sample's is stored: a note), while vf_tally_store stores
 *                       vf_delay's value there (refused).
 */
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include "vf.h"

struct vf_obj *vf_frame_slot;
static int vf_frame_seen;

static __always_inline void vf_put(struct vf_obj *o)
{
	if (o)
		vf_release((unsigned long)o);
}

noinline int vf_frame_drops(void)
{
	struct vf_obj *o = READ_ONCE(vf_frame_slot);

	WRITE_ONCE(vf_frame_slot, NULL);
	vf_put(o);
	return READ_ONCE(vf_frame_seen);
}

noinline int vf_frame_keeps(void)
{
	struct vf_obj *o = READ_ONCE(vf_frame_slot);

	vf_put(o);
	return o ? READ_ONCE(o->payload) : 0;
}

noinline void vf_tail_release(struct vf_obj *o)
{
	WRITE_ONCE(vf_frame_seen, 1);
	vf_release((unsigned long)o);
}

static unsigned long vf_watch_deadline;

noinline void vf_set_deadline(int delta)
{
	WRITE_ONCE(vf_watch_deadline, jiffies + delta);
}

static noinline bool vf_watch_due(void)
{
	return time_after(jiffies, READ_ONCE(vf_watch_deadline));
}

noinline int vf_sample(void)
{
	return READ_ONCE(vf_frame_seen) + 1;
}

noinline int vf_delay(void)
{
	return READ_ONCE(vf_frame_seen) * 2;
}

static noinline void vf_tally(void)
{
	if (vf_sample() > 2)
		WRITE_ONCE(vf_watch_deadline, jiffies + 7);
}

static noinline void vf_tally_store(void)
{
	WRITE_ONCE(vf_watch_deadline, jiffies + vf_delay());
}

static __always_inline void vf_check(void)
{
	if (vf_compute(READ_ONCE(vf_frame_seen)) > 3)
		WRITE_ONCE(vf_frame_seen, 0);
}

static int vf_watch_fn(void *unused)
{
	while (!kthread_should_stop()) {
		vf_check();
		if (vf_watch_due())
			vf_set_deadline(5);
		vf_tally();
		vf_tally_store();
		msleep_interruptible(100);
	}
	return 0;
}

struct task_struct *vf_watch_start(void)
{
	return kthread_run(vf_watch_fn, NULL, "vf_watch");
}

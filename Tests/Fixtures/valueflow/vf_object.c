// SPDX-License-Identifier: GPL-2.0
/*
 * Value-flow fixture, objects in the caller's own frame (`struct oom_control oc; out_of_memory(&oc);`):
 *   vf_box_fill(b)        writes vf_compute's value into the object it is given;
 *   vf_object_drops()     fills an object of its frame and never reads it again: the value stops there;
 *   vf_object_keeps()     fills one and returns what it holds: the value comes in and goes on as its result;
 *   vf_object_refills()   fills one, clears it with a store of its own, then reads it: stops there too;
 *   vf_object_escapes()   publishes the object's address (vf_box_seen) before filling it: the frame cannot be
 *                         followed, and the object counts as kept and carried on;
 *   vf_returns_only(o)    takes a writable pointer but hands vf_compute's value on only as its result.
 */
#include <linux/compiler.h>
#include "vf.h"

struct vf_box *vf_box_seen;

noinline void vf_box_fill(struct vf_box *b)
{
	WRITE_ONCE(b->value, vf_compute(b->seed));
}

noinline int vf_object_drops(int seed)
{
	struct vf_box b = { .seed = seed };

	vf_box_fill(&b);
	return READ_ONCE(vf_last);
}

noinline int vf_object_keeps(int seed)
{
	struct vf_box b = { .seed = seed };

	vf_box_fill(&b);
	return READ_ONCE(b.value);
}

noinline int vf_object_refills(int seed)
{
	struct vf_box b = { .seed = seed };

	vf_box_fill(&b);
	WRITE_ONCE(b.value, seed);
	WRITE_ONCE(b.seed, seed);
	return READ_ONCE(b.value) + READ_ONCE(b.seed);
}

noinline int vf_object_escapes(int seed)
{
	struct vf_box b = { .seed = seed };

	WRITE_ONCE(vf_box_seen, &b);
	vf_box_fill(&b);
	WRITE_ONCE(vf_box_seen, NULL);
	return READ_ONCE(vf_last);
}

noinline int vf_returns_only(struct vf_obj *o)
{
	return vf_compute(READ_ONCE(o->ref)) + 1;
}

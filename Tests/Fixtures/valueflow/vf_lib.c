// SPDX-License-Identifier: GPL-2.0
/*
 * Value-flow fixture, library side:
 *   vf_release(addr)  writes through an integer address (a release, like free_pages);
 *   vf_drop(o)        releases o and returns a count: it never touches o again (the value stops here);
 *   vf_fill(addr)     writes through an integer address whose object the loop reads afterwards (hole c);
 *   vf_compute(x)     returns a value;
 *   vf_note_result(x) returns nothing but stores vf_compute's result in vf_last, which the loop reads (hole f).
 */
#include <linux/compiler.h>
#include <linux/export.h>
#include "vf.h"

int vf_last;
static int vf_released;

noinline void vf_release(unsigned long addr)
{
	struct vf_obj *o = (struct vf_obj *)addr;

	WRITE_ONCE(o->ref, 0);
	WRITE_ONCE(o->payload, -1);
}

noinline int vf_drop(struct vf_obj *o)
{
	vf_release((unsigned long)o);
	return ++vf_released;
}

noinline void vf_fill(unsigned long addr)
{
	WRITE_ONCE(((struct vf_obj *)addr)->payload, 42);
}

noinline int vf_compute(int x)
{
	return x * 3 + READ_ONCE(vf_released);
}

noinline void vf_note_result(int x)
{
	WRITE_ONCE(vf_last, vf_compute(x));
}

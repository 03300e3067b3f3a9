// SPDX-License-Identifier: GPL-2.0
/* Hole (a): the tick function and the counter it bumps live here; the loop reading the counter is in vf_loop.c. */
#include <linux/compiler.h>
#include "vf.h"

unsigned long vf_ticks;

noinline void vf_tick_once(void)
{
	WRITE_ONCE(vf_ticks, vf_ticks + 1);
}

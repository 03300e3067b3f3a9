// SPDX-License-Identifier: GPL-2.0
/*
 * Value-flow fixture, flow inside a function: what each caller's own code does with vf_compute's result.
 *   vf_consume(x)  branches on it and returns its own parameter: consumed there (the value stops);
 *   vf_pass(x)     keeps it in a register across another call and returns it (goes on, as its result);
 *   vf_spill(x)    keeps it in a stack slot across another call and returns it (goes on, as its result);
 *   vf_store(x, p) stores it through the pointer it was given (goes on, through that argument);
 *   vf_mix(x)      mixes it into its result arithmetically (goes on, as its result).
 */
#include <linux/compiler.h>
#include "vf.h"

static int vf_big;

static noinline void vf_saw_big(void)
{
	WRITE_ONCE(vf_big, READ_ONCE(vf_big) + 1);
}

noinline int vf_consume(int x)
{
	if (vf_compute(x) > 10)
		vf_saw_big();
	return x;
}

noinline int vf_pass(int x)
{
	int r = vf_compute(x);

	vf_saw_big();
	return r;
}

noinline int vf_spill(int x)
{
	volatile int r = vf_compute(x);

	vf_saw_big();
	return r;
}

noinline void vf_store(int x, int *out)
{
	*out = vf_compute(x);
}

noinline int vf_mix(int x)
{
	return (vf_compute(x) << 2) ^ x;
}

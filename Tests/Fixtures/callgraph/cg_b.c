// SPDX-License-Identifier: GPL-2.0
/*
 * Call-graph fixture, unit B. Expected edges:
 *   cg_b_global -> cg_local [cg_b.c]
 *   cg_b_unreached -> cg_local [cg_b.c]   (nothing calls cg_b_unreached)
 */
#include <linux/module.h>
#include "cg.h"

static volatile int cg_b_sink;

/* Same name as the static in cg_a.c. */
static noinline int cg_local(int x)
{
	cg_b_sink = x;
	return x + 7;
}

noinline int cg_b_global(int x)
{
	return cg_local(x) * 3;
}

noinline int cg_b_unreached(int x)
{
	return cg_local(x + 1) * 5;
}

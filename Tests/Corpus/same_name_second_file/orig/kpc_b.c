// SPDX-License-Identifier: GPL-2.0
#include <linux/kernel.h>

int kpc_b_value(int n);

/* Same name as the static helper in kpc_a.c: sympos 2 in the module. */
static noinline int kpc_helper(int n)
{
	return n + 200;
}

noinline int kpc_b_value(int n)
{
	return kpc_helper(n) * 2;
}

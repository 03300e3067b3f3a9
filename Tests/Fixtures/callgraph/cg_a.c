// SPDX-License-Identifier: GPL-2.0
/*
 * Call-graph fixture, unit A. Expected edges:
 *   cg_thread_fn -> cg_entry                (call; kthread entry via kthread_run)
 *   cg_entry -> cg_local [cg_a.c]           (call to this unit's static)
 *   cg_entry -> cg_inlined                  (inlined)
 *   cg_inlined -> cg_leaf                   (call made from the inlined body)
 *   cg_entry -> cg_b_global                 (call into unit B)
 *   cg_entry -> cg_ping, cg_ping <-> cg_pong (cycle)
 *   cg_entry -> cg_tail_caller -> cg_tail_target (tail call)
 *   cg_thread_fn -> cg_if_const_string [cg_iface.c] (passes nothing back)
 *   cg_thread_fn -> cg_if_wrapper -> cg_if_returns (a value stops at the wrapper)
 */
#include <linux/module.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include "cg.h"

static volatile int cg_sink;
static struct task_struct *cg_thread;

/* The same name as a static in cg_b.c: must stay a distinct function. */
static noinline int cg_local(int x)
{
	cg_sink = x;
	return x + 1;
}

noinline int cg_leaf(int x)
{
	cg_sink = x;
	return x * 2;
}

static __always_inline int cg_inlined(int x)
{
	return cg_leaf(x) + 1;
}

noinline int cg_tail_target(int x)
{
	cg_sink = x;
	return x - 1;
}

noinline int cg_tail_caller(int x)
{
	cg_sink = x;
	return cg_tail_target(x + 3);
}

noinline int cg_ping(int n)
{
	if (n <= 0)
		return 0;
	cg_sink = n;
	return cg_pong(n - 1) + 1;
}

noinline int cg_pong(int n)
{
	if (n <= 0)
		return 0;
	cg_sink = n;
	return cg_ping(n - 1) + 2;
}

noinline int cg_entry(int x)
{
	int sum = cg_local(x);

	sum += cg_inlined(sum);
	sum += cg_b_global(sum);
	sum += cg_ping(sum);
	return sum + cg_tail_caller(sum);
}

static int cg_thread_fn(void *unused)
{
	while (!kthread_should_stop()) {
		cg_entry(1);
		cg_if_const_string("cg");
		cg_if_wrapper("w");
		msleep_interruptible(100);
	}
	return 0;
}

static int __init cg_init(void)
{
	cg_thread = kthread_run(cg_thread_fn, NULL, "cg_thread");
	return PTR_ERR_OR_ZERO(cg_thread);
}

static void __exit cg_exit(void)
{
	kthread_stop(cg_thread);
}

module_init(cg_init);
module_exit(cg_exit);
MODULE_LICENSE("GPL");

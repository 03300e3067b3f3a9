// SPDX-License-Identifier: GPL-2.0
/* Harness fixture: a module whose init triggers a kernel WARN, so the test VM's
 * forensics can be shown to turn a kernel report into a failure with its stack. */
#include <linux/module.h>
#include <linux/bug.h>

static noinline void warn_on_load_trigger(void)
{
	WARN_ON(1);
}

static int __init warn_on_load_init(void)
{
	warn_on_load_trigger();
	return 0;
}

static void __exit warn_on_load_exit(void)
{
}

module_init(warn_on_load_init);
module_exit(warn_on_load_exit);
MODULE_LICENSE("GPL");

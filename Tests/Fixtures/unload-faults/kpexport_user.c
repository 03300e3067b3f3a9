// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture (UnloadFaultsVMTests): an ordinary module that uses
 * livepatch_export's exported kpexport_value, so the kernel keeps
 * livepatch_export loaded while this module is.
 */
#include <linux/module.h>
#include <linux/kernel.h>

int kpexport_value(void);

static int kpexport_user_init(void)
{
	pr_info("kpexport_user: kpexport_value() = %d\n", kpexport_value());
	return 0;
}

static void kpexport_user_exit(void)
{
}

module_init(kpexport_user_init);
module_exit(kpexport_user_exit);
MODULE_LICENSE("GPL");

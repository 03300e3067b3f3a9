// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture (KernelFaultsVMTests): a livepatch module whose init fails with
 * -ENOMEM before it registers anything, as an allocation failure in a patch's own
 * init would. finit_module(2) fails with ENOMEM and the kernel frees the module.
 */
#include <linux/module.h>
#include <linux/kernel.h>

static int livepatch_nomem_init(void)
{
	pr_info("livepatch_nomem: init fails with -ENOMEM\n");
	return -ENOMEM;
}

static void livepatch_nomem_exit(void)
{
}

module_init(livepatch_nomem_init);
module_exit(livepatch_nomem_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");

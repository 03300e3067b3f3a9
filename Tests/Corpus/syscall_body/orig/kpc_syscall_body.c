// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>
#include <linux/rwsem.h>
#include <linux/string.h>
#include <linux/uaccess.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

struct kpc_info { char name[65]; char release[65]; char version[65]; char machine[65]; };
static DECLARE_RWSEM(kpc_sem);
static struct kpc_info kpc_info = { "kpc", "1.0", "#1", "x86_64" };
static struct kpc_info kpc_last;
static long kpc_faults;

/*
 * A syscall defined the way SYSCALL_DEFINE1 does it on x86-64 (without the
 * ftrace metadata), shaped like newuname: the __x64_sys_/__ia32_sys_ stubs
 * jump to the body in the static inline (hence notrace) __do_sys_kpc_probe,
 * which gcc emits out of line.
 */
__SYSCALL_DEFINEx(1, _kpc_probe, int, n)
{
	struct kpc_info tmp;
	int i;

	down_read(&kpc_sem);
	memcpy(&tmp, &kpc_info, sizeof(tmp));
	up_read(&kpc_sem);
	for (i = 0; i < n && i < 8; i++)
		strlcat(tmp.version, "+", sizeof(tmp.version));
	/* No user buffer here: this faults and counts. */
	if (copy_to_user(NULL, &tmp, sizeof(tmp)))
		kpc_faults++;
	memcpy(&kpc_last, &tmp, sizeof(tmp));
	return strlen(tmp.version);
}

static int kpc_show(struct seq_file *m, void *v)
{
	struct pt_regs regs = { .di = kpc_arg };

	seq_printf(m, "%ld\n", __x64_sys_kpc_probe(&regs));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_syscall_body", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_syscall_body", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

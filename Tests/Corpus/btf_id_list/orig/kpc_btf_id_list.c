// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/btf_ids.h>
#include <linux/bpf.h>

static int kpc_arg = 3;
module_param(kpc_arg, int, 0644);

/* resolve_btfids fills these in when the module is linked with BTF. */
BTF_ID_LIST(kpc_btf_ids)
BTF_ID(struct, task_struct)
BTF_ID(struct, file)
BTF_ID(func, kpc_check_access)

/* A BPF-verifier-style check: compare a BTF id against the list. */
noinline int kpc_check_access(u32 btf_id, int off)
{
	if (btf_id == kpc_btf_ids[1] && off < 0)
		return -EACCES;
	return btf_id == kpc_btf_ids[0] ? off : -EINVAL;
}

static int kpc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", kpc_check_access(kpc_btf_ids[1], kpc_arg - 3));
	return 0;
}

static int __init kpc_init(void)
{
	return proc_create_single("kpc_btf_id_list", 0444, NULL, kpc_show) ? 0 : -ENOMEM;
}

static void __exit kpc_exit(void)
{
	remove_proc_entry("kpc_btf_id_list", NULL);
}

module_init(kpc_init);
module_exit(kpc_exit);
MODULE_LICENSE("GPL");

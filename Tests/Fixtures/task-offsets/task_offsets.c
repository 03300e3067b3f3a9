// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: the compiler's view of struct task_struct, to check what
 * kpatchctl reads from BTF. Each array's size (nm -S) is a member's offset.
 */
#include <linux/module.h>
#include <linux/sched.h>

char kp_offset_task_struct_pid[offsetof(struct task_struct, pid)];
char kp_offset_task_struct_tgid[offsetof(struct task_struct, tgid)];
char kp_offset_task_struct_comm[offsetof(struct task_struct, comm)];

MODULE_LICENSE("GPL");

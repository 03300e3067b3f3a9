/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KPATCH_SYSCALL_DEFINE0..6: write a patched system call exactly like
 * SYSCALL_DEFINEn (docs/AUTHOR-API.md). SYSCALL_DEFINEn puts the body into
 * `static inline __do_sys_<name>`, and the kernel's `inline` implies notrace:
 * ftrace cannot redirect it. Here the body is an ordinary static function
 * under another name, so the change always lands in the traced entry points
 * __x64_sys_<name> (and __ia32_sys_<name>), which the patch replaces.
 * x86-64 only (the syscall wrapper ABI of arch/x86).
 */
#ifndef _KPATCHCTL_SYSCALL_H
#define _KPATCHCTL_SYSCALL_H

#include <linux/syscalls.h>
#include "kpatch-macros.h"

#ifndef CONFIG_X86_64
#error "kpatch-syscall.h: KPATCH_SYSCALL_DEFINE supports x86-64 only"
#endif

#define __KPATCHCTL_SYSCALL_DEFINEx(x, name, ...)				\
	static long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__));		\
	static long __kpatchctl_do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__));	\
	__X64_SYS_STUBx(x, name, __VA_ARGS__)					\
	__IA32_SYS_STUBx(x, name, __VA_ARGS__)					\
	static long __se_sys##name(__MAP(x, __SC_LONG, __VA_ARGS__))		\
	{									\
		long ret = __kpatchctl_do_sys##name(__MAP(x, __SC_CAST, __VA_ARGS__)); \
		__MAP(x, __SC_TEST, __VA_ARGS__);				\
		__PROTECT(x, ret, __MAP(x, __SC_ARGS, __VA_ARGS__));		\
		return ret;							\
	}									\
	static long __kpatchctl_do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__))

#define KPATCH_SYSCALL_DEFINEx(x, sname, ...)					\
	SYSCALL_METADATA(sname, x, __VA_ARGS__)					\
	__KPATCHCTL_SYSCALL_DEFINEx(x, sname, __VA_ARGS__)

/* The kernel's SYSCALL_DEFINE0 body is already an ordinary (traced) function. */
#define KPATCH_SYSCALL_DEFINE0(sname)	SYSCALL_DEFINE0(sname)
#define KPATCH_SYSCALL_DEFINE1(name, ...) KPATCH_SYSCALL_DEFINEx(1, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE2(name, ...) KPATCH_SYSCALL_DEFINEx(2, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE3(name, ...) KPATCH_SYSCALL_DEFINEx(3, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE4(name, ...) KPATCH_SYSCALL_DEFINEx(4, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE5(name, ...) KPATCH_SYSCALL_DEFINEx(5, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE6(name, ...) KPATCH_SYSCALL_DEFINEx(6, _##name, __VA_ARGS__)

#endif /* _KPATCHCTL_SYSCALL_H */

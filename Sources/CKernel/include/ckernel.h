#ifndef KPATCHCTL_CKERNEL_H
#define KPATCHCTL_CKERNEL_H
/* Kernel interfaces Swift cannot call directly: glibc has no wrappers for
 * finit_module(2)/delete_module(2), and Swift does not import variadic syscall(2). */

/* finit_module(2): returns 0 or -1 with errno set. */
int ckernel_finit_module(int fd, const char *params, int flags);
/* delete_module(2): returns 0 or -1 with errno set. */
int ckernel_delete_module(const char *name, unsigned int flags);

/* Capability bit of CAP_SYS_MODULE in /proc/<pid>/status CapEff. */
#define CKERNEL_CAP_SYS_MODULE 16

#endif

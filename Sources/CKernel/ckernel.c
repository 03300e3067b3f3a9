#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
#include "ckernel.h"

int ckernel_finit_module(int fd, const char *params, int flags)
{
	return (int)syscall(SYS_finit_module, fd, params, flags);
}

int ckernel_delete_module(const char *name, unsigned int flags)
{
	return (int)syscall(SYS_delete_module, name, flags);
}

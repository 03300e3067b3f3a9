// SPDX-License-Identifier: GPL-2.0
/*
 * Call-graph fixture, unit C: prototypes whose FunctionInterface is known.
 * "nothing": returns void, every parameter a value or a pointer to const,
 * pointer-free (or const-pointer-only) data. "values": anything else.
 */
#include <linux/module.h>
#include <linux/compiler.h>
#include <linux/sched.h>

struct cg_ro {
	int a;
	const char *name;
};

struct cg_rw {
	int a;
	int *out;
};

struct cg_node {
	const struct cg_node *next;
	int value;
};

typedef const struct cg_ro cg_const_ro;

/* Declared only: its members are not known here. */
struct cg_opaque;

/* Mutually recursive: a is writable (out), so b, which reaches a, is too. */
struct cg_rec_b;
struct cg_rec_a {
	const struct cg_rec_b *b;
	int *out;
};
struct cg_rec_b {
	const struct cg_rec_a *a;
	int v;
};

static volatile long cg_iface_sink;

/* nothing */
noinline void cg_if_scalars(int x, unsigned short y) { cg_iface_sink = x + y; }
noinline void cg_if_const_void(const void *p) { cg_iface_sink = (long)p; }
noinline void cg_if_const_string(const char *s) { cg_iface_sink = s[0]; }
noinline void cg_if_const_ro(const struct cg_ro *r) { cg_iface_sink = r->a + r->name[0]; }
noinline void cg_if_const_list(const struct cg_node *n) { cg_iface_sink = n->next ? n->next->value : n->value; }
noinline void cg_if_typedef_const(cg_const_ro *r) { cg_iface_sink = r->a; }
noinline void cg_if_no_parameters(void) { cg_iface_sink++; }

/* values */
noinline int cg_if_returns(int x) { cg_iface_sink = x; return x + 1; }
noinline void cg_if_writable(int *p) { *p = 1; }
noinline void cg_if_void_pointer(void *p) { cg_iface_sink = (long)p; }
noinline void cg_if_const_rw(const struct cg_rw *r) { *r->out = r->a; }
noinline void cg_if_callback(void (*fn)(void)) { fn(); }
noinline void cg_if_varargs(const char *fmt, ...) { cg_iface_sink = fmt[0]; }

/* values: an integer as wide as a pointer may be an address (free_pages(unsigned long addr, ...)) */
noinline void cg_if_int_address(unsigned long addr) { *(int *)addr = 0; }
/* values: what an opaque struct holds is not known */
noinline void cg_if_opaque(const struct cg_opaque *o) { cg_iface_sink = (long)o; }
/* values, both: decided in this order, a is decided while b assumes it read-only */
noinline void cg_if_rec_a(const struct cg_rec_a *a) { cg_iface_sink = a->b->v; }
noinline void cg_if_rec_b(const struct cg_rec_b *b) { *b->a->out = b->v; }
/* uses the running task: it writes current->flags, which the calling kthread reads */
noinline void cg_if_sets_current(unsigned int flag) { current->flags |= flag; }
/* nothing by its prototype, but what it calls changes the calling task */
noinline void cg_if_current_wrapper(int x) { cg_if_sets_current(x & 1); }
/* a thread function for the rule tests: its loop reaches the current writer through the wrapper */
noinline int cg_if_current_loop(void *data) { cg_if_current_wrapper(data != NULL); return 0; }

/* nothing, though what it calls returns a value: no value comes back through it */
noinline void cg_if_wrapper(const char *s) { cg_iface_sink = cg_if_returns(s[0]); }

EXPORT_SYMBOL(cg_if_scalars);
EXPORT_SYMBOL(cg_if_const_void);
EXPORT_SYMBOL(cg_if_const_string);
EXPORT_SYMBOL(cg_if_const_ro);
EXPORT_SYMBOL(cg_if_const_list);
EXPORT_SYMBOL(cg_if_typedef_const);
EXPORT_SYMBOL(cg_if_no_parameters);
EXPORT_SYMBOL(cg_if_returns);
EXPORT_SYMBOL(cg_if_writable);
EXPORT_SYMBOL(cg_if_void_pointer);
EXPORT_SYMBOL(cg_if_const_rw);
EXPORT_SYMBOL(cg_if_callback);
EXPORT_SYMBOL(cg_if_varargs);
EXPORT_SYMBOL(cg_if_wrapper);
EXPORT_SYMBOL(cg_if_int_address);
EXPORT_SYMBOL(cg_if_opaque);
EXPORT_SYMBOL(cg_if_rec_a);
EXPORT_SYMBOL(cg_if_rec_b);
EXPORT_SYMBOL(cg_if_sets_current);
EXPORT_SYMBOL(cg_if_current_wrapper);
EXPORT_SYMBOL(cg_if_current_loop);

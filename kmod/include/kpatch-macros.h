/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpatchctl's patch-author API (docs/AUTHOR-API.md), source compatible with
 * patches written for kpatch's kpatch-macros.h. `kpatchctl build` puts this
 * directory on the include path of the patched build, so a diff may simply
 * `#include "kpatch-macros.h"`.
 *
 * The markers below only record facts in sections named .kpatchctl.*: the
 * builder reads them from the patched object (callbacks, ignored functions and
 * sections, system states) and never copies the markers into the patch module.
 */
#ifndef _KPATCHCTL_MACROS_H
#define _KPATCHCTL_MACROS_H

#include <linux/compiler.h>
#include <linux/livepatch.h>
#include <linux/printk.h>

/* What every callback receives: the patched object (vmlinux or a module). */
typedef struct klp_object patch_object;

#define __KPATCHCTL_MARKER(sec) __section(sec) __used __aligned(8)

/*
 * Per-object callbacks, run by the livepatch core for the object the source
 * file belongs to (Documentation/livepatch/callbacks.rst):
 *   pre-patch    before any task runs the new code; a non-zero return vetoes
 *                the patch (apply fails, nothing stays loaded);
 *   post-patch   once every task runs the new code;
 *   pre-unpatch  before the revert transition starts;
 *   post-unpatch once every task runs the original code again.
 * A replaced patch's callbacks do not run when a cumulative patch replaces it.
 */
#define KPATCH_PRE_PATCH_CALLBACK(_fn)						\
	static int (* const __kpatchctl_pre_patch_##_fn)(patch_object *)	\
	__KPATCHCTL_MARKER(".kpatchctl.callback.pre_patch") = _fn
#define KPATCH_POST_PATCH_CALLBACK(_fn)						\
	static void (* const __kpatchctl_post_patch_##_fn)(patch_object *)	\
	__KPATCHCTL_MARKER(".kpatchctl.callback.post_patch") = _fn
#define KPATCH_PRE_UNPATCH_CALLBACK(_fn)					\
	static void (* const __kpatchctl_pre_unpatch_##_fn)(patch_object *)	\
	__KPATCHCTL_MARKER(".kpatchctl.callback.pre_unpatch") = _fn
#define KPATCH_POST_UNPATCH_CALLBACK(_fn)					\
	static void (* const __kpatchctl_post_unpatch_##_fn)(patch_object *)	\
	__KPATCHCTL_MARKER(".kpatchctl.callback.post_unpatch") = _fn

/*
 * Changes the differ leaves out on purpose: a function whose change must not
 * be patched (e.g. it only changed because of an inlined helper that is
 * patched elsewhere), or every symbol of a section. `kpatchctl build` lists
 * what it ignored in its summary.
 */
#define KPATCH_IGNORE_FUNCTION(_fn)						\
	static void * const __kpatchctl_ignore_function_##_fn			\
	__KPATCHCTL_MARKER(".kpatchctl.ignore.function") = (void *)(_fn)
#define KPATCH_IGNORE_SECTION(_sec)						\
	static const char __PASTE(__kpatchctl_ignore_section_, __LINE__)[]	\
	__section(".kpatchctl.ignore.section") __used = _sec

/* printk from patched code, marked as coming from a live patch. */
#define KPATCH_PRINTK(_fmt, ...)						\
	printk(KERN_INFO "livepatch: " _fmt, ##__VA_ARGS__)

/*
 * Shadow variables (Documentation/livepatch/shadow-vars.rst): data attached
 * to an existing object by (object address, id), without changing its layout.
 * Thin typed helpers over klp_shadow_*; calling klp_shadow_* directly works too.
 * Allocation zeroes the data; use klp_shadow_alloc with a constructor for more.
 */
#define KPATCH_SHADOW_GET(_obj, _id, _type)					\
	((_type *)klp_shadow_get((_obj), (_id)))
#define KPATCH_SHADOW_ALLOC(_obj, _id, _type, _gfp)				\
	((_type *)klp_shadow_alloc((_obj), (_id), sizeof(_type), (_gfp), NULL, NULL))
#define KPATCH_SHADOW_GET_OR_ALLOC(_obj, _id, _type, _gfp)			\
	((_type *)klp_shadow_get_or_alloc((_obj), (_id), sizeof(_type), (_gfp), NULL, NULL))
#define KPATCH_SHADOW_FREE(_obj, _id)	klp_shadow_free((_obj), (_id), NULL)
#define KPATCH_SHADOW_FREE_ALL(_id)	klp_shadow_free_all((_id), NULL)

/*
 * System states (Documentation/livepatch/system-state.rst): a patch declares
 * each state it changes (id) and the version of that change it handles.
 * `kpatchctl build` puts them into klp_patch.states. The kernel, and apply
 * before loading, refuse a patch that would downgrade a state a running patch
 * set up, and a cumulative (--replace) patch that drops one.
 */
struct kpatchctl_state_marker {
	unsigned long id;
	unsigned int version;
	unsigned int reserved;
};
#define KPATCH_STATE(_id, _version)						\
	static const struct kpatchctl_state_marker				\
	__PASTE(__kpatchctl_state_, __LINE__)					\
	__KPATCHCTL_MARKER(".kpatchctl.state") = { .id = (_id), .version = (_version) }

/* The patch this code is part of (defined by the patch-module template). */
extern struct klp_patch kpatchctl_patch;

/* This patch's klp_state for `id` (NULL unless declared with KPATCH_STATE). */
#define KPATCH_STATE_GET(_id)		klp_get_state(&kpatchctl_patch, (_id))
/*
 * The same state of the patch being replaced, during a transition to this
 * patch (in callbacks): non-NULL when there is one to take over from.
 */
#define KPATCH_STATE_GET_PREV(_id)	klp_get_prev_state(_id)

#endif /* _KPATCHCTL_MACROS_H */

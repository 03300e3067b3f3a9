/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VF_H
#define VF_H
struct vf_obj {
	int ref;
	int payload;
};
/* vf_tick.c: the tick and its counter, apart from the loop that reads the counter (hole a). */
extern unsigned long vf_ticks;
void vf_tick_once(void);
/* vf_lib.c */
extern int vf_last;
int vf_compute(int x);
void vf_note_result(int x);
void vf_release(unsigned long addr);
int vf_drop(struct vf_obj *o);
void vf_fill(unsigned long addr);
/* vf_flow.c: callers of vf_compute, for the flow inside a function */
int vf_consume(int x);
int vf_pass(int x);
int vf_spill(int x);
void vf_store(int x, int *out);
int vf_mix(int x);
/* vf_frame.c: calls made from inlined code, a tail call, a loop that inlines its check */
extern struct vf_obj *vf_frame_slot;
int vf_frame_drops(void);
int vf_frame_keeps(void);
void vf_tail_release(struct vf_obj *o);
void vf_set_deadline(int delta);
int vf_sample(void);
int vf_delay(void);
struct task_struct *vf_watch_start(void);
/* vf_object.c: objects in the caller's own frame */
struct vf_box {
	int seed;
	int value;
};
extern struct vf_box *vf_box_seen;
void vf_box_fill(struct vf_box *b);
int vf_object_drops(int seed);
int vf_object_keeps(int seed);
int vf_object_refills(int seed);
int vf_object_escapes(int seed);
int vf_returns_only(struct vf_obj *o);
#endif

/* SPDX-License-Identifier: GPL-2.0 */
#ifndef CG_H
#define CG_H
int cg_leaf(int x);
int cg_tail_target(int x);
int cg_tail_caller(int x);
int cg_ping(int n);
int cg_pong(int n);
int cg_entry(int x);
int cg_b_global(int x);
int cg_b_unreached(int x);
void cg_if_const_string(const char *s);
void cg_if_wrapper(const char *s);
#endif

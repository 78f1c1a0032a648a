/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DEMO_TRACE_H
#define DEMO_TRACE_H

#include <stdint.h>

#ifdef CONFIG_TRACEPOINTS
struct tracepoint {
	const char *name;
	unsigned long hits;
};
void tracepoint_hit(struct tracepoint *tp);
#endif

/*
 * The network tracepoints live in kernel/trace/net_events.c, which is built only with
 * CONFIG_TRACE_NET_EVENTS. This header guards their declarations with CONFIG_TRACEPOINTS
 * instead: with tracepoints on and network events off, callers get a declaration without a
 * definition, and the link fails.
 */
#ifdef CONFIG_TRACEPOINTS
void trace_net_queue_packet(unsigned int queue, unsigned int len);
void trace_net_rx(unsigned int len);
#else
static inline void trace_net_queue_packet(unsigned int queue, unsigned int len)
{
	(void)queue;
	(void)len;
}
static inline void trace_net_rx(unsigned int len)
{
	(void)len;
}
#endif

#endif

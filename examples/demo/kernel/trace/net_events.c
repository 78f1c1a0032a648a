// SPDX-License-Identifier: GPL-2.0
/* The network stack's tracepoints. */
#include <demo/kernel.h>
#include <demo/trace.h>

static struct tracepoint tp_queue = { "net_queue_packet", 0 };
static struct tracepoint tp_rx = { "net_rx", 0 };

void trace_net_queue_packet(unsigned int queue, unsigned int len)
{
	(void)queue;
	(void)len;
	tracepoint_hit(&tp_queue);
}

void trace_net_rx(unsigned int len)
{
	(void)len;
	tracepoint_hit(&tp_rx);
}

// SPDX-License-Identifier: GPL-2.0
#include <demo/kernel.h>
#include <demo/trace.h>

void tracepoint_hit(struct tracepoint *tp)
{
	tp->hits++;
#ifdef CONFIG_DEBUG_KERNEL
	printk("trace: %s hit %lu times\n", tp->name, tp->hits);
#endif
}

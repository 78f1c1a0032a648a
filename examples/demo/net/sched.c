// SPDX-License-Identifier: GPL-2.0
/* Packet schedulers (queueing disciplines). */
#include <demo/kernel.h>
#include <demo/skbuff.h>
#include <demo/trace.h>

#ifdef CONFIG_NET_SCHED_STATS
static unsigned long queue_packets[8];

void qdisc_account(const struct sk_buff *skb)
{
	queue_packets[skb->queue_mapping % 8]++;
	trace_net_queue_packet(skb->queue_mapping, skb->len);
}
#endif

int qdisc_enqueue(struct sk_buff *skb)
{
#if defined(CONFIG_NET_SCH_HTB)
	skb->queue_mapping = skb->len > 512;
#elif defined(CONFIG_NET_SCH_FQ)
	skb->queue_mapping = skb->protocol % 8;
#else
	skb->queue_mapping = 0;
#endif
#ifdef CONFIG_NET_SCHED_STATS
	qdisc_account(skb);
#endif
	return (int)skb_segment_count(skb);
}

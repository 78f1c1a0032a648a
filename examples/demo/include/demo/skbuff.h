/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DEMO_SKBUFF_H
#define DEMO_SKBUFF_H

#include <stdint.h>

/* A socket buffer: one packet on its way through the stack. */
struct sk_buff {
	unsigned int len;
	unsigned int data_len;
	uint16_t protocol;
	uint16_t queue_mapping;
#ifdef CONFIG_NET_GSO
	unsigned int gso_size;
	unsigned int gso_segs;
#endif
	unsigned char data[1500];
};

int netif_receive(struct sk_buff *skb);
unsigned int skb_segment_count(const struct sk_buff *skb);

#ifdef CONFIG_NET_SCHED
int qdisc_enqueue(struct sk_buff *skb);
#endif
#ifdef CONFIG_NET_SCHED_STATS
void qdisc_account(const struct sk_buff *skb);
#endif

#endif

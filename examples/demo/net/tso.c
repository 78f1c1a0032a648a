// SPDX-License-Identifier: GPL-2.0
/* TCP segmentation offload: hand large packets to the device in one piece. */
#include <demo/kernel.h>
#include <demo/skbuff.h>

unsigned int tso_segments(const struct sk_buff *skb, unsigned int mss);

unsigned int tso_segments(const struct sk_buff *skb, unsigned int mss)
{
	/* Relies on the segmentation fields, which only CONFIG_NET_GSO adds. */
	if (skb->gso_size)
		mss = skb->gso_size;
	return (skb->len + mss - 1) / mss;
}

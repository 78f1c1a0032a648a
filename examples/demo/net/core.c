// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include <demo/kernel.h>
#include <demo/skbuff.h>
#include <demo/trace.h>
#ifdef CONFIG_CRC32
#include <demo/lib.h>
#endif

unsigned int skb_segment_count(const struct sk_buff *skb)
{
#ifdef CONFIG_NET_GSO
	if (skb->gso_size)
		return (skb->len + skb->gso_size - 1) / skb->gso_size;
#endif
	return 1;
}

int netif_receive(struct sk_buff *skb)
{
#ifdef CONFIG_TRACE_NET_EVENTS
	trace_net_rx(skb->len);
#endif
#ifdef CONFIG_NET_SCHED
	return qdisc_enqueue(skb);
#else
	return (int)skb->len;
#endif
}

void net_init(void)
{
	static struct sk_buff skb;

	memset(&skb, 0, sizeof(skb));
	skb.len = 64;
	netif_receive(&skb);
#ifdef CONFIG_INET
	printk("NET: TCP/IP%s%s%s\n",
#ifdef CONFIG_IPV6
	       " IPv6",
#else
	       "",
#endif
#ifdef CONFIG_SYN_COOKIES
	       " syncookies",
#else
	       "",
#endif
#ifdef CONFIG_TCP_CONG_BBR
	       " bbr"
#elif defined(CONFIG_TCP_CONG_CUBIC)
	       " cubic"
#else
	       " reno"
#endif
	       );
#endif
#ifdef CONFIG_NETFILTER
	printk("NET: netfilter%s\n",
#ifdef CONFIG_NF_CONNTRACK
	       " with conntrack"
#else
	       ""
#endif
	       );
#endif
#ifdef CONFIG_UNIX
	printk("NET: unix sockets\n");
#endif
#ifdef CONFIG_PACKET
	printk("NET: packet sockets\n");
#endif
#ifdef CONFIG_BRIDGE
	printk("NET: bridge\n");
#endif
#ifdef CONFIG_VLAN_8021Q
	printk("NET: 802.1Q VLAN\n");
#endif
#ifdef CONFIG_CFG80211
	printk("cfg80211: regulatory crc %08x\n", crc32_le(0, (const uint8_t *)"00", 2));
#endif
#ifdef CONFIG_BT
	printk("Bluetooth: core ready\n");
#endif
#ifdef CONFIG_IPV6_ROUTER_PREF
	printk("IPv6: router preference\n");
#endif
}

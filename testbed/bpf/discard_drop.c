// SPDX-License-Identifier: GPL-2.0-only OR MIT
// tc classifier for the benches' generated traffic (lib.sh's gen_pps): drops, and so counts
// in the clsact qdisc's drop statistics, every IPv4 UDP datagram to port 9 (discard), which
// is what `evilfront blast` sends; everything else passes (the guest's command channel runs
// over the same vif). Attached direct-action on a vif's ingress, it takes a guest's
// generated frames before the bridge or dom0's stack spends anything on them: what is left
// of their cost in dom0 is the backend's.
// Built by testbed/run.sh with clang -target bpf; no headers beyond the UAPI ones.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#define SEC(name) __attribute__((section(name), used))

static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) =
	(void *)BPF_FUNC_skb_load_bytes;

#define ETH_HLEN 14
#define ETH_P_IP_BE 0x0008 /* htons(0x0800) on little-endian */
#define IPPROTO_UDP 17
#define DISCARD_PORT_BE 0x0900 /* htons(9) */

SEC("tc")
int discard_drop(struct __sk_buff *skb)
{
	__u8 version_ihl, proto;
	__u16 dport;

	if (skb->protocol != ETH_P_IP_BE)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &version_ihl, 1) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1) || proto != IPPROTO_UDP)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + (version_ihl & 0xf) * 4 + 2, &dport, 2))
		return TC_ACT_OK;
	return dport == DISCARD_PORT_BE ? TC_ACT_SHOT : TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";

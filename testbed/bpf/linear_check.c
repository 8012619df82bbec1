// SPDX-License-Identifier: GPL-2.0-only OR MIT
// tc classifier for the hostile scenario's tx-split-headers attack (XSA-423): drops (and
// so counts, in the clsact qdisc's drop statistics) every IPv4/TCP skb whose linear area
// does not hold the Ethernet, IP and TCP headers. Attached direct-action on a vif's
// ingress, where the skbs the backend built from guest TX requests enter the stack: there
// `data` is the Ethernet header and `data_end` the end of the linear area.
// Built by testbed/run.sh with clang -target bpf; no headers beyond the UAPI ones.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#define SEC(name) __attribute__((section(name), used))

static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) =
	(void *)BPF_FUNC_skb_load_bytes;

#define ETH_HLEN 14
#define ETH_P_IP_BE 0x0008 /* htons(0x0800) on little-endian */
#define IPPROTO_TCP 6
#define TCP_MIN_HLEN 20

SEC("tc")
int linear_check(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 version_ihl, proto;
	__u32 need;

	if (skb->protocol != ETH_P_IP_BE)
		return TC_ACT_OK;
	/* Read through the helper: it works whether or not the bytes are linear. */
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &version_ihl, 1) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1))
		return TC_ACT_OK;
	if (proto != IPPROTO_TCP)
		return TC_ACT_OK;
	need = ETH_HLEN + (version_ihl & 0xf) * 4 + TCP_MIN_HLEN;
	if (data + need > data_end)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";

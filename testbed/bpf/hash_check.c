// SPDX-License-Identifier: GPL-2.0-only OR MIT
// tc classifier for the ctrlring scenario's guest TX hash check (issue 9 item 9): drops
// (and so counts, in the clsact qdisc's drop statistics) every skb whose hash is the
// value the fake frontend put in its TX HASH extras. Attached direct-action on the vif's
// ingress, where the skbs the backend built from guest TX requests enter the stack: a
// backend that keeps the guest's hash (skb_set_hash, as xen-netback does) gives them that
// hash; one that drops it leaves no hash there (nothing on this path computes one, and a
// computed flow hash would not be this value).
// Built by testbed/run.sh with clang -target bpf; no headers beyond the UAPI ones.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#define SEC(name) __attribute__((section(name), used))

/* ctrlring.sh's TX_HASH. */
#define GUEST_TX_HASH 0x5eedc0deu

SEC("tc")
int hash_check(struct __sk_buff *skb)
{
	/* skb->hash as stored: reading it does not compute one. */
	return skb->hash == GUEST_TX_HASH ? TC_ACT_SHOT : TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";

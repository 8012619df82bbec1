// SPDX-License-Identifier: GPL-2.0
/*
 * C side of SR-IOV VF steering: what the lower port (a VIF's NIC virtual
 * function, netback/bindings/net/lower.rs) cannot do in Rust. The binding,
 * its rollback and restore, the PF's ndo_*_vf_* calls, the PF lookup and
 * the removal notifier are Rust; here are only the VF's rx_handler and
 * wrappers of macros, static inlines and fields of struct net_device (which
 * the kernel's bindgen keeps opaque). Only the backend links this file.
 */
#include <linux/netdevice.h>
#include <linux/pci.h>
#include "helpers.h"

/* Why C: a callback the core's receive path runs under RCU, made of static
 * inlines (skb_share_check, skb_forward_csum, dev_queue_xmit) and
 * rx_handler_data, which lower.rs sets to the VIF. As a bridge forwards:
 * back to the MAC header, out of the VIF (its start_xmit is the guest RX
 * path: queue choice, filter, ring). */
rx_handler_result_t nbrs_lower_rx(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct net_device *upper = rcu_dereference(skb->dev->rx_handler_data);

	if (unlikely(skb->pkt_type == PACKET_LOOPBACK))
		return RX_HANDLER_PASS;
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return RX_HANDLER_CONSUMED;
	skb_push(skb, ETH_HLEN);
	skb_forward_csum(skb);
	skb->dev = upper;
	dev_queue_xmit(skb);
	return RX_HANDLER_CONSUMED;
}

/* Why C: fields of struct net_device. */
unsigned short nbrs_netdev_type(struct net_device *dev) { return dev->type; }
unsigned int nbrs_netdev_flags(struct net_device *dev) { return dev->flags; }
const struct net_device_ops *nbrs_netdev_ops(struct net_device *dev) { return dev->netdev_ops; }

/* Why C: dev_net(), netdev_put() and netdev_notifier_info_to_dev() are
 * static inlines. */
struct net *nbrs_dev_net(struct net_device *dev) { return dev_net(dev); }
void nbrs_netdev_put(struct net_device *dev, netdevice_tracker *tracker) { netdev_put(dev, tracker); }
struct net_device *nbrs_netdev_notifier_dev(void *info) { return netdev_notifier_info_to_dev(info); }

/* Why C: dev_is_pci() and to_pci_dev() are macros, is_virtfn a bitfield.
 * The PCI virtual function behind a net_device, NULL when it is none. */
struct pci_dev *nbrs_netdev_pci_vf(struct net_device *dev)
{
	struct device *parent = dev->dev.parent;

	if (!parent || !dev_is_pci(parent) || !to_pci_dev(parent)->is_virtfn)
		return NULL;
	return to_pci_dev(parent);
}

/* Why C: pci_physfn() is a macro. The struct device of a VF's PF. */
struct device *nbrs_pci_physfn_device(struct pci_dev *vf) { return &pci_physfn(vf)->dev; }

/* Why C: for_each_netdev() is a macro, netdev_hold() a static inline. The
 * net_device of net whose parent is parent, held, NULL if none. Under RTNL. */
struct net_device *nbrs_netdev_hold_by_parent(struct net *net, struct device *parent,
					      netdevice_tracker *tracker)
{
	struct net_device *d;

	for_each_netdev(net, d) {
		if (d->dev.parent == parent) {
			netdev_hold(d, tracker, GFP_KERNEL);
			return d;
		}
	}
	return NULL;
}

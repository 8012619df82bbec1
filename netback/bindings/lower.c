// SPDX-License-Identifier: GPL-2.0
/*
 * C side of SR-IOV VF steering (sriov/): a VIF's "lower port", a NIC
 * virtual function whose received frames go straight to the VIF and
 * through which the VIF's guest TX leaves, instead of a bridge.
 *
 * Why C: the VF's receive hook is an rx_handler (a C callback run by the
 * core's receive path under RCU), the removal of a VF reaches us as a
 * netdevice notifier (another C callback, under RTNL), and the VF's
 * administrative settings go through the PF's net_device_ops ndo_*_vf_*
 * with struct pci_dev's VF/PF relation (pci_physfn, pci_iov_vf_id): kernel
 * internals with no Rust abstraction. Everything here is mechanism; what to
 * bind and when is sriov/'s (safe Rust) decision.
 *
 * Locking: binding state changes under RTNL; the TX path reads the bound
 * VF under RCU; unbinding unregisters the rx_handler (which waits for RCU
 * readers, synchronize_net) before it drops the VF reference.
 */
#include <linux/netdevice.h>
#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include "helpers.h"

struct nbrs_lower {
	struct net_device *upper;	/* the VIF; outlives this object */
	struct net_device __rcu *lower;	/* the bound VF, or NULL */
	netdevice_tracker tracker;
	struct net_device *pf;		/* the VF's PF (held while bound) */
	netdevice_tracker pf_tracker;
	int vf;				/* the VF's index on its PF */
	struct ifla_vf_info saved;	/* the VF's settings before we bound it */
	u8 mac[ETH_ALEN];		/* the guest's: its frames' only source */
	u16 vlan;			/* port VLAN the NIC tags with, 0: none */
	u32 max_tx_rate;		/* Mbit/s the PF enforces, 0: none */
	bool allmulti;
	struct list_head node;		/* in nbrs_lowers, for the notifier */
};

static LIST_HEAD(nbrs_lowers);		/* every bound port; under RTNL */

static rx_handler_result_t nbrs_lower_rx(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct nbrs_lower *l = rcu_dereference(skb->dev->rx_handler_data);

	if (unlikely(skb->pkt_type == PACKET_LOOPBACK))
		return RX_HANDLER_PASS;
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return RX_HANDLER_CONSUMED;
	/* As a bridge forwards: back to the MAC header, out of the VIF (its
	 * start_xmit is the guest RX path: queue choice, filter, ring). */
	skb_push(skb, ETH_HLEN);
	skb_forward_csum(skb);
	skb->dev = l->upper;
	dev_queue_xmit(skb);
	return RX_HANDLER_CONSUMED;
}

struct nbrs_lower *nbrs_lower_alloc(struct net_device *upper)
{
	struct nbrs_lower *l = kzalloc(sizeof(*l), GFP_KERNEL);

	if (l) {
		l->upper = upper;
		INIT_LIST_HEAD(&l->node);
	}
	return l;
}

/* The PF net_device of a VF net_device, held, and the VF's index; NULL when
 * the device is not an SR-IOV virtual function. Under RTNL. */
static struct net_device *nbrs_vf_pf(struct net_device *vf, int *index,
				     netdevice_tracker *tracker)
{
	struct device *parent = vf->dev.parent;
	struct pci_dev *vfpdev, *pfpdev;
	struct net_device *d;

	if (!parent || !dev_is_pci(parent))
		return NULL;
	vfpdev = to_pci_dev(parent);
	if (!vfpdev->is_virtfn)
		return NULL;
	pfpdev = pci_physfn(vfpdev);
	*index = pci_iov_vf_id(vfpdev);
	if (*index < 0)
		return NULL;
	for_each_netdev(dev_net(vf), d) {
		if (d->dev.parent == &pfpdev->dev) {
			netdev_hold(d, tracker, GFP_KERNEL);
			return d;
		}
	}
	return NULL;
}

/* Undo what nbrs_lower_bind did, in reverse. Under RTNL. */
static void nbrs_lower_release(struct nbrs_lower *l, bool vf_gone)
{
	struct net_device *lower = rtnl_dereference(l->lower);
	const struct net_device_ops *ops;

	if (!lower)
		return;
	netdev_rx_handler_unregister(lower);	/* waits for RCU readers */
	RCU_INIT_POINTER(l->lower, NULL);
	synchronize_net();			/* TX-path readers of l->lower */
	if (l->allmulti && !vf_gone)
		dev_set_allmulti(lower, -1);
	ops = l->pf->netdev_ops;
	if (!vf_gone) {
		/* The VF's settings as they were. */
		if (ops->ndo_set_vf_mac)
			ops->ndo_set_vf_mac(l->pf, l->vf, l->saved.mac);
		if (ops->ndo_set_vf_spoofchk)
			ops->ndo_set_vf_spoofchk(l->pf, l->vf, l->saved.spoofchk);
		if (ops->ndo_set_vf_trust)
			ops->ndo_set_vf_trust(l->pf, l->vf, l->saved.trusted);
		if (ops->ndo_set_vf_link_state)
			ops->ndo_set_vf_link_state(l->pf, l->vf, l->saved.linkstate);
		if (l->vlan && ops->ndo_set_vf_vlan)
			ops->ndo_set_vf_vlan(l->pf, l->vf, l->saved.vlan, l->saved.qos,
					     l->saved.vlan_proto ?: htons(ETH_P_8021Q));
		if (l->max_tx_rate && ops->ndo_set_vf_rate)
			ops->ndo_set_vf_rate(l->pf, l->vf, l->saved.min_tx_rate, l->saved.max_tx_rate);
	}
	l->vlan = 0;
	l->max_tx_rate = 0;
	list_del_init(&l->node);
	netdev_put(l->pf, &l->pf_tracker);
	l->pf = NULL;
	netdev_put(lower, &l->tracker);
}

int nbrs_lower_bind(struct nbrs_lower *l, const char *name, const u8 *mac, u16 vlan)
{
	const struct net_device_ops *ops;
	struct net_device *lower;
	int err;

	rtnl_lock();
	if (rtnl_dereference(l->lower)) {
		err = -EBUSY;		/* one VF per VIF: unbind first */
		goto out;
	}
	lower = netdev_get_by_name(dev_net(l->upper), name, &l->tracker, GFP_KERNEL);
	if (!lower) {
		err = -ENODEV;
		goto out;
	}
	err = -EINVAL;
	if (lower == l->upper || lower->type != ARPHRD_ETHER)
		goto put;
	l->pf = nbrs_vf_pf(lower, &l->vf, &l->pf_tracker);
	if (!l->pf) {
		err = -ENOTTY;		/* not a VF of a PF we can see */
		goto put;
	}
	ops = l->pf->netdev_ops;
	memset(&l->saved, 0, sizeof(l->saved));
	if (!ops->ndo_set_vf_mac || !ops->ndo_get_vf_config ||
	    (vlan && !ops->ndo_set_vf_vlan) ||
	    ops->ndo_get_vf_config(l->pf, l->vf, &l->saved)) {
		err = -EOPNOTSUPP;
		goto put_pf;
	}
	/* Busy: bridged, bonded, another VIF's, macvlan's... */
	err = netdev_rx_handler_register(lower, nbrs_lower_rx, l);
	if (err)
		goto put_pf;
	/* The NIC's switch delivers the guest's MAC to this VF, and only
	 * frames from it leave (where the hardware checks). */
	err = ops->ndo_set_vf_mac(l->pf, l->vf, (u8 *)mac);
	/* A port VLAN: the NIC tags what the VF sends, strips what it gets. */
	if (!err && vlan) {
		err = ops->ndo_set_vf_vlan(l->pf, l->vf, vlan, 0, htons(ETH_P_8021Q));
		if (err)
			ops->ndo_set_vf_mac(l->pf, l->vf, l->saved.mac);
	}
	if (err) {
		netdev_rx_handler_unregister(lower);
		goto put_pf;
	}
	l->vlan = vlan;
	if (ops->ndo_set_vf_spoofchk)
		ops->ndo_set_vf_spoofchk(l->pf, l->vf, true);
	if (ops->ndo_set_vf_trust)
		ops->ndo_set_vf_trust(l->pf, l->vf, false);
	/* The VF's link follows the PF's (igb has no such setting). */
	if (ops->ndo_set_vf_link_state)
		ops->ndo_set_vf_link_state(l->pf, l->vf, IFLA_VF_LINK_STATE_AUTO);
	/* The guest's multicast memberships are not the VF's own list. */
	l->allmulti = dev_set_allmulti(lower, 1) == 0;
	if (!(lower->flags & IFF_UP))
		dev_open(lower, NULL);
	ether_addr_copy(l->mac, mac);
	list_add(&l->node, &nbrs_lowers);
	rcu_assign_pointer(l->lower, lower);
	rtnl_unlock();
	return 0;
put_pf:
	netdev_put(l->pf, &l->pf_tracker);
	l->pf = NULL;
put:
	netdev_put(lower, &l->tracker);
out:
	rtnl_unlock();
	return err;
}

/* The PF enforces a transmit limit on the bound VF (Mbit/s, 0: none):
 * -ENOLINK when unbound, -EOPNOTSUPP when the PF has no ndo_set_vf_rate,
 * else what the PF says (igb: only at 1000 Mbit/s link speed). */
int nbrs_lower_set_rate(struct nbrs_lower *l, u32 max_tx_rate)
{
	const struct net_device_ops *ops;
	int err = -ENOLINK;

	rtnl_lock();
	if (rtnl_dereference(l->lower)) {
		ops = l->pf->netdev_ops;
		err = -EOPNOTSUPP;
		if (ops->ndo_set_vf_rate)
			err = ops->ndo_set_vf_rate(l->pf, l->vf, 0, max_tx_rate);
		if (!err)
			l->max_tx_rate = max_tx_rate;
	}
	rtnl_unlock();
	return err;
}

void nbrs_lower_unbind(struct nbrs_lower *l)
{
	rtnl_lock();
	nbrs_lower_release(l, false);
	rtnl_unlock();
}

void nbrs_lower_free(struct nbrs_lower *l)
{
	if (!l)
		return;
	nbrs_lower_unbind(l);
	kfree(l);
}

/* A frame from the guest (eth_type_trans pulled its header) out of the
 * bound VF. NBRS_LOWER_UNBOUND: not taken; SPOOFED: freed, its source was
 * not the guest's MAC (QEMU's igb, unlike real NICs, checks nothing). */
int nbrs_lower_xmit(struct nbrs_lower *l, struct sk_buff *skb)
{
	struct net_device *lower;

	rcu_read_lock();
	lower = rcu_dereference(l->lower);
	if (!lower) {
		rcu_read_unlock();
		return NBRS_LOWER_UNBOUND;
	}
	if (!ether_addr_equal(eth_hdr(skb)->h_source, l->mac)) {
		rcu_read_unlock();
		kfree_skb(skb);
		return NBRS_LOWER_SPOOFED;
	}
	skb_push(skb, ETH_HLEN);
	skb->dev = lower;
	dev_queue_xmit(skb);
	rcu_read_unlock();
	return NBRS_LOWER_SENT;
}

bool nbrs_lower_bound(struct nbrs_lower *l)
{
	return rcu_access_pointer(l->lower) != NULL;
}

/* The bound VF's name (empty when unbound), its PF's name and index, its
 * port VLAN and transmit limit. */
void nbrs_lower_describe(struct nbrs_lower *l, char *vf, char *pf, int *index,
			 u16 *vlan, u32 *max_tx_rate)
{
	struct net_device *lower;

	vf[0] = pf[0] = 0;
	*index = -1;
	*vlan = 0;
	*max_tx_rate = 0;
	rtnl_lock();
	lower = rtnl_dereference(l->lower);
	if (lower) {
		strscpy(vf, lower->name, IFNAMSIZ);
		strscpy(pf, l->pf->name, IFNAMSIZ);
		*index = l->vf;
		*vlan = l->vlan;
		*max_tx_rate = l->max_tx_rate;
	}
	rtnl_unlock();
}

/* A bound VF that goes away (sriov_numvfs lowered, igbvf unloaded) is
 * let go before the core waits for its references. */
static int nbrs_lower_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct nbrs_lower *l, *tmp;

	if (event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	list_for_each_entry_safe(l, tmp, &nbrs_lowers, node) {
		if (rtnl_dereference(l->lower) == dev) {
			netdev_info(l->upper, "VF %s is going away: back to the bridge path\n", dev->name);
			nbrs_lower_release(l, true);
		} else if (l->pf == dev) {
			netdev_info(l->upper, "PF %s of VF %s is going away: back to the bridge path\n",
				    dev->name, rtnl_dereference(l->lower)->name);
			nbrs_lower_release(l, true);
		}
	}
	return NOTIFY_DONE;
}

static struct notifier_block nbrs_lower_notifier = { .notifier_call = nbrs_lower_event };

int nbrs_lower_notifier_register(void) { return register_netdevice_notifier(&nbrs_lower_notifier); }
void nbrs_lower_notifier_unregister(void) { unregister_netdevice_notifier(&nbrs_lower_notifier); }

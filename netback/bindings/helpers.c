// SPDX-License-Identifier: GPL-2.0
/*
 * C side of netback-rs' binding layer: the module parameters and wrappers
 * of the macros and static inlines Rust cannot call.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/ethtool.h>
#include <linux/skbuff.h>
#include <linux/rtnetlink.h>
#include <linux/workqueue.h>
#include <linux/interrupt.h>
#include <linux/cpumask.h>
#include <linux/tcp.h>
#include <net/gro.h>
#include <net/flow_dissector.h>
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/xenbus.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/interface/io/netif.h>
#include "helpers.h"
#include <generated/utsrelease.h>

/* ------------------------------------------------------------------ */
/* Module parameters: same names, types, defaults and permissions as
 * xen-netback (Rust's module! has no bool parameters and no 0644 mode). */

static bool separate_tx_rx_irq = true;
module_param(separate_tx_rx_irq, bool, 0644);

static unsigned int rx_drain_timeout_msecs = 10000;
module_param(rx_drain_timeout_msecs, uint, 0444);

static unsigned int rx_stall_timeout_msecs = 60000;
module_param(rx_stall_timeout_msecs, uint, 0444);

#define NBRS_MAX_QUEUES_DEFAULT 8
static unsigned int max_queues;
module_param(max_queues, uint, 0644);
MODULE_PARM_DESC(max_queues,
		 "Maximum number of queues per virtual interface");

#define NBRS_FATAL_SKB_SLOTS_DEFAULT 20
static unsigned int fatal_skb_slots = NBRS_FATAL_SKB_SLOTS_DEFAULT;
module_param(fatal_skb_slots, uint, 0444);

/* Accepted for xen-netback compatibility and never read: no hash cache. */
static unsigned int hash_cache_size = 64;
module_param(hash_cache_size, uint, 0644);
MODULE_PARM_DESC(hash_cache_size, "Number of flows in the hash cache");

static bool provides_xdp_headroom = true;
module_param(provides_xdp_headroom, bool, 0644);

void nbrs_params_init(void)
{
	if (max_queues == 0)
		max_queues = min_t(unsigned int, NBRS_MAX_QUEUES_DEFAULT,
				   num_online_cpus());
	if (fatal_skb_slots < XEN_NETIF_NR_SLOTS_MIN) {
		pr_info("fatal_skb_slots too small (%u), bump it to XEN_NETBK_LEGACY_SLOTS_MAX (%d)\n",
			fatal_skb_slots, XEN_NETIF_NR_SLOTS_MIN);
		fatal_skb_slots = XEN_NETIF_NR_SLOTS_MIN;
	}
}

bool nbrs_param_separate_tx_rx_irq(void) { return READ_ONCE(separate_tx_rx_irq); }
unsigned int nbrs_param_rx_drain_timeout_msecs(void) { return rx_drain_timeout_msecs; }
unsigned int nbrs_param_rx_stall_timeout_msecs(void) { return rx_stall_timeout_msecs; }
unsigned int nbrs_param_max_queues(void) { return READ_ONCE(max_queues); }
unsigned int nbrs_param_fatal_skb_slots(void) { return fatal_skb_slots; }
bool nbrs_param_provides_xdp_headroom(void) { return READ_ONCE(provides_xdp_headroom); }

/* ------------------------------------------------------------------ */
/* Misc */

int nbrs_xen_domain(void) { return xen_domain(); }
unsigned long nbrs_jiffies(void) { return jiffies; }
unsigned long nbrs_msecs_to_jiffies(unsigned int ms) { return msecs_to_jiffies(ms); }
void nbrs_virt_mb(void) { virt_mb(); }
void nbrs_virt_rmb(void) { virt_rmb(); }
void nbrs_virt_wmb(void) { virt_wmb(); }
void nbrs_rtnl_lock(void) { rtnl_lock(); }
void nbrs_rtnl_unlock(void) { rtnl_unlock(); }
void nbrs_synchronize_net(void) { synchronize_net(); }
void nbrs_local_bh_disable(void) { local_bh_disable(); }
void nbrs_local_bh_enable(void) { local_bh_enable(); }
void nbrs_module_get(void) { __module_get(THIS_MODULE); }
void nbrs_module_put(void) { module_put(THIS_MODULE); }
/* UTS_RELEASE is a macro of a generated header. */
const char nbrs_uts_release[] = UTS_RELEASE;

/* ------------------------------------------------------------------ */
/* Grant copy (the xenbus driver, xenstore, watches, ring mapping and grant
 * copies themselves are Rust: bindings/xen/) */

/* Static inline over the p2m lookup (pfn_to_gfn): bindgen cannot see it. */
unsigned long nbrs_xen_page_to_gfn(struct page *page) { return xen_page_to_gfn(page); }

/* ------------------------------------------------------------------ */
/* The VIF net_device (netback/bindings/netdev.rs lays out its private area
 * and ops tables). Static inlines and macros only. */

/* Fields of struct net_device, which bindgen cannot lay out for Rust
 * without the whole networking stack (kernel::bindings has it opaque), and
 * netdev_priv(), a static inline. */
void *nbrs_netdev_priv(struct net_device *dev) { return netdev_priv(dev); }
const char *nbrs_netdev_name(struct net_device *dev) { return dev->name; }
unsigned int nbrs_netdev_mtu(struct net_device *dev) { return READ_ONCE(dev->mtu); }
void nbrs_netdev_set_mtu(struct net_device *dev, unsigned int mtu) { WRITE_ONCE(dev->mtu, mtu); }
unsigned int nbrs_netdev_real_num_tx_queues(struct net_device *dev) { return dev->real_num_tx_queues; }
unsigned int nbrs_netdev_num_tx_queues(struct net_device *dev) { return dev->num_tx_queues; }
const char *nbrs_netdev_parent_name(struct net_device *dev)
{
	return dev->dev.parent ? dev_name(dev->dev.parent) : NULL;
}

void nbrs_netdev_init(struct net_device *dev, struct device *parent,
		      const struct net_device_ops *ndo, const struct ethtool_ops *eto,
		      u64 hw_features, u64 features, unsigned int min_mtu,
		      unsigned int max_mtu)
{
	SET_NETDEV_DEV(dev, parent);
	dev->netdev_ops = ndo;
	dev->ethtool_ops = eto;
	dev->hw_features = hw_features;
	dev->features = features;
	dev->min_mtu = min_mtu;
	dev->max_mtu = max_mtu;
}

/* netif_napi_add() and netif_napi_del() are static inlines (they take the
 * netdev instance lock). */
void nbrs_napi_add(struct net_device *dev, struct napi_struct *napi,
		   int (*poll)(struct napi_struct *, int))
{
	netif_napi_add(dev, napi, poll);
}

void nbrs_napi_del(struct napi_struct *napi) { netif_napi_del(napi); }
/* napi_schedule() and napi_gro_receive() are static inlines. */
void nbrs_napi_schedule(struct napi_struct *napi) { napi_schedule(napi); }
void nbrs_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb)
{
	napi_gro_receive(napi, skb);
}

/* netif_running(), netif_carrier_ok() and the all-queue start/wake loops
 * are static inlines. */
bool nbrs_netif_running(struct net_device *dev) { return netif_running(dev); }
bool nbrs_netif_carrier_ok(struct net_device *dev) { return netif_carrier_ok(dev); }
void nbrs_netif_tx_start_all_queues(struct net_device *dev) { netif_tx_start_all_queues(dev); }
void nbrs_netif_tx_wake_all_queues(struct net_device *dev) { netif_tx_wake_all_queues(dev); }

/* netdev_get_tx_queue(), netif_tx_stop_queue() and netif_tx_queue_stopped()
 * are static inlines; q < dev->num_tx_queues is the caller's to check. */
void nbrs_netif_tx_stop_queue(struct net_device *dev, unsigned int q)
{
	netif_tx_stop_queue(netdev_get_tx_queue(dev, q));
}

bool nbrs_netif_tx_queue_stopped(struct net_device *dev, unsigned int q)
{
	return netif_tx_queue_stopped(netdev_get_tx_queue(dev, q));
}

void nbrs_netif_tx_wake_queue(struct net_device *dev, unsigned int q)
{
	netif_tx_wake_queue(netdev_get_tx_queue(dev, q));
}

/* skb_queue_head_init(), INIT_DELAYED_WORK() and INIT_WORK() are macros/inlines with a
 * lockdep class per call site. */
void nbrs_skb_queue_head_init(struct sk_buff_head *list) { skb_queue_head_init(list); }
void nbrs_init_delayed_work(struct delayed_work *work, work_func_t fn)
{
	INIT_DELAYED_WORK(work, fn);
}

void nbrs_init_work(struct work_struct *work, work_func_t fn) { INIT_WORK(work, fn); }

/* queue_delayed_work() and mod_delayed_work() on system_dfl_wq, and
 * timer_pending(), are static inlines. Delay 0 pulls a pending delayed run
 * in; a queued one is left alone (the cheap per-packet case). */
void nbrs_delayed_work_kick(struct delayed_work *work, unsigned long delay)
{
	if (delay)
		queue_delayed_work(system_dfl_wq, work, delay);
	else if (!queue_delayed_work(system_dfl_wq, work, 0) &&
		 timer_pending(&work->timer))
		mod_delayed_work(system_dfl_wq, work, 0);
}


/* skb->cb of a queued packet: its drain deadline and the hash computed for
 * the guest's hash extra in ndo_start_xmit (never skb->hash, which may be
 * the stack's own flow hash). */
struct nbrs_rx_cb {
	unsigned long expires;
	u32 hash;
	u8 hash_valid, hash_l4, hash_ipv4;
};
#define NBRS_RX_CB(skb) ((struct nbrs_rx_cb *)(skb)->cb)
static_assert(sizeof(struct nbrs_rx_cb) <= sizeof_field(struct sk_buff, cb));

void nbrs_skb_stamp_rx(struct sk_buff *skb, unsigned long expires, bool hash_valid,
		       u32 hash, bool l4, bool ipv4)
{
	struct nbrs_rx_cb *cb = NBRS_RX_CB(skb);

	cb->expires = expires;
	cb->hash = hash;
	cb->hash_valid = hash_valid;
	cb->hash_l4 = l4;
	cb->hash_ipv4 = ipv4;
}


/* Drain deadline of the head packet of a guest-RX backlog: skb_peek() under
 * the queue lock (spin_lock_irqsave is a macro) and the control block above. */
bool nbrs_rxq_head_expires(struct sk_buff_head *list, unsigned long *expires)
{
	struct sk_buff *skb;
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&list->lock, flags);
	skb = skb_peek(list);
	if (skb) {
		*expires = NBRS_RX_CB(skb)->expires;
		found = true;
	}
	spin_unlock_irqrestore(&list->lock, flags);
	return found;
}


/* ------------------------------------------------------------------ */
/* sk_buff */

#define NBRS_TX_PAGE_ORDER 2

struct sk_buff *nbrs_skb_alloc_tx(struct napi_struct *napi, unsigned int linear,
				  unsigned int total)
{
	unsigned int rest, i = 0;
	struct sk_buff *skb;

	if (linear > total || linear == 0)
		return NULL;
	skb = napi_alloc_skb(napi, linear);
	if (!skb)
		return NULL;
	skb_put(skb, linear);
	rest = total - linear;
	while (rest) {
		/* 16 KiB compound pages cut the allocations (and frags) of a
		 * 64 KiB GSO packet by four; order 0 under fragmentation. */
		unsigned int order = rest > PAGE_SIZE ? NBRS_TX_PAGE_ORDER : 0;
		struct page *page = NULL;
		unsigned int chunk;

		if (i >= MAX_SKB_FRAGS)
			goto fail;
		if (order)
			page = alloc_pages(GFP_ATOMIC | __GFP_NOWARN | __GFP_COMP |
					   __GFP_NORETRY, order);
		if (!page) {
			order = 0;
			page = alloc_page(GFP_ATOMIC | __GFP_NOWARN);
		}
		if (!page)
			goto fail;
		chunk = min_t(unsigned int, rest, PAGE_SIZE << order);
		skb_add_rx_frag(skb, i, page, 0, chunk, PAGE_SIZE << order);
		i++;
		rest -= chunk;
	}
	return skb;
fail:
	kfree_skb(skb);
	return NULL;
}

unsigned int nbrs_skb_len(struct sk_buff *skb) { return skb->len; }

/* Destination MAC of a packet on the xmit path (data at the Ethernet
 * header); false if the linear area is shorter than one. */
bool nbrs_skb_dest_mac(struct sk_buff *skb, u8 *addr)
{
	if (skb_headlen(skb) < ETH_ALEN)
		return false;
	ether_addr_copy(addr, skb->data);
	return true;
}

unsigned int nbrs_skb_locate(struct sk_buff *skb, unsigned int pos, u64 *gfn,
			     u16 *offset)
{
	unsigned int head = skb_headlen(skb);
	unsigned int i;

	if (pos < head) {
		void *addr = skb->data + pos;
		unsigned int off = offset_in_page(addr);

		*gfn = virt_to_gfn(addr);
		*offset = off;
		return min_t(unsigned int, head - pos, XEN_PAGE_SIZE - off);
	}
	pos -= head;
	for (i = 0; i < skb_shinfo(skb)->nr_frags; i++) {
		skb_frag_t *frag = &skb_shinfo(skb)->frags[i];
		unsigned int flen = skb_frag_size(frag);

		if (pos < flen) {
			unsigned int o = skb_frag_off(frag) + pos;
			struct page *page = skb_frag_page(frag);

			if (!page)
				return 0;
			page += o >> PAGE_SHIFT;
			o &= ~PAGE_MASK;
			*gfn = xen_page_to_gfn(page);
			*offset = o;
			return min_t(unsigned int, flen - pos, XEN_PAGE_SIZE - o);
		}
		pos -= flen;
	}
	return 0;
}

/* Static inlines and bitfields of sk_buff that Rust cannot reach; the
 * policy around them (netback/bindings/skb.rs) is Rust's. */
unsigned int nbrs_skb_headlen(struct sk_buff *skb) { return skb_headlen(skb); }
void nbrs_skb_set_ip_summed(struct sk_buff *skb, u8 v) { skb->ip_summed = v; }

/* skb_shinfo() is a static inline. 0 when the packet is not GSO. */
unsigned int nbrs_skb_gso(struct sk_buff *skb, u16 *size)
{
	*size = skb_shinfo(skb)->gso_size;
	return skb_is_gso(skb) ? skb_shinfo(skb)->gso_type : 0;
}

void nbrs_skb_set_gso(struct sk_buff *skb, unsigned int type, u16 size)
{
	skb_shinfo(skb)->gso_type = type;
	skb_shinfo(skb)->gso_size = size;
}

void nbrs_skb_set_gso_segs(struct sk_buff *skb, u16 segs) { skb_shinfo(skb)->gso_segs = segs; }

/* eth_type_trans() and skb_reset_network_header() (a static inline). */
void nbrs_skb_set_eth_protocol(struct net_device *dev, struct sk_buff *skb)
{
	skb->dev = dev;
	skb->protocol = eth_type_trans(skb, dev);
	skb_reset_network_header(skb);
}

void nbrs_skb_probe_transport(struct sk_buff *skb) { skb_probe_transport_header(skb); }

/* skb_tcp_all_headers() (a static inline), or -EPROTO without a transport
 * header. */
int nbrs_skb_tcp_all_headers(struct sk_buff *skb)
{
	return skb_transport_header_was_set(skb) ? skb_tcp_all_headers(skb) : -EPROTO;
}

int nbrs_skb_prepare_to_guest(struct sk_buff *skb, struct nbrs_skb_info *info)
{
	memset(info, 0, sizeof(*info));
	if (skb_has_frag_list(skb) && __skb_linearize(skb))
		return -ENOMEM;
	info->len = skb->len;
	if (skb->ip_summed == CHECKSUM_PARTIAL) {
		info->csum_partial = 1;
		info->data_validated = 1;
	} else if (skb->ip_summed == CHECKSUM_UNNECESSARY) {
		info->data_validated = 1;
	}
	if (NBRS_RX_CB(skb)->hash_valid) {
		info->guest_hash = 1;
		info->l4_hash = NBRS_RX_CB(skb)->hash_l4;
		info->hash_ipv4 = NBRS_RX_CB(skb)->hash_ipv4;
		info->hash = NBRS_RX_CB(skb)->hash;
	}
	return 0;
}

int nbrs_skb_flow(struct sk_buff *skb, struct nbrs_flow *out)
{
	struct flow_keys flow;

	memset(out, 0, sizeof(*out));
	if (skb->protocol != htons(ETH_P_IP) && skb->protocol != htons(ETH_P_IPV6))
		return -EPROTONOSUPPORT;
	memset(&flow, 0, sizeof(flow));
	if (!skb_flow_dissect_flow_keys(skb, &flow, 0))
		return -EINVAL;
	/* As xenvif_set_skb_hash: ports only for TCP that is not a fragment. */
	out->has_ports = flow.basic.ip_proto == IPPROTO_TCP &&
			 !(flow.control.flags & FLOW_DIS_IS_FRAGMENT);
	out->sport = ntohs(flow.ports.src);
	out->dport = ntohs(flow.ports.dst);
	if (skb->protocol == htons(ETH_P_IP)) {
		if (flow.control.addr_type != FLOW_DISSECTOR_KEY_IPV4_ADDRS)
			return -EINVAL;
		out->ipv4 = 1;
		memcpy(out->src, &flow.addrs.v4addrs.src, 4);
		memcpy(out->dst, &flow.addrs.v4addrs.dst, 4);
	} else {
		if (flow.control.addr_type != FLOW_DISSECTOR_KEY_IPV6_ADDRS)
			return -EINVAL;
		memcpy(out->src, &flow.addrs.v6addrs.src, 16);
		memcpy(out->dst, &flow.addrs.v6addrs.dst, 16);
	}
	return 0;
}

void nbrs_skb_set_sw_hash(struct sk_buff *skb, u32 hash, bool l4)
{
	__skb_set_sw_hash(skb, hash, l4);
}

void nbrs_skb_set_hash(struct sk_buff *skb, u32 hash, bool l4)
{
	skb_set_hash(skb, hash, l4 ? PKT_HASH_TYPE_L4 : PKT_HASH_TYPE_L3);
}

void nbrs_skb_clear_hash(struct sk_buff *skb) { skb_clear_hash(skb); }
u32 nbrs_skb_hash_raw(struct sk_buff *skb) { return skb_get_hash_raw(skb); }

void nbrs_skb_free(struct sk_buff *skb) { dev_kfree_skb_any(skb); }
void nbrs_skb_consume(struct sk_buff *skb) { dev_consume_skb_any(skb); }

/* struct net_device is opaque to the kernel's bindgen: its embedded struct
 * device (sysfs attributes hang off it) is reached in C. */
struct device *nbrs_netdev_device(struct net_device *dev) { return &dev->dev; }
struct net_device *nbrs_device_netdev(struct device *d) { return to_net_dev(d); }

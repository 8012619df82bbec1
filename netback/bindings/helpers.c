// SPDX-License-Identifier: GPL-2.0
/*
 * C side of netback-rs' binding layer. Mechanism only: wrappers for macros
 * and static inlines, the static ops tables whose entries forward to Rust,
 * and the per-VIF object embedded in the net_device's private area.
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
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/xenbus.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/interface/io/netif.h>
#include "helpers.h"
#include "ethtool.h"

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
unsigned int nbrs_param_hash_cache_size(void) { return READ_ONCE(hash_cache_size); }
bool nbrs_param_provides_xdp_headroom(void) { return READ_ONCE(provides_xdp_headroom); }

/* ------------------------------------------------------------------ */
/* Misc */

int nbrs_xen_domain(void) { return xen_domain(); }
int nbrs_xen_initial_domain(void) { return xen_initial_domain(); }
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

/* ------------------------------------------------------------------ */
/* xenbus driver */

static const struct nbrs_xenbus_ops *nbrs_xb_ops;

static int nbrs_xb_probe(struct xenbus_device *dev,
			 const struct xenbus_device_id *id)
{
	return nbrs_xb_ops->probe(dev);
}

static void nbrs_xb_remove(struct xenbus_device *dev)
{
	nbrs_xb_ops->remove(dev);
}

static void nbrs_xb_otherend_changed(struct xenbus_device *dev,
				     enum xenbus_state state)
{
	nbrs_xb_ops->otherend_changed(dev, state);
}

static const struct xenbus_device_id nbrs_xb_ids[] = {
	{ "vif" },
	{ "" }
};

static struct xenbus_driver nbrs_xb_driver = {
	.ids = nbrs_xb_ids,
	.probe = nbrs_xb_probe,
	.remove = nbrs_xb_remove,
	.otherend_changed = nbrs_xb_otherend_changed,
	.allow_rebind = true,
};

int nbrs_xenbus_register(const struct nbrs_xenbus_ops *ops)
{
	nbrs_xb_ops = ops;
	return xenbus_register_backend(&nbrs_xb_driver);
}

void nbrs_xenbus_unregister(void)
{
	xenbus_unregister_driver(&nbrs_xb_driver);
}

const char *nbrs_xenbus_nodename(struct xenbus_device *dev) { return dev->nodename; }
const char *nbrs_xenbus_otherend(struct xenbus_device *dev) { return dev->otherend; }
int nbrs_xenbus_otherend_id(struct xenbus_device *dev) { return dev->otherend_id; }
void *nbrs_xenbus_get_drvdata(struct xenbus_device *dev) { return dev_get_drvdata(&dev->dev); }
void nbrs_xenbus_set_drvdata(struct xenbus_device *dev, void *data) { dev_set_drvdata(&dev->dev, data); }
struct device *nbrs_xenbus_to_device(struct xenbus_device *dev) { return &dev->dev; }
void nbrs_xenbus_get(struct xenbus_device *dev) { get_device(&dev->dev); }
void nbrs_xenbus_put(struct xenbus_device *dev) { put_device(&dev->dev); }
int nbrs_xenbus_dev_is_online(struct xenbus_device *dev) { return xenbus_dev_is_online(dev); }
void nbrs_xenbus_device_unregister(struct xenbus_device *dev) { device_unregister(&dev->dev); }

int nbrs_xenbus_switch_state(struct xenbus_device *dev, int state)
{
	return xenbus_switch_state(dev, state);
}

void nbrs_xenbus_dev_fatal(struct xenbus_device *dev, int err, const char *msg)
{
	xenbus_dev_fatal(dev, err, "%s", msg);
}

void nbrs_xenbus_uevent_online(struct xenbus_device *dev, bool online)
{
	kobject_uevent(&dev->dev.kobj, online ? KOBJ_ONLINE : KOBJ_OFFLINE);
}

int nbrs_xenbus_read_ulong(const char *dir, const char *node, unsigned long *val)
{
	int n = xenbus_scanf(XBT_NIL, dir, node, "%lu", val);

	if (n < 0)
		return n;
	return n == 1 ? 0 : -EINVAL;
}

int nbrs_xenbus_read_str(const char *dir, const char *node, char *buf,
			 unsigned int buflen)
{
	unsigned int len;
	char *s = xenbus_read(XBT_NIL, dir, node, &len);
	ssize_t n;

	if (IS_ERR(s))
		return PTR_ERR(s);
	n = strscpy(buf, s, buflen);
	kfree(s);
	return n < 0 ? -E2BIG : (int)n;
}

int nbrs_xenbus_write_ulong(const char *dir, const char *node, unsigned long val)
{
	return xenbus_printf(XBT_NIL, dir, node, "%lu", val);
}

int nbrs_xenbus_rm(const char *dir, const char *node)
{
	return xenbus_rm(XBT_NIL, dir, node);
}

struct nbrs_watch {
	struct xenbus_watch watch;
	void (*cb)(void *ctx);
	void *ctx;
};

static void nbrs_watch_fired(struct xenbus_watch *watch, const char *path,
			     const char *token)
{
	struct nbrs_watch *w = container_of(watch, struct nbrs_watch, watch);

	w->cb(w->ctx);
}

static struct nbrs_watch *nbrs_watch_register_in(struct xenbus_device *dev,
						 const char *dir, const char *node,
						 void (*cb)(void *ctx), void *ctx)
{
	struct nbrs_watch *w = kzalloc(sizeof(*w), GFP_KERNEL);
	int err;

	if (!w)
		return ERR_PTR(-ENOMEM);
	w->cb = cb;
	w->ctx = ctx;
	err = xenbus_watch_pathfmt(dev, &w->watch, NULL, nbrs_watch_fired,
				   "%s/%s", dir, node);
	if (err) {
		kfree(w);
		return ERR_PTR(err);
	}
	return w;
}

struct nbrs_watch *nbrs_watch_register(struct xenbus_device *dev, const char *node,
				       void (*cb)(void *ctx), void *ctx)
{
	return nbrs_watch_register_in(dev, dev->nodename, node, cb, ctx);
}

struct nbrs_watch *nbrs_watch_register_frontend(struct xenbus_device *dev, const char *node,
						void (*cb)(void *ctx), void *ctx)
{
	return nbrs_watch_register_in(dev, dev->otherend, node, cb, ctx);
}

void nbrs_watch_unregister(struct nbrs_watch *w)
{
	unregister_xenbus_watch(&w->watch);
	kfree(w->watch.node);
	kfree(w);
}

/* ------------------------------------------------------------------ */
/* Shared rings and grant copy */

int nbrs_map_ring(struct xenbus_device *dev, u32 gref, void **vaddr)
{
	grant_ref_t ref = gref;

	return xenbus_map_ring_valloc(dev, &ref, 1, vaddr);
}

void nbrs_unmap_ring(struct xenbus_device *dev, void *vaddr)
{
	xenbus_unmap_ring_vfree(dev, vaddr);
}

void nbrs_gntcopy_fill(struct gnttab_copy *op, bool to_guest, u16 domid, u32 gref,
		       u16 remote_offset, u64 local_gfn, u16 local_offset, u16 len)
{
	memset(op, 0, sizeof(*op));
	if (to_guest) {
		op->source.u.gmfn = local_gfn;
		op->source.domid = DOMID_SELF;
		op->source.offset = local_offset;
		op->dest.u.ref = gref;
		op->dest.domid = domid;
		op->dest.offset = remote_offset;
		op->flags = GNTCOPY_dest_gref;
	} else {
		op->source.u.ref = gref;
		op->source.domid = domid;
		op->source.offset = remote_offset;
		op->dest.u.gmfn = local_gfn;
		op->dest.domid = DOMID_SELF;
		op->dest.offset = local_offset;
		op->flags = GNTCOPY_source_gref;
	}
	op->len = len;
}

void nbrs_grant_copy(struct gnttab_copy *ops, unsigned int count)
{
	gnttab_batch_copy(ops, count);
}

s16 nbrs_gntcopy_status(const struct gnttab_copy *op)
{
	return op->status;
}

/* ------------------------------------------------------------------ */
/* The VIF net_device. Its private area is this C object; the Rust state
 * hangs off ->data and is only reached through ->ops. */

#define NBRS_EOI_TX	BIT(0)
#define NBRS_EOI_RX	BIT(1)
#define NBRS_EOI_COMMON	BIT(2)

struct nbrs_vif {
	struct net_device *dev;
	struct napi_struct napi;
	bool napi_added;
	struct sk_buff_head rx_queue;
	struct delayed_work rx_work;
	const struct nbrs_vif_ops *ops;
	void *data;
	unsigned int tx_irq, rx_irq;
	atomic_t eoi_pending;
	char tx_irq_name[IFNAMSIZ + 4], rx_irq_name[IFNAMSIZ + 4];
	bool can_sg, gso_v4, gso_v6, ip_csum, ipv6_csum;
	bool registered;
};

static inline struct nbrs_vif *nbrs_vif(struct net_device *dev)
{
	return netdev_priv(dev);
}

static netdev_tx_t nbrs_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	vif->ops->start_xmit(vif->data, dev, skb);
	return NETDEV_TX_OK;
}

static int nbrs_open(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	int err = vif->ops->open(vif->data, dev);

	if (err)
		return err;
	netif_tx_start_all_queues(dev);
	return 0;
}

static int nbrs_stop(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	vif->ops->stop(vif->data, dev);
	netif_tx_stop_all_queues(dev);
	return 0;
}

static void nbrs_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *s)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	struct nbrs_stats64 st = {};

	vif->ops->get_stats64(vif->data, dev, &st);
	s->rx_packets = st.rx_packets;
	s->rx_bytes = st.rx_bytes;
	s->tx_packets = st.tx_packets;
	s->tx_bytes = st.tx_bytes;
	s->rx_dropped = st.rx_dropped;
	s->tx_dropped = st.tx_dropped;
	s->rx_errors = st.rx_errors;
}

static int nbrs_change_mtu(struct net_device *dev, int mtu)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	int max = vif->can_sg ? ETH_MAX_MTU - VLAN_ETH_HLEN : ETH_DATA_LEN;

	if (mtu > max)
		return -EINVAL;
	WRITE_ONCE(dev->mtu, mtu);
	return 0;
}

static netdev_features_t nbrs_fix_features(struct net_device *dev,
					   netdev_features_t features)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (!vif->can_sg)
		features &= ~NETIF_F_SG;
	if (!vif->gso_v4)
		features &= ~NETIF_F_TSO;
	if (!vif->gso_v6)
		features &= ~NETIF_F_TSO6;
	if (!vif->ip_csum)
		features &= ~NETIF_F_IP_CSUM;
	if (!vif->ipv6_csum)
		features &= ~NETIF_F_IPV6_CSUM;
	return features;
}

static const struct net_device_ops nbrs_netdev_ops = {
	.ndo_start_xmit = nbrs_start_xmit,
	.ndo_open = nbrs_open,
	.ndo_stop = nbrs_stop,
	.ndo_get_stats64 = nbrs_get_stats64,
	.ndo_change_mtu = nbrs_change_mtu,
	.ndo_fix_features = nbrs_fix_features,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* `ethtool -S`: xen-netback's names first (the zero-copy counters stay 0
 * while guest TX uses grant copy), then netback-rs' drops of packets for the
 * guest by reason, guest TX waits for rate credit and fatal frontend errors
 * (docs/tuning.md). Each name reads one nbrs_stats64 field, or 0. */
#define NBRS_STAT_ZERO ((size_t)-1)
#define NBRS_STAT(field) { #field, offsetof(struct nbrs_stats64, field) }
static const struct {
	char name[ETH_GSTRING_LEN];
	size_t offset;
} nbrs_stats[] = {
	NBRS_STAT(rx_gso_checksum_fixup),
	{ "tx_zerocopy_sent", NBRS_STAT_ZERO },
	{ "tx_zerocopy_success", NBRS_STAT_ZERO },
	{ "tx_zerocopy_fail", NBRS_STAT_ZERO },
	{ "tx_frag_overflow", NBRS_STAT_ZERO },
	NBRS_STAT(tx_drop_not_connected),
	NBRS_STAT(tx_drop_queue_full),
	NBRS_STAT(tx_drop_expired),
	NBRS_STAT(tx_drop_mcast_filtered),
	NBRS_STAT(rx_credit_waits),
	NBRS_STAT(fatal_errors),
};

static int nbrs_get_sset_count(struct net_device *dev, int sset)
{
	return sset == ETH_SS_STATS ? ARRAY_SIZE(nbrs_stats) : -EINVAL;
}

static void nbrs_get_strings(struct net_device *dev, u32 sset, u8 *data)
{
	unsigned int i;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < ARRAY_SIZE(nbrs_stats); i++)
		memcpy(data + i * ETH_GSTRING_LEN, nbrs_stats[i].name, ETH_GSTRING_LEN);
}

static void nbrs_get_ethtool_stats(struct net_device *dev,
				   struct ethtool_stats *stats, u64 *data)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	struct nbrs_stats64 st = {};
	unsigned int i;

	vif->ops->get_stats64(vif->data, dev, &st);
	for (i = 0; i < ARRAY_SIZE(nbrs_stats); i++)
		data[i] = nbrs_stats[i].offset == NBRS_STAT_ZERO ? 0 :
			  *(u64 *)((u8 *)&st + nbrs_stats[i].offset);
}

static const struct ethtool_ops nbrs_ethtool_ops = {
	.get_drvinfo = nbrs_ethtool_get_drvinfo,
	.get_ringparam = nbrs_ethtool_get_ringparam,
	.set_ringparam = nbrs_ethtool_set_ringparam,
	.get_link = ethtool_op_get_link,
	.get_ts_info = ethtool_op_get_ts_info,
	.get_sset_count = nbrs_get_sset_count,
	.get_strings = nbrs_get_strings,
	.get_ethtool_stats = nbrs_get_ethtool_stats,
};

static int nbrs_napi_poll(struct napi_struct *napi, int budget)
{
	struct nbrs_vif *vif = container_of(napi, struct nbrs_vif, napi);

	return vif->ops->napi_poll(vif->data, vif->dev, budget);
}

static void nbrs_rx_work_fn(struct work_struct *work)
{
	struct nbrs_vif *vif = container_of(to_delayed_work(work),
					    struct nbrs_vif, rx_work);

	vif->ops->rx_work(vif->data, vif->dev);
}

struct net_device *nbrs_vif_alloc(const char *name, struct device *parent,
				  const struct nbrs_vif_ops *ops, void *data)
{
	static const u8 dummy_addr[ETH_ALEN] = {
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct net_device *dev;
	struct nbrs_vif *vif;

	dev = alloc_netdev(sizeof(struct nbrs_vif), name, NET_NAME_UNKNOWN,
			   ether_setup);
	if (!dev)
		return NULL;
	SET_NETDEV_DEV(dev, parent);
	vif = nbrs_vif(dev);
	vif->dev = dev;
	vif->ops = ops;
	vif->data = data;
	vif->can_sg = true;
	vif->ip_csum = true;
	atomic_set(&vif->eoi_pending, 0);
	skb_queue_head_init(&vif->rx_queue);
	INIT_DELAYED_WORK(&vif->rx_work, nbrs_rx_work_fn);

	dev->netdev_ops = &nbrs_netdev_ops;
	dev->ethtool_ops = &nbrs_ethtool_ops;
	/* No NETIF_F_FRAGLIST: frag-listed GSO skbs get software segmented
	 * by the core instead, so the guest RX path only sees frags. */
	dev->hw_features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM |
			   NETIF_F_TSO | NETIF_F_TSO6;
	dev->features = dev->hw_features | NETIF_F_RXCSUM;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_MAX_MTU - VLAN_ETH_HLEN;
	/* The numerically largest non-broadcast address keeps the bridge
	 * from picking this port's address as its own. */
	eth_hw_addr_set(dev, dummy_addr);
	netif_carrier_off(dev);
	return dev;
}

void *nbrs_vif_data(struct net_device *dev) { return nbrs_vif(dev)->data; }

int nbrs_vif_register(struct net_device *dev)
{
	int err = register_netdev(dev);

	if (err)
		return err;
	nbrs_vif(dev)->registered = true;
	__module_get(THIS_MODULE);
	return 0;
}

void nbrs_vif_unregister(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (!vif->registered)
		return;
	unregister_netdev(dev);
	vif->registered = false;
	module_put(THIS_MODULE);
}

void nbrs_vif_free(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	cancel_delayed_work_sync(&vif->rx_work);
	skb_queue_purge(&vif->rx_queue);
	if (vif->napi_added)
		netif_napi_del(&vif->napi);
	free_netdev(dev);
}

const char *nbrs_vif_name(struct net_device *dev) { return dev->name; }

void nbrs_vif_set_frontend_caps(struct net_device *dev, bool can_sg, bool gso_v4,
				bool gso_v6, bool ip_csum, bool ipv6_csum)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	vif->can_sg = can_sg;
	vif->gso_v4 = gso_v4;
	vif->gso_v6 = gso_v6;
	vif->ip_csum = ip_csum;
	vif->ipv6_csum = ipv6_csum;
}

void nbrs_vif_update_features_locked(struct net_device *dev)
{
	netdev_update_features(dev);
}

void nbrs_vif_clamp_mtu_locked(struct net_device *dev)
{
	if (!nbrs_vif(dev)->can_sg && dev->mtu > ETH_DATA_LEN)
		dev_set_mtu(dev, ETH_DATA_LEN);
}

bool nbrs_vif_running(struct net_device *dev) { return netif_running(dev); }
void nbrs_vif_carrier_on(struct net_device *dev) { netif_carrier_on(dev); }
void nbrs_vif_carrier_off(struct net_device *dev) { netif_carrier_off(dev); }
bool nbrs_vif_carrier_ok(struct net_device *dev) { return netif_carrier_ok(dev); }
void nbrs_vif_wake_queue(struct net_device *dev) { netif_wake_queue(dev); }
void nbrs_vif_stop_queue(struct net_device *dev) { netif_stop_queue(dev); }
bool nbrs_vif_queue_stopped(struct net_device *dev) { return netif_queue_stopped(dev); }

void nbrs_vif_napi_add(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (vif->napi_added)
		return;
	netif_napi_add(dev, &vif->napi, nbrs_napi_poll);
	vif->napi_added = true;
}

void nbrs_vif_napi_del(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (!vif->napi_added)
		return;
	netif_napi_del(&vif->napi);
	vif->napi_added = false;
}

void nbrs_vif_napi_enable(struct net_device *dev) { napi_enable(&nbrs_vif(dev)->napi); }
void nbrs_vif_napi_disable(struct net_device *dev) { napi_disable(&nbrs_vif(dev)->napi); }
void nbrs_vif_napi_schedule(struct net_device *dev) { napi_schedule(&nbrs_vif(dev)->napi); }

bool nbrs_vif_napi_complete(struct net_device *dev, int work_done)
{
	return napi_complete_done(&nbrs_vif(dev)->napi, work_done);
}

void nbrs_vif_napi_receive(struct net_device *dev, struct sk_buff *skb)
{
	napi_gro_receive(&nbrs_vif(dev)->napi, skb);
}

static irqreturn_t nbrs_irq_tx(int irq, void *dev_id)
{
	struct nbrs_vif *vif = dev_id;

	atomic_or(NBRS_EOI_TX, &vif->eoi_pending);
	if (!vif->ops->tx_event(vif->data, vif->dev)) {
		atomic_andnot(NBRS_EOI_TX, &vif->eoi_pending);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	}
	return IRQ_HANDLED;
}

static irqreturn_t nbrs_irq_rx(int irq, void *dev_id)
{
	struct nbrs_vif *vif = dev_id;

	atomic_or(NBRS_EOI_RX, &vif->eoi_pending);
	if (!vif->ops->rx_event(vif->data, vif->dev)) {
		atomic_andnot(NBRS_EOI_RX, &vif->eoi_pending);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	}
	return IRQ_HANDLED;
}

static irqreturn_t nbrs_irq_common(int irq, void *dev_id)
{
	struct nbrs_vif *vif = dev_id;
	bool has_tx, has_rx;

	atomic_or(NBRS_EOI_COMMON, &vif->eoi_pending);
	has_tx = vif->ops->tx_event(vif->data, vif->dev);
	has_rx = vif->ops->rx_event(vif->data, vif->dev);
	if (!has_tx && !has_rx) {
		atomic_andnot(NBRS_EOI_COMMON, &vif->eoi_pending);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	}
	return IRQ_HANDLED;
}

int nbrs_vif_bind_irqs(struct net_device *dev, struct xenbus_device *xdev,
		       unsigned int tx_port, unsigned int rx_port)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	int err;

	if (vif->tx_irq)
		return -EBUSY;
	atomic_set(&vif->eoi_pending, 0);
	if (tx_port == rx_port) {
		snprintf(vif->tx_irq_name, sizeof(vif->tx_irq_name), "%s", dev->name);
		err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
			xdev, tx_port, nbrs_irq_common, 0, vif->tx_irq_name, vif);
		if (err < 0)
			return err;
		vif->tx_irq = vif->rx_irq = err;
		disable_irq(vif->tx_irq);
		return 0;
	}
	snprintf(vif->tx_irq_name, sizeof(vif->tx_irq_name), "%s-tx", dev->name);
	err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
		xdev, tx_port, nbrs_irq_tx, 0, vif->tx_irq_name, vif);
	if (err < 0)
		return err;
	vif->tx_irq = err;
	disable_irq(vif->tx_irq);
	snprintf(vif->rx_irq_name, sizeof(vif->rx_irq_name), "%s-rx", dev->name);
	err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
		xdev, rx_port, nbrs_irq_rx, 0, vif->rx_irq_name, vif);
	if (err < 0) {
		unbind_from_irqhandler(vif->tx_irq, vif);
		vif->tx_irq = 0;
		return err;
	}
	vif->rx_irq = err;
	disable_irq(vif->rx_irq);
	return 0;
}

/* IRQs must be disabled (nbrs_vif_disable_irqs) or never enabled. */
void nbrs_vif_unbind_irqs(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (vif->rx_irq && vif->rx_irq != vif->tx_irq)
		unbind_from_irqhandler(vif->rx_irq, vif);
	if (vif->tx_irq)
		unbind_from_irqhandler(vif->tx_irq, vif);
	vif->tx_irq = 0;
	vif->rx_irq = 0;
}

void nbrs_vif_enable_irqs(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (vif->tx_irq)
		enable_irq(vif->tx_irq);
	if (vif->rx_irq && vif->rx_irq != vif->tx_irq)
		enable_irq(vif->rx_irq);
}

void nbrs_vif_disable_irqs(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (vif->tx_irq)
		disable_irq(vif->tx_irq);
	if (vif->rx_irq && vif->rx_irq != vif->tx_irq)
		disable_irq(vif->rx_irq);
}

bool nbrs_vif_irqs_split(struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	return vif->tx_irq != vif->rx_irq;
}

/* End of the deferred EOI of an event whose work is now done. */
void nbrs_vif_lateeoi(struct net_device *dev, bool rx)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	int bits = (rx ? NBRS_EOI_RX : NBRS_EOI_TX) | NBRS_EOI_COMMON;
	unsigned int irq = rx ? vif->rx_irq : vif->tx_irq;

	if (irq && (atomic_fetch_andnot(bits, &vif->eoi_pending) & bits))
		xen_irq_lateeoi(irq, 0);
}

void nbrs_vif_notify(struct net_device *dev, bool rx)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	unsigned int irq = rx ? vif->rx_irq : vif->tx_irq;

	if (irq)
		notify_remote_via_irq(irq);
}

/* skb->cb holds the drain deadline of a queued packet. */
struct nbrs_rx_cb {
	unsigned long expires;
};
#define NBRS_RX_CB(skb) ((struct nbrs_rx_cb *)(skb)->cb)

void nbrs_skb_stamp_expires(struct sk_buff *skb, unsigned long expires)
{
	NBRS_RX_CB(skb)->expires = expires;
}

void nbrs_vif_rxq_tail(struct net_device *dev, struct sk_buff *skb)
{
	skb_queue_tail(&nbrs_vif(dev)->rx_queue, skb);
}

void nbrs_vif_rxq_head(struct net_device *dev, struct sk_buff *skb)
{
	skb_queue_head(&nbrs_vif(dev)->rx_queue, skb);
}

struct sk_buff *nbrs_vif_rxq_dequeue(struct net_device *dev)
{
	return skb_dequeue(&nbrs_vif(dev)->rx_queue);
}

bool nbrs_vif_rxq_head_expires(struct net_device *dev, unsigned long *expires)
{
	struct sk_buff_head *q = &nbrs_vif(dev)->rx_queue;
	struct sk_buff *skb;
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&q->lock, flags);
	skb = skb_peek(q);
	if (skb) {
		*expires = NBRS_RX_CB(skb)->expires;
		found = true;
	}
	spin_unlock_irqrestore(&q->lock, flags);
	return found;
}

unsigned int nbrs_vif_rxq_len(struct net_device *dev)
{
	return skb_queue_len_lockless(&nbrs_vif(dev)->rx_queue);
}

void nbrs_vif_rxq_purge(struct net_device *dev)
{
	skb_queue_purge(&nbrs_vif(dev)->rx_queue);
}

void nbrs_vif_rx_work_kick(struct net_device *dev, unsigned long delay)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (delay)
		queue_delayed_work(system_dfl_wq, &vif->rx_work, delay);
	/* Cheap when already queued (the per-packet case); only a pending
	 * timer (a drain/stall recheck) needs pulling in. */
	else if (!queue_delayed_work(system_dfl_wq, &vif->rx_work, 0) &&
		 timer_pending(&vif->rx_work.timer))
		mod_delayed_work(system_dfl_wq, &vif->rx_work, 0);
}

void nbrs_vif_rx_work_cancel(struct net_device *dev)
{
	cancel_delayed_work_sync(&nbrs_vif(dev)->rx_work);
}

/* ------------------------------------------------------------------ */
/* sk_buff */

#define NBRS_TX_PAGE_ORDER 2

struct sk_buff *nbrs_skb_alloc_tx(struct net_device *dev, unsigned int linear,
				  unsigned int total)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	unsigned int rest, i = 0;
	struct sk_buff *skb;

	if (linear > total || linear == 0)
		return NULL;
	skb = napi_alloc_skb(&vif->napi, linear);
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

int nbrs_skb_finish_from_guest(struct net_device *dev, struct sk_buff *skb,
			       bool csum_blank, bool data_validated, u8 gso_type,
			       u16 gso_size, bool *csum_fixup)
{
	bool recalculate = false;
	int err;

	*csum_fixup = false;
	if (skb_headlen(skb) < ETH_HLEN)
		return -EINVAL;
	if (csum_blank)
		skb->ip_summed = CHECKSUM_PARTIAL;
	else if (data_validated)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (gso_type != XEN_NETIF_GSO_TYPE_NONE) {
		if (gso_size == 0)
			return -EINVAL;
		if (gso_type == XEN_NETIF_GSO_TYPE_TCPV4)
			skb_shinfo(skb)->gso_type = SKB_GSO_TCPV4;
		else if (gso_type == XEN_NETIF_GSO_TYPE_TCPV6)
			skb_shinfo(skb)->gso_type = SKB_GSO_TCPV6;
		else
			return -EINVAL;
		skb_shinfo(skb)->gso_size = gso_size;
	}

	skb->dev = dev;
	skb->protocol = eth_type_trans(skb, dev);
	skb_reset_network_header(skb);

	/* A GSO skb must be CHECKSUM_PARTIAL; some peers forget csum_blank. */
	if (skb->ip_summed != CHECKSUM_PARTIAL && skb_is_gso(skb)) {
		*csum_fixup = true;
		skb->ip_summed = CHECKSUM_PARTIAL;
		recalculate = true;
	}
	if (skb->ip_summed == CHECKSUM_PARTIAL) {
		err = skb_checksum_setup(skb, recalculate);
		if (err)
			return err;
	}
	skb_probe_transport_header(skb);

	if (skb_is_gso(skb)) {
		unsigned int hdrlen;

		if (!skb_transport_header_was_set(skb))
			return -EPROTO;
		hdrlen = skb_tcp_all_headers(skb);
		if (skb->len <= hdrlen)
			return -EINVAL;
		skb_shinfo(skb)->gso_segs =
			DIV_ROUND_UP(skb->len - hdrlen, skb_shinfo(skb)->gso_size);
	}
	return 0;
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
	if (skb_is_gso(skb)) {
		info->gso_size = skb_shinfo(skb)->gso_size;
		if (skb_shinfo(skb)->gso_type & SKB_GSO_TCPV4)
			info->gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
		else if (skb_shinfo(skb)->gso_type & SKB_GSO_TCPV6)
			info->gso_type = XEN_NETIF_GSO_TYPE_TCPV6;
		else
			info->gso_unsupported = 1;
	}
	return 0;
}

void nbrs_skb_free(struct sk_buff *skb) { dev_kfree_skb_any(skb); }
void nbrs_skb_consume(struct sk_buff *skb) { dev_consume_skb_any(skb); }

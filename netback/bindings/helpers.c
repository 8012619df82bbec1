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

void nbrs_grant_copy(struct gnttab_copy *ops, unsigned int count)
{
	gnttab_batch_copy(ops, count);
}

/* Copies len bytes from the start of the frontend's page gref into dst
 * (any kernel memory: a bounce page keeps the copy target in the direct
 * map). 0, or -errno / -EIO on a failed copy. */
int nbrs_grant_copy_from_guest(u16 domid, u32 gref, void *dst, unsigned int len)
{
	struct gnttab_copy op = {};
	void *bounce;

	if (len == 0)
		return 0;
	if (len > XEN_PAGE_SIZE)
		return -EINVAL;
	bounce = (void *)__get_free_page(GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	op.source.u.ref = gref;
	op.source.domid = domid;
	op.source.offset = 0;
	op.dest.u.gmfn = virt_to_gfn(bounce);
	op.dest.domid = DOMID_SELF;
	op.dest.offset = 0;
	op.len = len;
	op.flags = GNTCOPY_source_gref;
	gnttab_batch_copy(&op, 1);
	if (op.status == GNTST_okay)
		memcpy(dst, bounce, len);
	free_page((unsigned long)bounce);
	return op.status == GNTST_okay ? 0 : -EIO;
}

/* ------------------------------------------------------------------ */
/* The control ring's event channel: a lateeoi IRQ whose handler defers
 * to a work item on the unbound system workqueue (requests may grant-copy
 * and sleep-allocate); the work ends the EOI, as xenvif_ctrl_irq_fn. */

struct nbrs_ctrl_irq {
	unsigned int irq;
	/* An event was delivered and awaits its EOI (set in the handler). */
	atomic_t eoi_owed;
	struct work_struct work;
	enum nbrs_ctrl_run (*cb)(void *ctx, struct nbrs_ctrl_irq *c);
	void *ctx;
};

static irqreturn_t nbrs_ctrl_irq_fn(int irq, void *data)
{
	struct nbrs_ctrl_irq *c = data;

	/* May run before bind has stored the number. */
	WRITE_ONCE(c->irq, irq);
	atomic_set(&c->eoi_owed, 1);
	/* Already queued or running: it runs (again) and ends this EOI. */
	queue_work(system_dfl_wq, &c->work);
	return IRQ_HANDLED;
}

static void nbrs_ctrl_work_fn(struct work_struct *work)
{
	struct nbrs_ctrl_irq *c = container_of(work, struct nbrs_ctrl_irq, work);
	enum nbrs_ctrl_run run = c->cb(c->ctx, c);

	/* Bounded runs: requeue (other work items get the worker meanwhile)
	 * and keep the EOI owed, so the channel stays masked. */
	if (run == NBRS_CTRL_MORE) {
		queue_work(system_dfl_wq, &c->work);
		return;
	}
	/* No EOI for the run right after binding: no event is active then,
	 * and an EOI would clear a pending one. */
	if (atomic_xchg(&c->eoi_owed, 0))
		xen_irq_lateeoi(READ_ONCE(c->irq),
				run == NBRS_CTRL_DONE ? 0 : XEN_EOI_FLAG_SPURIOUS);
}

int nbrs_ctrl_irq_bind(struct xenbus_device *xdev, unsigned int port,
		       enum nbrs_ctrl_run (*cb)(void *ctx, struct nbrs_ctrl_irq *c),
		       void *ctx, struct nbrs_ctrl_irq **out)
{
	struct nbrs_ctrl_irq *c = kzalloc(sizeof(*c), GFP_KERNEL);
	int err;

	if (!c)
		return -ENOMEM;
	c->cb = cb;
	c->ctx = ctx;
	atomic_set(&c->eoi_owed, 0);
	INIT_WORK(&c->work, nbrs_ctrl_work_fn);
	err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
		xdev, port, nbrs_ctrl_irq_fn, 0, "xen-netback-ctrl", c);
	if (err < 0) {
		kfree(c);
		return err;
	}
	WRITE_ONCE(c->irq, err);
	/* Requests posted before we bound: process them once. */
	queue_work(system_dfl_wq, &c->work);
	*out = c;
	return 0;
}

/* Waits for a running handler and work item (the owner has told the
 * callback to stop first, so a run in progress ends promptly; a requeued
 * run is cancelled too). */
void nbrs_ctrl_irq_unbind(struct nbrs_ctrl_irq *c)
{
	disable_irq(c->irq);
	cancel_work_sync(&c->work);
	unbind_from_irqhandler(c->irq, c);
	kfree(c);
}

void nbrs_ctrl_irq_notify(struct nbrs_ctrl_irq *c)
{
	notify_remote_via_irq(READ_ONCE(c->irq));
}

/* ------------------------------------------------------------------ */
/* The VIF net_device. Its private area is this C object followed by one
 * struct nbrs_queue per allocated queue; the Rust state hangs off ->data
 * and is only reached through ->ops. Per-queue entry points take the queue
 * index and ignore an index past the allocated count. */

#define NBRS_EOI_TX	BIT(0)
#define NBRS_EOI_RX	BIT(1)
#define NBRS_EOI_COMMON	BIT(2)

struct nbrs_vif;

/* One TX/RX ring pair's kernel objects: NAPI (guest TX), the guest-RX
 * backlog and its worker, the event channel IRQs (xen-netback's
 * xenvif_queue minus what Rust keeps). */
struct nbrs_queue {
	struct nbrs_vif *vif;
	unsigned int id;
	struct napi_struct napi;
	bool napi_added;
	struct sk_buff_head rx_queue;
	struct delayed_work rx_work;
	unsigned int tx_irq, rx_irq;
	atomic_t eoi_pending;
	/* "vifD.H-qN-tx": IFNAMSIZ plus "-q" and up to 5 digits, "-tx". */
	char tx_irq_name[IFNAMSIZ + 12], rx_irq_name[IFNAMSIZ + 12];
};

struct nbrs_vif {
	struct net_device *dev;
	const struct nbrs_vif_ops *ops;
	void *data;
	bool registered;
	/* Queues allocated (the netdev's TX/RX queue count). */
	unsigned int nr_queues;
	struct nbrs_queue queues[];
};

static inline struct nbrs_vif *nbrs_vif(struct net_device *dev)
{
	return netdev_priv(dev);
}

static inline struct nbrs_queue *nbrs_queue(struct net_device *dev, unsigned int q)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	return q < vif->nr_queues ? &vif->queues[q] : NULL;
}

static netdev_tx_t nbrs_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	vif->ops->start_xmit(vif->data, dev, skb_get_queue_mapping(skb), skb);
	return NETDEV_TX_OK;
}

static u16 nbrs_select_queue(struct net_device *dev, struct sk_buff *skb,
			     struct net_device *sb_dev)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	return vif->ops->select_queue(vif->data, dev, skb);
}

u16 nbrs_vif_pick_tx(struct net_device *dev, struct sk_buff *skb)
{
	if (!dev->real_num_tx_queues)
		return 0;
	return netdev_pick_tx(dev, skb, NULL) % dev->real_num_tx_queues;
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

	vif->ops->get_stats64(vif->data, dev, s);
}

static int nbrs_change_mtu(struct net_device *dev, int mtu)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	int err = vif->ops->check_mtu(vif->data, dev, mtu);

	if (err)
		return err;
	WRITE_ONCE(dev->mtu, mtu);
	return 0;
}

static netdev_features_t nbrs_fix_features(struct net_device *dev,
					   netdev_features_t features)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	return vif->ops->fix_features(vif->data, dev, features);
}

static const struct net_device_ops nbrs_netdev_ops = {
	.ndo_select_queue = nbrs_select_queue,
	.ndo_start_xmit = nbrs_start_xmit,
	.ndo_open = nbrs_open,
	.ndo_stop = nbrs_stop,
	.ndo_get_stats64 = nbrs_get_stats64,
	.ndo_change_mtu = nbrs_change_mtu,
	.ndo_fix_features = nbrs_fix_features,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* `ethtool -S`: the names, the values and their count all come from one
 * walk of the driver's counter list (netback/stats.rs). */
static int nbrs_get_sset_count(struct net_device *dev, int sset)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	if (sset != ETH_SS_STATS)
		return -EINVAL;
	return vif->ops->ethtool_stats(vif->data, dev, NULL, NULL, 0);
}

static void nbrs_get_strings(struct net_device *dev, u32 sset, u8 *data)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	/* Under RTNL, as get_sset_count was: the count has not changed. */
	if (sset == ETH_SS_STATS)
		vif->ops->ethtool_stats(vif->data, dev, data, NULL,
					vif->ops->ethtool_stats(vif->data, dev, NULL, NULL, 0));
}

static void nbrs_get_ethtool_stats(struct net_device *dev,
				   struct ethtool_stats *stats, u64 *data)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	memset(data, 0, sizeof(u64) * stats->n_stats);
	vif->ops->ethtool_stats(vif->data, dev, NULL, data, stats->n_stats);
}

static void nbrs_get_channels(struct net_device *dev,
			      struct ethtool_channels *ch)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	unsigned int combined = 0;

	vif->ops->channels(vif->data, dev, &combined);
	ch->max_combined = vif->nr_queues;
	ch->combined_count = min(combined, vif->nr_queues);
}

static int nbrs_set_channels(struct net_device *dev,
			     struct ethtool_channels *ch)
{
	struct nbrs_vif *vif = nbrs_vif(dev);

	/* The ethtool core already refused counts above the maxima. */
	if (ch->rx_count || ch->tx_count || ch->other_count)
		return -EINVAL;
	return vif->ops->set_queue_limit(vif->data, dev, ch->combined_count);
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
	.get_channels = nbrs_get_channels,
	.set_channels = nbrs_set_channels,
};

static int nbrs_napi_poll(struct napi_struct *napi, int budget)
{
	struct nbrs_queue *queue = container_of(napi, struct nbrs_queue, napi);
	struct nbrs_vif *vif = queue->vif;

	return vif->ops->napi_poll(vif->data, vif->dev, queue->id, budget);
}

static void nbrs_rx_work_fn(struct work_struct *work)
{
	struct nbrs_queue *queue = container_of(to_delayed_work(work),
						struct nbrs_queue, rx_work);
	struct nbrs_vif *vif = queue->vif;

	vif->ops->rx_work(vif->data, vif->dev, queue->id);
}

struct net_device *nbrs_vif_alloc(const char *name, struct device *parent,
				  unsigned int nr_queues, unsigned int max_mtu,
				  const struct nbrs_vif_ops *ops, void *data)
{
	static const u8 dummy_addr[ETH_ALEN] = {
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	struct net_device *dev;
	struct nbrs_vif *vif;
	unsigned int q;

	if (nr_queues == 0)
		return NULL;
	/* As xen-netback: as many TX/RX queues as max_queues; the connected
	 * frontend's count becomes the real number. */
	dev = alloc_netdev_mq(struct_size(vif, queues, nr_queues), name,
			      NET_NAME_UNKNOWN, ether_setup, nr_queues);
	if (!dev)
		return NULL;
	SET_NETDEV_DEV(dev, parent);
	vif = nbrs_vif(dev);
	vif->dev = dev;
	vif->ops = ops;
	vif->data = data;
	vif->nr_queues = nr_queues;
	for (q = 0; q < nr_queues; q++) {
		struct nbrs_queue *queue = &vif->queues[q];

		queue->vif = vif;
		queue->id = q;
		atomic_set(&queue->eoi_pending, 0);
		skb_queue_head_init(&queue->rx_queue);
		INIT_DELAYED_WORK(&queue->rx_work, nbrs_rx_work_fn);
	}

	dev->netdev_ops = &nbrs_netdev_ops;
	dev->ethtool_ops = &nbrs_ethtool_ops;
	/* No NETIF_F_FRAGLIST: frag-listed GSO skbs get software segmented
	 * by the core instead, so the guest RX path only sees frags. */
	dev->hw_features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM |
			   NETIF_F_TSO | NETIF_F_TSO6;
	dev->features = dev->hw_features | NETIF_F_RXCSUM;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = max_mtu;
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
	unsigned int q;

	for (q = 0; q < vif->nr_queues; q++) {
		struct nbrs_queue *queue = &vif->queues[q];

		cancel_delayed_work_sync(&queue->rx_work);
		skb_queue_purge(&queue->rx_queue);
		if (queue->napi_added)
			netif_napi_del(&queue->napi);
	}
	free_netdev(dev);
}

const char *nbrs_vif_name(struct net_device *dev) { return dev->name; }

void nbrs_vif_update_features_locked(struct net_device *dev)
{
	netdev_update_features(dev);
}

void nbrs_vif_clamp_mtu_locked(struct net_device *dev, unsigned int max)
{
	if (dev->mtu > max)
		dev_set_mtu(dev, max);
}

int nbrs_vif_set_num_queues_locked(struct net_device *dev, unsigned int n)
{
	struct nbrs_vif *vif = nbrs_vif(dev);
	int err;

	if (n > vif->nr_queues)
		return -EINVAL;
	if (n) {
		err = netif_set_real_num_tx_queues(dev, n);
		if (err)
			return err;
		err = netif_set_real_num_rx_queues(dev, n);
		if (err)
			return err;
	}
	return 0;
}

bool nbrs_vif_running(struct net_device *dev) { return netif_running(dev); }
void nbrs_vif_carrier_on(struct net_device *dev) { netif_carrier_on(dev); }
void nbrs_vif_carrier_off(struct net_device *dev) { netif_carrier_off(dev); }
bool nbrs_vif_carrier_ok(struct net_device *dev) { return netif_carrier_ok(dev); }
void nbrs_vif_wake_all_queues(struct net_device *dev) { netif_tx_wake_all_queues(dev); }

void nbrs_vif_wake_queue(struct net_device *dev, unsigned int q)
{
	if (q < dev->num_tx_queues)
		netif_tx_wake_queue(netdev_get_tx_queue(dev, q));
}

void nbrs_vif_stop_queue(struct net_device *dev, unsigned int q)
{
	if (q < dev->num_tx_queues)
		netif_tx_stop_queue(netdev_get_tx_queue(dev, q));
}

bool nbrs_vif_queue_stopped(struct net_device *dev, unsigned int q)
{
	return q < dev->num_tx_queues &&
	       netif_tx_queue_stopped(netdev_get_tx_queue(dev, q));
}

void nbrs_vif_napi_add(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue || queue->napi_added)
		return;
	netif_napi_add(dev, &queue->napi, nbrs_napi_poll);
	queue->napi_added = true;
}

void nbrs_vif_napi_del(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue || !queue->napi_added)
		return;
	netif_napi_del(&queue->napi);
	queue->napi_added = false;
}

void nbrs_vif_napi_enable(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (queue && queue->napi_added)
		napi_enable(&queue->napi);
}

void nbrs_vif_napi_disable(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (queue && queue->napi_added)
		napi_disable(&queue->napi);
}

void nbrs_vif_napi_schedule(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (queue && queue->napi_added)
		napi_schedule(&queue->napi);
}

bool nbrs_vif_napi_complete(struct net_device *dev, unsigned int q, int work_done)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	return queue && napi_complete_done(&queue->napi, work_done);
}

void nbrs_vif_napi_receive(struct net_device *dev, unsigned int q, struct sk_buff *skb)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue) {
		kfree_skb(skb);
		return;
	}
	skb_record_rx_queue(skb, q);
	napi_gro_receive(&queue->napi, skb);
}

/* Why C: the queue's napi_struct lives in this file's private area. */
struct sk_buff *nbrs_vif_napi_alloc_skb(struct net_device *dev, unsigned int q,
					unsigned int len)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	return queue ? napi_alloc_skb(&queue->napi, len) : NULL;
}

static irqreturn_t nbrs_irq_tx(int irq, void *dev_id)
{
	struct nbrs_queue *queue = dev_id;
	struct nbrs_vif *vif = queue->vif;

	atomic_or(NBRS_EOI_TX, &queue->eoi_pending);
	if (!vif->ops->tx_event(vif->data, vif->dev, queue->id)) {
		atomic_andnot(NBRS_EOI_TX, &queue->eoi_pending);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	}
	return IRQ_HANDLED;
}

static irqreturn_t nbrs_irq_rx(int irq, void *dev_id)
{
	struct nbrs_queue *queue = dev_id;
	struct nbrs_vif *vif = queue->vif;

	atomic_or(NBRS_EOI_RX, &queue->eoi_pending);
	if (!vif->ops->rx_event(vif->data, vif->dev, queue->id)) {
		atomic_andnot(NBRS_EOI_RX, &queue->eoi_pending);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	}
	return IRQ_HANDLED;
}

static irqreturn_t nbrs_irq_common(int irq, void *dev_id)
{
	struct nbrs_queue *queue = dev_id;
	struct nbrs_vif *vif = queue->vif;
	bool has_tx, has_rx;

	atomic_or(NBRS_EOI_COMMON, &queue->eoi_pending);
	has_tx = vif->ops->tx_event(vif->data, vif->dev, queue->id);
	has_rx = vif->ops->rx_event(vif->data, vif->dev, queue->id);
	if (!has_tx && !has_rx) {
		atomic_andnot(NBRS_EOI_COMMON, &queue->eoi_pending);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	}
	return IRQ_HANDLED;
}

int nbrs_vif_bind_irqs(struct net_device *dev, unsigned int q,
		       struct xenbus_device *xdev, unsigned int tx_port,
		       unsigned int rx_port)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);
	int err;

	if (!queue)
		return -EINVAL;
	if (queue->tx_irq)
		return -EBUSY;
	atomic_set(&queue->eoi_pending, 0);
	if (tx_port == rx_port) {
		snprintf(queue->tx_irq_name, sizeof(queue->tx_irq_name),
			 "%s-q%u", dev->name, q);
		err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
			xdev, tx_port, nbrs_irq_common, 0, queue->tx_irq_name, queue);
		if (err < 0)
			return err;
		queue->tx_irq = queue->rx_irq = err;
		disable_irq(queue->tx_irq);
		return 0;
	}
	snprintf(queue->tx_irq_name, sizeof(queue->tx_irq_name), "%s-q%u-tx",
		 dev->name, q);
	err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
		xdev, tx_port, nbrs_irq_tx, 0, queue->tx_irq_name, queue);
	if (err < 0)
		return err;
	queue->tx_irq = err;
	disable_irq(queue->tx_irq);
	snprintf(queue->rx_irq_name, sizeof(queue->rx_irq_name), "%s-q%u-rx",
		 dev->name, q);
	err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
		xdev, rx_port, nbrs_irq_rx, 0, queue->rx_irq_name, queue);
	if (err < 0) {
		unbind_from_irqhandler(queue->tx_irq, queue);
		queue->tx_irq = 0;
		return err;
	}
	queue->rx_irq = err;
	disable_irq(queue->rx_irq);
	return 0;
}

/* IRQs must be disabled (nbrs_vif_disable_irqs) or never enabled. */
void nbrs_vif_unbind_irqs(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue)
		return;
	if (queue->rx_irq && queue->rx_irq != queue->tx_irq)
		unbind_from_irqhandler(queue->rx_irq, queue);
	if (queue->tx_irq)
		unbind_from_irqhandler(queue->tx_irq, queue);
	queue->tx_irq = 0;
	queue->rx_irq = 0;
}

void nbrs_vif_unbind_all_irqs(struct net_device *dev)
{
	unsigned int q;

	for (q = 0; q < nbrs_vif(dev)->nr_queues; q++)
		nbrs_vif_unbind_irqs(dev, q);
}

void nbrs_vif_enable_irqs(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue)
		return;
	if (queue->tx_irq)
		enable_irq(queue->tx_irq);
	if (queue->rx_irq && queue->rx_irq != queue->tx_irq)
		enable_irq(queue->rx_irq);
}

void nbrs_vif_disable_irqs(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue)
		return;
	if (queue->tx_irq)
		disable_irq(queue->tx_irq);
	if (queue->rx_irq && queue->rx_irq != queue->tx_irq)
		disable_irq(queue->rx_irq);
}

/* Whether an event on this ring's channel awaits its EOI. */
bool nbrs_vif_eoi_owed(struct net_device *dev, unsigned int q, bool rx)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);
	int bits = (rx ? NBRS_EOI_RX : NBRS_EOI_TX) | NBRS_EOI_COMMON;

	return queue && (atomic_read(&queue->eoi_pending) & bits);
}

/* End of the deferred EOI of an event whose work is now done; spurious
 * when the event found none (the caller decides). */
void nbrs_vif_lateeoi(struct net_device *dev, unsigned int q, bool rx, bool spurious)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);
	int bits = (rx ? NBRS_EOI_RX : NBRS_EOI_TX) | NBRS_EOI_COMMON;
	unsigned int irq;

	if (!queue)
		return;
	irq = rx ? queue->rx_irq : queue->tx_irq;
	if (irq && (atomic_fetch_andnot(bits, &queue->eoi_pending) & bits))
		xen_irq_lateeoi(irq, spurious ? XEN_EOI_FLAG_SPURIOUS : 0);
}

void nbrs_vif_notify(struct net_device *dev, unsigned int q, bool rx)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);
	unsigned int irq;

	if (!queue)
		return;
	irq = rx ? queue->rx_irq : queue->tx_irq;
	if (irq)
		notify_remote_via_irq(irq);
}

/* skb->cb of a queued packet starts with its drain deadline: RxCb in
 * netback/bindings/skb.rs, which defines the control block and asserts this. */
#define NBRS_RX_CB_EXPIRES(skb) (*(unsigned long *)(skb)->cb)

/* Queue q's guest-RX backlog; NULL (skb freed) for a bad index. */
static struct sk_buff_head *nbrs_rxq_or_free(struct net_device *dev, unsigned int q,
					     struct sk_buff *skb)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue) {
		kfree_skb(skb);
		return NULL;
	}
	return &queue->rx_queue;
}

void nbrs_vif_rxq_tail(struct net_device *dev, unsigned int q, struct sk_buff *skb)
{
	struct sk_buff_head *list = nbrs_rxq_or_free(dev, q, skb);

	if (list)
		skb_queue_tail(list, skb);
}

void nbrs_vif_rxq_head(struct net_device *dev, unsigned int q, struct sk_buff *skb)
{
	struct sk_buff_head *list = nbrs_rxq_or_free(dev, q, skb);

	if (list)
		skb_queue_head(list, skb);
}

struct sk_buff *nbrs_vif_rxq_dequeue(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	return queue ? skb_dequeue(&queue->rx_queue) : NULL;
}

bool nbrs_vif_rxq_head_expires(struct net_device *dev, unsigned int q,
			       unsigned long *expires)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);
	struct sk_buff *skb;
	unsigned long flags;
	bool found = false;

	if (!queue)
		return false;
	spin_lock_irqsave(&queue->rx_queue.lock, flags);
	skb = skb_peek(&queue->rx_queue);
	if (skb) {
		*expires = NBRS_RX_CB_EXPIRES(skb);
		found = true;
	}
	spin_unlock_irqrestore(&queue->rx_queue.lock, flags);
	return found;
}

unsigned int nbrs_vif_rxq_len(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	return queue ? skb_queue_len_lockless(&queue->rx_queue) : 0;
}

void nbrs_vif_rxq_purge(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (queue)
		skb_queue_purge(&queue->rx_queue);
}

void nbrs_vif_rx_work_kick(struct net_device *dev, unsigned int q,
			   unsigned long delay)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (!queue)
		return;
	if (delay)
		queue_delayed_work(system_dfl_wq, &queue->rx_work, delay);
	/* Cheap when already queued (the per-packet case); only a pending
	 * timer (a drain/stall recheck) needs pulling in. */
	else if (!queue_delayed_work(system_dfl_wq, &queue->rx_work, 0) &&
		 timer_pending(&queue->rx_work.timer))
		mod_delayed_work(system_dfl_wq, &queue->rx_work, 0);
}

void nbrs_vif_rx_work_cancel(struct net_device *dev, unsigned int q)
{
	struct nbrs_queue *queue = nbrs_queue(dev, q);

	if (queue)
		cancel_delayed_work_sync(&queue->rx_work);
}

/* ------------------------------------------------------------------ */
/* sk_buff: netback/bindings/skb.rs reads and writes the struct itself;
 * these wrap what it cannot call. */

/* Why C: skb_add_rx_frag() is a static inline over the netmem encoding. */
void nbrs_skb_add_rx_frag(struct sk_buff *skb, int i, struct page *page,
			  unsigned int size, unsigned int truesize)
{
	skb_add_rx_frag(skb, i, page, 0, size, truesize);
}

/* Why C: virt_to_gfn() is a macro over the p2m lookup (a static inline). */
u64 nbrs_virt_to_gfn(const void *addr) { return virt_to_gfn(addr); }

/* Why C: skb_frag_page() (netmem), page arithmetic and xen_page_to_gfn()
 * are static inlines. The gfn of byte off of the frag's memory (off from
 * the frag's first page); false for a frag without pages (net_iov). */
bool nbrs_skb_frag_gfn(const struct skb_frag *frag, unsigned int off, u64 *gfn)
{
	struct page *page = skb_frag_page(frag);

	if (!page)
		return false;
	*gfn = xen_page_to_gfn(page + (off >> PAGE_SHIFT));
	return true;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * C side of netback-rs' binding layer: wrappers of the macros and static
 * inlines Rust cannot call. Shared: both modules (xen-netback-rs and
 * xen-netfront-rs) link it; the backend's module parameters are in
 * params.c.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/ethtool.h>
#include <linux/skbuff.h>
#include <linux/rtnetlink.h>
#include <linux/workqueue.h>
#include <linux/kthread.h>
#include <linux/interrupt.h>
#include <net/gro.h>
#include <net/page_pool/helpers.h>
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/xenbus.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/interface/io/netif.h>
#include "helpers.h"
#include <generated/utsrelease.h>

/* ------------------------------------------------------------------ */
/* Misc: macros and static inlines (xen_domain, local_bh_*). */

int nbrs_xen_domain(void) { return xen_domain(); }
void nbrs_local_bh_disable(void) { local_bh_disable(); }
void nbrs_local_bh_enable(void) { local_bh_enable(); }
/* in_hardirq() and irqs_disabled() are macros. */
bool nbrs_bh_lock_allowed(void) { return !in_hardirq() && !irqs_disabled(); }
/* need_resched(), in_serving_softirq() and is_idle_task() are static inlines or
 * macros. A task waits for this CPU: the scheduler asked the running context to
 * yield (a woken receiver, say), or the softirq interrupted a user task. */
bool nbrs_cpu_wanted(void) { return need_resched() || (in_serving_softirq() &&
	!is_idle_task(current) && !(current->flags & PF_KTHREAD)); }
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
 * without the whole networking stack (kernel::bindings has it opaque): the
 * per-packet ones as offsets, laid out by this compiler, the rest read here. */
const struct nbrs_netdev_layout nbrs_netdev_layout = {
	.priv = offsetof(struct net_device, priv),
	.state = offsetof(struct net_device, state),
	.tx = offsetof(struct net_device, _tx),
	.num_tx_queues = offsetof(struct net_device, num_tx_queues),
	.features = offsetof(struct net_device, features),
	.queue_size = sizeof(struct netdev_queue),
	.queue_state = offsetof(struct netdev_queue, state),
	.nocarrier_bit = __LINK_STATE_NOCARRIER,
	.drv_xoff_bit = __QUEUE_STATE_DRV_XOFF,
};
const char *nbrs_netdev_name(struct net_device *dev) { return dev->name; }
unsigned int nbrs_netdev_mtu(struct net_device *dev) { return READ_ONCE(dev->mtu); }
void nbrs_netdev_set_mtu(struct net_device *dev, unsigned int mtu) { WRITE_ONCE(dev->mtu, mtu); }
unsigned int nbrs_netdev_real_num_tx_queues(struct net_device *dev) { return dev->real_num_tx_queues; }
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

/* net_device is opaque to Rust (wanted_features is one of its fields):
 * clears GRO from the features the administrator wants, as `ethtool -K
 * gro off` does, and re-evaluates them. `ethtool -K gro on` sets it again. */
void nbrs_netdev_clear_wanted_gro(struct net_device *dev)
{
	ASSERT_RTNL();
	dev->wanted_features &= ~NETIF_F_GRO;
	netdev_update_features(dev);
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
void nbrs_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb) { napi_gro_receive(napi, skb); }

/* netif_running() and the all-queue start/wake loops are static inlines. */
bool nbrs_netif_running(struct net_device *dev) { return netif_running(dev); }
void nbrs_netif_tx_start_all_queues(struct net_device *dev) { netif_tx_start_all_queues(dev); }
void nbrs_netif_tx_wake_all_queues(struct net_device *dev) { netif_tx_wake_all_queues(dev); }

/* netdev_get_tx_queue(), netif_tx_stop_queue() and netif_tx_wake_queue()
 * are static inlines; q < dev->num_tx_queues is the caller's to check. */
void nbrs_netif_tx_stop_queue(struct net_device *dev, unsigned int q)
{
	netif_tx_stop_queue(netdev_get_tx_queue(dev, q));
}

void nbrs_netif_tx_wake_queue(struct net_device *dev, unsigned int q)
{
	netif_tx_wake_queue(netdev_get_tx_queue(dev, q));
}

/* skb_queue_head_init(), kthread_init_delayed_work() and INIT_WORK() are macros/inlines
 * with a lockdep class per call site. */
void nbrs_skb_queue_head_init(struct sk_buff_head *list) { skb_queue_head_init(list); }
void nbrs_init_kthread_delayed_work(struct kthread_delayed_work *work, kthread_work_func_t fn)
{ kthread_init_delayed_work(work, fn); }

void nbrs_init_work(struct work_struct *work, work_func_t fn) { INIT_WORK(work, fn); }

/* timer_pending() is a static inline. Delay 0 pulls a pending delayed run in;
 * a queued one is left alone (the per-packet case). */
void nbrs_kthread_work_kick(struct kthread_worker *worker, struct kthread_delayed_work *work,
			    unsigned long delay)
{
	if (!kthread_queue_delayed_work(worker, work, delay) && !delay && timer_pending(&work->timer))
		kthread_mod_delayed_work(worker, work, 0);
}


/* skb->cb of a queued packet starts with its drain deadline: RxCb in
 * netback/bindings/skb.rs, which defines the control block and asserts this. */
#define NBRS_RX_CB_EXPIRES(skb) (*(unsigned long *)(skb)->cb)


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
		*expires = NBRS_RX_CB_EXPIRES(skb);
		found = true;
	}
	spin_unlock_irqrestore(&list->lock, flags);
	return found;
}


/* ------------------------------------------------------------------ */
/* sk_buff: netback/bindings/skb.rs reads and writes the struct itself;
 * these wrap what it cannot call. */

/* Why C: skb_add_rx_frag() is a static inline over the netmem encoding. */
void nbrs_skb_add_rx_frag(struct sk_buff *skb, int i, struct page *page,
			  unsigned int off, unsigned int size,
			  unsigned int truesize)
{
	skb_add_rx_frag(skb, i, page, off, size, truesize);
}

/* Why C: get_page() and skb_add_rx_frag() are static inlines over folios
 * and netmem. Adds size bytes at off of a grant-mapped page as frag i, with
 * a page reference of the skb's own (the pool keeps the page's first one). */
void nbrs_skb_add_mapped_frag(struct sk_buff *skb, int i, struct page *page,
			      unsigned int off, unsigned int size)
{
	get_page(page);
	skb_add_rx_frag(skb, i, page, off, size, size);
}

/* Why C: gnttab_set_map_op()/gnttab_set_unmap_op() are static inlines that
 * pick the host address form (virtual for PV, physical when translated). */
void nbrs_gnttab_set_map_op(struct gnttab_map_grant_ref *op, struct page *page,
			    u32 gref, u16 domid, bool readonly)
{
	gnttab_set_map_op(op, (unsigned long)page_address(page),
			  GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0),
			  gref, domid);
}

void nbrs_gnttab_set_unmap_op(struct gnttab_unmap_grant_ref *op,
			      struct page *page, u32 handle)
{
	gnttab_set_unmap_op(op, (unsigned long)page_address(page),
			    GNTMAP_host_map, handle);
}

/* Why C: virt_to_gfn() is a macro over the p2m lookup (a static inline). */
u64 nbrs_virt_to_gfn(const void *addr) { return virt_to_gfn(addr); }

/* Why C: skb_frag_page() (netmem), page arithmetic, xen_page_foreign() and
 * xen_page_to_gfn() are static inlines. Where byte off of the frag's memory
 * (off from the frag's first page) lives: a page grant-mapped from another
 * domain (its grant) or ours (its gfn); false for a frag without pages
 * (net_iov). */
bool nbrs_skb_frag_source(const struct skb_frag *frag, unsigned int off,
			  struct nbrs_frag_source *src)
{
	struct page *page = skb_frag_page(frag);
	struct xen_page_foreign *foreign;

	if (!page)
		return false;
	page += off >> PAGE_SHIFT;
	foreign = xen_page_foreign(page);
	src->foreign = foreign != NULL;
	if (foreign) {
		src->domid = foreign->domid;
		src->gref = foreign->gref;
	} else {
		src->gfn = xen_page_to_gfn(page);
	}
	return true;
}

/* struct net_device is opaque to the kernel's bindgen: its embedded struct
 * device (sysfs attributes hang off it) is reached in C. */
struct device *nbrs_netdev_device(struct net_device *dev) { return &dev->dev; }
struct net_device *nbrs_device_netdev(struct device *d) { return to_net_dev(d); }

/* Why C: struct page_pool_params' fields sit in struct groups, and
 * page_pool_put_full_page() and skb_mark_for_recycle() are static inlines.
 * A pool of order-0 RX pages without DMA mapping (a Xen frontend grants its
 * pages, it does not map them for a device); NULL when it cannot be made. */
void *nbrs_rx_page_pool_create(unsigned int size)
{
	struct page_pool_params pp = {
		.order = 0,
		.pool_size = size,
		.nid = NUMA_NO_NODE,
	};
	struct page_pool *pool = page_pool_create(&pp);

	return IS_ERR(pool) ? NULL : pool;
}

/* A page to grant writable to a backend: fresh ones zeroed (the backend can
 * read it), recycled ones holding only packet data this pool received. */
struct page *nbrs_rx_page_pool_alloc(void *pool)
{
	return page_pool_alloc_pages(pool, GFP_ATOMIC | __GFP_NOWARN | __GFP_ZERO);
}

void nbrs_rx_page_pool_put(void *pool, struct page *page)
{
	page_pool_put_full_page(pool, page, false);
}

void nbrs_rx_page_pool_destroy(void *pool)
{
	page_pool_destroy(pool);
}

void nbrs_skb_mark_for_recycle(struct sk_buff *skb)
{
	skb_mark_for_recycle(skb);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of netback-rs' binding layer: thin wrappers for kernel macros and
 * static inlines, plus the C-owned per-VIF object that embeds the kernel
 * structures Rust cannot lay out (napi_struct, sk_buff_head, kthread_delayed_work).
 * Everything here is mechanism; all policy lives in Rust.
 */
#ifndef NBRS_HELPERS_H
#define NBRS_HELPERS_H

#include <linux/types.h>
/* rx_handler_result_t and netdevice_tracker, of lower.c's declarations */
#include <linux/netdevice.h>

struct xenbus_device;
struct net_device;
struct sk_buff;
struct device;
struct rtnl_link_stats64;

/* ---- module parameters (declared in C for exact xen-netback semantics;
 * params.c defines them, params.rs reads them) */
extern bool nbrs_param_separate_tx_rx_irq;
extern unsigned int nbrs_param_rx_drain_timeout_msecs;
extern unsigned int nbrs_param_rx_stall_timeout_msecs;
extern unsigned int nbrs_param_max_queues;
extern unsigned int nbrs_param_fatal_skb_slots;
extern bool nbrs_param_provides_xdp_headroom;
extern unsigned int nbrs_param_tx_zerocopy;
extern unsigned int nbrs_param_tx_zerocopy_threshold;
extern unsigned int nbrs_param_staging_grants_per_queue;
extern unsigned int nbrs_param_staging_grants_max;
extern unsigned int nbrs_param_napi_threaded;
void nbrs_params_init(void);

/* ---- misc */
int nbrs_xen_domain(void);
void nbrs_local_bh_disable(void);
void nbrs_local_bh_enable(void);
bool nbrs_bh_lock_allowed(void);
bool nbrs_cpu_wanted(void);

/* ---- grant copy (bindings/xen/grant.rs) */
struct page;
unsigned long nbrs_xen_page_to_gfn(struct page *page);
struct gnttab_map_grant_ref;
struct gnttab_unmap_grant_ref;
void nbrs_gnttab_set_map_op(struct gnttab_map_grant_ref *op, struct page *page,
			    u32 gref, u16 domid, bool readonly);
void nbrs_gnttab_set_unmap_op(struct gnttab_unmap_grant_ref *op,
			      struct page *page, u32 handle);
void nbrs_skb_add_mapped_frag(struct sk_buff *skb, int i, struct page *page,
			      unsigned int off, unsigned int size);

/* ---- the VIF net_device: wrappers of static inlines and macros */
struct napi_struct;
struct sk_buff_head;
struct kthread_delayed_work;
struct kthread_work;
struct kthread_worker;
struct work_struct;
struct net_device_ops;
struct ethtool_ops;
/* Where the fields the data path reads per packet sit, as the C compiler laid
 * out struct net_device and struct netdev_queue: netdev_priv() is dev->priv,
 * netif_carrier_ok() and netif_tx_queue_stopped() test one bit of a state
 * word. Rust reads them in place: a call per static inline per packet cost
 * more than the read (netback/bindings/net/device.rs). */
struct nbrs_netdev_layout {
	size_t priv;
	size_t state;
	size_t tx;
	size_t num_tx_queues;
	size_t features;
	size_t queue_size;
	size_t queue_state;
	unsigned int nocarrier_bit;
	unsigned int drv_xoff_bit;
};
extern const struct nbrs_netdev_layout nbrs_netdev_layout;
const char *nbrs_netdev_name(struct net_device *dev);
unsigned int nbrs_netdev_mtu(struct net_device *dev);
void nbrs_netdev_set_mtu(struct net_device *dev, unsigned int mtu);
unsigned int nbrs_netdev_real_num_tx_queues(struct net_device *dev);
/* dev_name() of the parent (the xenbus device), NULL without one */
const char *nbrs_netdev_parent_name(struct net_device *dev);
void nbrs_netdev_init(struct net_device *dev, struct device *parent,
		      const struct net_device_ops *ndo, const struct ethtool_ops *eto,
		      u64 hw_features, u64 features, unsigned int min_mtu,
		      unsigned int max_mtu);
/* GRO off until asked for (RTNL held) */
void nbrs_netdev_clear_wanted_gro(struct net_device *dev);
void nbrs_napi_add(struct net_device *dev, struct napi_struct *napi,
		   int (*poll)(struct napi_struct *, int));
void nbrs_napi_del(struct napi_struct *napi);
void nbrs_napi_schedule(struct napi_struct *napi);
void nbrs_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb);
bool nbrs_netif_running(struct net_device *dev);
void nbrs_netif_tx_start_all_queues(struct net_device *dev);
void nbrs_netif_tx_wake_all_queues(struct net_device *dev);
void nbrs_netif_tx_stop_queue(struct net_device *dev, unsigned int q);
void nbrs_netif_tx_wake_queue(struct net_device *dev, unsigned int q);
void nbrs_skb_queue_head_init(struct sk_buff_head *list);
void nbrs_init_kthread_delayed_work(struct kthread_delayed_work *work,
				    void (*fn)(struct kthread_work *));
void nbrs_init_work(struct work_struct *work, void (*fn)(struct work_struct *));
void nbrs_kthread_work_kick(struct kthread_worker *worker, struct kthread_delayed_work *work,
			    unsigned long delay);
bool nbrs_rxq_head_expires(struct sk_buff_head *list, unsigned long *expires);
/* The kernel release (a macro of generated/utsrelease.h), for ethtool -i. */
extern const char nbrs_uts_release[];

/* ---- sk_buff (the rest is Rust: netback/bindings/skb.rs) */
struct skb_frag;
void nbrs_skb_add_rx_frag(struct sk_buff *skb, int i, struct page *page, unsigned int off,
			  unsigned int size, unsigned int truesize);
u64 nbrs_virt_to_gfn(const void *addr);
/* A page_pool of RX pages (netfront-rs' lent pages), as void *: opaque to Rust. */
void *nbrs_rx_page_pool_create(unsigned int size);
struct page *nbrs_rx_page_pool_alloc(void *pool);
void nbrs_rx_page_pool_put(void *pool, struct page *page);
void nbrs_rx_page_pool_destroy(void *pool);
void nbrs_skb_mark_for_recycle(struct sk_buff *skb);
/* Where a byte of an skb frag lives, for a grant copy to a guest: a page
 * grant-mapped from another domain (foreign: domid, gref) or our own (gfn). */
struct nbrs_frag_source {
	u64 gfn;
	u32 gref;
	u16 domid;
	bool foreign;
};
bool nbrs_skb_frag_source(const struct skb_frag *frag, unsigned int off,
			  struct nbrs_frag_source *src);

/* A VIF net_device's embedded struct device, and back (to_net_dev). */
struct device *nbrs_netdev_device(struct net_device *dev);
struct net_device *nbrs_device_netdev(struct device *d);

/* SR-IOV VF steering (netback/bindings/net/lower.rs), lower.c: the VF's
 * rx_handler (rx_handler_data: the VIF) and wrappers for the lower port. */
rx_handler_result_t nbrs_lower_rx(struct sk_buff **pskb);
unsigned short nbrs_netdev_type(struct net_device *dev);
unsigned int nbrs_netdev_flags(struct net_device *dev);
const struct net_device_ops *nbrs_netdev_ops(struct net_device *dev);
struct net;
struct net *nbrs_dev_net(struct net_device *dev);
void nbrs_netdev_put(struct net_device *dev, netdevice_tracker *tracker);
struct net_device *nbrs_netdev_notifier_dev(void *info);
struct pci_dev;
struct pci_dev *nbrs_netdev_pci_vf(struct net_device *dev);
struct device *nbrs_pci_physfn_device(struct pci_dev *vf);
struct net_device *nbrs_netdev_hold_by_parent(struct net *net, struct device *parent,
					      netdevice_tracker *tracker);

#endif

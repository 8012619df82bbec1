/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of netback-rs' binding layer: thin wrappers for kernel macros and
 * static inlines, plus the C-owned per-VIF object that embeds the kernel
 * structures Rust cannot lay out (napi_struct, sk_buff_head, delayed_work).
 * Everything here is mechanism; all policy lives in Rust.
 */
#ifndef NBRS_HELPERS_H
#define NBRS_HELPERS_H

#include <linux/types.h>

struct xenbus_device;
struct net_device;
struct sk_buff;
struct device;
struct rtnl_link_stats64;

/* ---- module parameters (declared in C for exact xen-netback semantics) */
bool nbrs_param_separate_tx_rx_irq(void);
unsigned int nbrs_param_rx_drain_timeout_msecs(void);
unsigned int nbrs_param_rx_stall_timeout_msecs(void);
unsigned int nbrs_param_max_queues(void);
unsigned int nbrs_param_fatal_skb_slots(void);
bool nbrs_param_provides_xdp_headroom(void);
void nbrs_params_init(void);

/* ---- misc */
int nbrs_xen_domain(void);
unsigned long nbrs_jiffies(void);
unsigned long nbrs_msecs_to_jiffies(unsigned int ms);
void nbrs_virt_mb(void);
void nbrs_virt_rmb(void);
void nbrs_virt_wmb(void);
void nbrs_rtnl_lock(void);
void nbrs_rtnl_unlock(void);
void nbrs_synchronize_net(void);
void nbrs_local_bh_disable(void);
void nbrs_local_bh_enable(void);
void nbrs_module_get(void);
void nbrs_module_put(void);

/* ---- xenbus driver: callbacks into Rust, registered once per module */
struct nbrs_xenbus_ops {
	int (*probe)(struct xenbus_device *dev);
	void (*remove)(struct xenbus_device *dev);
	void (*otherend_changed)(struct xenbus_device *dev, int state);
};
int nbrs_xenbus_register(const struct nbrs_xenbus_ops *ops);
void nbrs_xenbus_unregister(void);

const char *nbrs_xenbus_nodename(struct xenbus_device *dev);
const char *nbrs_xenbus_otherend(struct xenbus_device *dev);
int nbrs_xenbus_otherend_id(struct xenbus_device *dev);
void *nbrs_xenbus_get_drvdata(struct xenbus_device *dev);
void nbrs_xenbus_set_drvdata(struct xenbus_device *dev, void *data);
struct device *nbrs_xenbus_to_device(struct xenbus_device *dev);
void nbrs_xenbus_get(struct xenbus_device *dev);
void nbrs_xenbus_put(struct xenbus_device *dev);
int nbrs_xenbus_dev_is_online(struct xenbus_device *dev);
void nbrs_xenbus_device_unregister(struct xenbus_device *dev);
int nbrs_xenbus_switch_state(struct xenbus_device *dev, int state);
void nbrs_xenbus_dev_fatal(struct xenbus_device *dev, int err, const char *msg);
void nbrs_xenbus_uevent_online(struct xenbus_device *dev, bool online);
/* Reads "dir/node" as an unsigned decimal; 0 or -errno. */
int nbrs_xenbus_read_ulong(const char *dir, const char *node, unsigned long *val);
/* Copies "dir/node" into buf (NUL terminated); length or -errno. */
int nbrs_xenbus_read_str(const char *dir, const char *node, char *buf, unsigned int buflen);
int nbrs_xenbus_write_ulong(const char *dir, const char *node, unsigned long val);
int nbrs_xenbus_rm(const char *dir, const char *node);

struct nbrs_watch;
/* Watches "<dev nodename>/<node>"; cb(ctx) runs in the xenwatch thread. */
struct nbrs_watch *nbrs_watch_register(struct xenbus_device *dev, const char *node,
				       void (*cb)(void *ctx), void *ctx);
/* Watches "<dev otherend>/<node>" (the frontend's directory). */
struct nbrs_watch *nbrs_watch_register_frontend(struct xenbus_device *dev, const char *node,
						void (*cb)(void *ctx), void *ctx);
void nbrs_watch_unregister(struct nbrs_watch *w);

/* ---- shared rings */
int nbrs_map_ring(struct xenbus_device *dev, u32 gref, void **vaddr);
void nbrs_unmap_ring(struct xenbus_device *dev, void *vaddr);

/* ---- grant copy: callers own an array of struct gnttab_copy */
struct gnttab_copy;
void nbrs_grant_copy(struct gnttab_copy *ops, unsigned int count);

/* Copies len (<= 4096) bytes from the start of the frontend's page gref
 * into dst; 0 or -errno. Process context. */
int nbrs_grant_copy_from_guest(u16 domid, u32 gref, void *dst, unsigned int len);

/* ---- the control ring's event channel (lateeoi IRQ + work item) */
struct nbrs_ctrl_irq;
/* What one run of the callback found. */
enum nbrs_ctrl_run {
	/* No request: the event's EOI is spurious. */
	NBRS_CTRL_IDLE = 0,
	/* Requests answered, the ring is idle: end the EOI. */
	NBRS_CTRL_DONE = 1,
	/* The run hit its bound with requests left: run again, EOI still owed. */
	NBRS_CTRL_MORE = 2,
};
/* cb runs in a work item (process context); also runs once right after
 * binding. */
int nbrs_ctrl_irq_bind(struct xenbus_device *xdev, unsigned int port,
		       enum nbrs_ctrl_run (*cb)(void *ctx, struct nbrs_ctrl_irq *c),
		       void *ctx, struct nbrs_ctrl_irq **out);
void nbrs_ctrl_irq_unbind(struct nbrs_ctrl_irq *c);
void nbrs_ctrl_irq_notify(struct nbrs_ctrl_irq *c);

/* ---- the VIF net_device (per-queue calls take the queue index q) */
struct nbrs_vif_ops {
	int (*open)(void *data, struct net_device *dev);
	void (*stop)(void *data, struct net_device *dev);
	/* q: skb_get_queue_mapping(), not yet checked against the count */
	void (*start_xmit)(void *data, struct net_device *dev, unsigned int q, struct sk_buff *skb);
	u16 (*select_queue)(void *data, struct net_device *dev, struct sk_buff *skb);
	/* fills the standard counters of *stats */
	void (*get_stats64)(void *data, struct net_device *dev, struct rtnl_link_stats64 *stats);
	/* ethtool -S: returns how many entries there are; writes up to max of
	 * them into names (ETH_GSTRING_LEN each) and values, either may be NULL */
	unsigned int (*ethtool_stats)(void *data, struct net_device *dev, u8 *names, u64 *values,
				      unsigned int max);
	/* ndo_fix_features: the features the frontend allows */
	u64 (*fix_features)(void *data, struct net_device *dev, u64 features);
	/* ndo_change_mtu: 0 when the frontend can take mtu, or -errno */
	int (*check_mtu)(void *data, struct net_device *dev, int mtu);
	/* ethtool -l: the combined channel count to show */
	void (*channels)(void *data, struct net_device *dev, unsigned int *combined);
	/* ethtool -L combined N; 0 or -errno */
	int (*set_queue_limit)(void *data, struct net_device *dev, unsigned int n);
	int (*napi_poll)(void *data, struct net_device *dev, unsigned int q, int budget);
	void (*rx_work)(void *data, struct net_device *dev, unsigned int q);
	/* Return true when work was found (EOI deferred), false: spurious. */
	bool (*tx_event)(void *data, struct net_device *dev, unsigned int q);
	bool (*rx_event)(void *data, struct net_device *dev, unsigned int q);
};

/* nr_queues: TX/RX queues to allocate (max_queues at probe), >= 1 */
struct net_device *nbrs_vif_alloc(const char *name, struct device *parent,
				  unsigned int nr_queues, unsigned int max_mtu,
				  const struct nbrs_vif_ops *ops, void *data);
void *nbrs_vif_data(struct net_device *dev);
int nbrs_vif_register(struct net_device *dev);
void nbrs_vif_unregister(struct net_device *dev);
void nbrs_vif_free(struct net_device *dev);
const char *nbrs_vif_name(struct net_device *dev);
/* rtnl must be held by the caller for these */
void nbrs_vif_update_features_locked(struct net_device *dev);
void nbrs_vif_clamp_mtu_locked(struct net_device *dev, unsigned int max);
int nbrs_vif_set_num_queues_locked(struct net_device *dev, unsigned int n);
bool nbrs_vif_running(struct net_device *dev);
void nbrs_vif_carrier_on(struct net_device *dev);
void nbrs_vif_carrier_off(struct net_device *dev);
bool nbrs_vif_carrier_ok(struct net_device *dev);
void nbrs_vif_wake_all_queues(struct net_device *dev);
void nbrs_vif_wake_queue(struct net_device *dev, unsigned int q);
void nbrs_vif_stop_queue(struct net_device *dev, unsigned int q);
bool nbrs_vif_queue_stopped(struct net_device *dev, unsigned int q);
/* netdev_pick_tx() % real_num_tx_queues */
u16 nbrs_vif_pick_tx(struct net_device *dev, struct sk_buff *skb);
void nbrs_vif_napi_add(struct net_device *dev, unsigned int q);
void nbrs_vif_napi_del(struct net_device *dev, unsigned int q);
void nbrs_vif_napi_enable(struct net_device *dev, unsigned int q);
void nbrs_vif_napi_disable(struct net_device *dev, unsigned int q);
void nbrs_vif_napi_schedule(struct net_device *dev, unsigned int q);
bool nbrs_vif_napi_complete(struct net_device *dev, unsigned int q, int work_done);
void nbrs_vif_napi_receive(struct net_device *dev, unsigned int q, struct sk_buff *skb);
/* napi_alloc_skb() on queue q's NAPI instance; NULL on failure */
struct sk_buff *nbrs_vif_napi_alloc_skb(struct net_device *dev, unsigned int q, unsigned int len);
int nbrs_vif_bind_irqs(struct net_device *dev, unsigned int q,
		       struct xenbus_device *xdev, unsigned int tx_port,
		       unsigned int rx_port);
void nbrs_vif_unbind_irqs(struct net_device *dev, unsigned int q);
void nbrs_vif_unbind_all_irqs(struct net_device *dev);
void nbrs_vif_enable_irqs(struct net_device *dev, unsigned int q);
void nbrs_vif_disable_irqs(struct net_device *dev, unsigned int q);
bool nbrs_vif_eoi_owed(struct net_device *dev, unsigned int q, bool rx);
void nbrs_vif_lateeoi(struct net_device *dev, unsigned int q, bool rx, bool spurious);
void nbrs_vif_notify(struct net_device *dev, unsigned int q, bool rx);
void nbrs_vif_rxq_tail(struct net_device *dev, unsigned int q, struct sk_buff *skb);
void nbrs_vif_rxq_head(struct net_device *dev, unsigned int q, struct sk_buff *skb);
struct sk_buff *nbrs_vif_rxq_dequeue(struct net_device *dev, unsigned int q);
bool nbrs_vif_rxq_head_expires(struct net_device *dev, unsigned int q, unsigned long *expires);
unsigned int nbrs_vif_rxq_len(struct net_device *dev, unsigned int q);
void nbrs_vif_rxq_purge(struct net_device *dev, unsigned int q);
void nbrs_vif_rx_work_kick(struct net_device *dev, unsigned int q, unsigned long delay);
void nbrs_vif_rx_work_cancel(struct net_device *dev, unsigned int q);

/* ---- sk_buff (the rest is Rust: netback/bindings/skb.rs) */
struct page;
struct skb_frag;
void nbrs_skb_add_rx_frag(struct sk_buff *skb, int i, struct page *page, unsigned int size,
			  unsigned int truesize);
u64 nbrs_virt_to_gfn(const void *addr);
bool nbrs_skb_frag_gfn(const struct skb_frag *frag, unsigned int off, u64 *gfn);

#endif

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
unsigned int nbrs_param_hash_cache_size(void);
bool nbrs_param_provides_xdp_headroom(void);
void nbrs_params_init(void);

/* ---- misc */
int nbrs_xen_domain(void);
int nbrs_xen_initial_domain(void);
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
void nbrs_gntcopy_fill(struct gnttab_copy *op, bool to_guest, u16 domid, u32 gref,
		       u16 remote_offset, u64 local_gfn, u16 local_offset, u16 len);
void nbrs_grant_copy(struct gnttab_copy *ops, unsigned int count);
s16 nbrs_gntcopy_status(const struct gnttab_copy *op);

/* ---- the VIF net_device */
struct nbrs_stats64 {
	u64 rx_packets, rx_bytes, tx_packets, tx_bytes, rx_dropped, tx_dropped, rx_errors;
	u64 rx_gso_checksum_fixup;
	/* netback-rs additions to `ethtool -S` (see nbrs_stat_names) */
	u64 tx_drop_not_connected, tx_drop_queue_full, tx_drop_expired, tx_drop_mcast_filtered;
	u64 rx_credit_waits, fatal_errors;
};

struct nbrs_vif_ops {
	int (*open)(void *data, struct net_device *dev);
	void (*stop)(void *data, struct net_device *dev);
	void (*start_xmit)(void *data, struct net_device *dev, struct sk_buff *skb);
	void (*get_stats64)(void *data, struct net_device *dev, struct nbrs_stats64 *stats);
	int (*napi_poll)(void *data, struct net_device *dev, int budget);
	void (*rx_work)(void *data, struct net_device *dev);
	/* Return true when work was found (EOI deferred), false: spurious. */
	bool (*tx_event)(void *data, struct net_device *dev);
	bool (*rx_event)(void *data, struct net_device *dev);
};


struct net_device *nbrs_vif_alloc(const char *name, struct device *parent,
				  const struct nbrs_vif_ops *ops, void *data);
void *nbrs_vif_data(struct net_device *dev);
int nbrs_vif_register(struct net_device *dev);
void nbrs_vif_unregister(struct net_device *dev);
void nbrs_vif_free(struct net_device *dev);
const char *nbrs_vif_name(struct net_device *dev);
void nbrs_vif_set_frontend_caps(struct net_device *dev, bool can_sg, bool gso_v4,
				bool gso_v6, bool ip_csum, bool ipv6_csum);
/* rtnl must be held by the caller for these three */
void nbrs_vif_update_features_locked(struct net_device *dev);
void nbrs_vif_clamp_mtu_locked(struct net_device *dev);
bool nbrs_vif_running(struct net_device *dev);
void nbrs_vif_carrier_on(struct net_device *dev);
void nbrs_vif_carrier_off(struct net_device *dev);
bool nbrs_vif_carrier_ok(struct net_device *dev);
void nbrs_vif_wake_queue(struct net_device *dev);
void nbrs_vif_stop_queue(struct net_device *dev);
bool nbrs_vif_queue_stopped(struct net_device *dev);
void nbrs_vif_napi_add(struct net_device *dev);
void nbrs_vif_napi_del(struct net_device *dev);
void nbrs_vif_napi_enable(struct net_device *dev);
void nbrs_vif_napi_disable(struct net_device *dev);
void nbrs_vif_napi_schedule(struct net_device *dev);
bool nbrs_vif_napi_complete(struct net_device *dev, int work_done);
void nbrs_vif_napi_receive(struct net_device *dev, struct sk_buff *skb);
int nbrs_vif_bind_irqs(struct net_device *dev, struct xenbus_device *xdev,
		       unsigned int tx_port, unsigned int rx_port);
void nbrs_vif_unbind_irqs(struct net_device *dev);
void nbrs_vif_enable_irqs(struct net_device *dev);
void nbrs_vif_disable_irqs(struct net_device *dev);
bool nbrs_vif_irqs_split(struct net_device *dev);
void nbrs_vif_lateeoi(struct net_device *dev, bool rx);
void nbrs_vif_notify(struct net_device *dev, bool rx);
void nbrs_vif_rxq_tail(struct net_device *dev, struct sk_buff *skb);
void nbrs_vif_rxq_head(struct net_device *dev, struct sk_buff *skb);
struct sk_buff *nbrs_vif_rxq_dequeue(struct net_device *dev);
bool nbrs_vif_rxq_head_expires(struct net_device *dev, unsigned long *expires);
unsigned int nbrs_vif_rxq_len(struct net_device *dev);
void nbrs_vif_rxq_purge(struct net_device *dev);
void nbrs_vif_rx_work_kick(struct net_device *dev, unsigned long delay);
void nbrs_vif_rx_work_cancel(struct net_device *dev);

/* ---- sk_buff */
/* linear + page frags, total bytes of room; NULL on allocation failure */
struct sk_buff *nbrs_skb_alloc_tx(struct net_device *dev, unsigned int linear, unsigned int total);
unsigned int nbrs_skb_len(struct sk_buff *skb);
bool nbrs_skb_dest_mac(struct sk_buff *skb, u8 *addr);
/* Frame holding byte pos: contiguous length within that Xen page, 0 past the end. */
unsigned int nbrs_skb_locate(struct sk_buff *skb, unsigned int pos, u64 *gfn, u16 *offset);
/* eth_type_trans, checksum/GSO setup of a packet from the guest; 0 or -errno */
int nbrs_skb_finish_from_guest(struct net_device *dev, struct sk_buff *skb, bool csum_blank,
			       bool data_validated, u8 gso_type, u16 gso_size, bool *csum_fixup);
struct nbrs_skb_info {
	u32 len;
	u16 gso_size;
	u8 gso_type;        /* XEN_NETIF_GSO_TYPE_* */
	u8 gso_unsupported; /* GSO of a kind the ring cannot carry */
	u8 csum_partial;
	u8 data_validated;
};
/* Flattens frag lists; fills info. 0 or -errno. */
int nbrs_skb_prepare_to_guest(struct sk_buff *skb, struct nbrs_skb_info *info);
void nbrs_skb_stamp_expires(struct sk_buff *skb, unsigned long expires);
void nbrs_skb_free(struct sk_buff *skb);
void nbrs_skb_consume(struct sk_buff *skb);

#endif

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

/* ---- grant copy (bindings/xen/grant.rs) */
struct page;
unsigned long nbrs_xen_page_to_gfn(struct page *page);

/* ---- the VIF net_device: wrappers of static inlines and macros */
struct napi_struct;
struct sk_buff_head;
struct delayed_work;
struct work_struct;
struct net_device_ops;
struct ethtool_ops;
void *nbrs_netdev_priv(struct net_device *dev);
const char *nbrs_netdev_name(struct net_device *dev);
unsigned int nbrs_netdev_mtu(struct net_device *dev);
void nbrs_netdev_set_mtu(struct net_device *dev, unsigned int mtu);
unsigned int nbrs_netdev_real_num_tx_queues(struct net_device *dev);
unsigned int nbrs_netdev_num_tx_queues(struct net_device *dev);
/* dev_name() of the parent (the xenbus device), NULL without one */
const char *nbrs_netdev_parent_name(struct net_device *dev);
void nbrs_netdev_init(struct net_device *dev, struct device *parent,
		      const struct net_device_ops *ndo, const struct ethtool_ops *eto,
		      u64 hw_features, u64 features, unsigned int min_mtu,
		      unsigned int max_mtu);
void nbrs_napi_add(struct net_device *dev, struct napi_struct *napi,
		   int (*poll)(struct napi_struct *, int));
void nbrs_napi_del(struct napi_struct *napi);
void nbrs_napi_schedule(struct napi_struct *napi);
void nbrs_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb);
bool nbrs_netif_running(struct net_device *dev);
bool nbrs_netif_carrier_ok(struct net_device *dev);
void nbrs_netif_tx_start_all_queues(struct net_device *dev);
void nbrs_netif_tx_wake_all_queues(struct net_device *dev);
void nbrs_netif_tx_stop_queue(struct net_device *dev, unsigned int q);
bool nbrs_netif_tx_queue_stopped(struct net_device *dev, unsigned int q);
void nbrs_netif_tx_wake_queue(struct net_device *dev, unsigned int q);
void nbrs_skb_queue_head_init(struct sk_buff_head *list);
void nbrs_init_delayed_work(struct delayed_work *work, void (*fn)(struct work_struct *));
void nbrs_init_work(struct work_struct *work, void (*fn)(struct work_struct *));
void nbrs_delayed_work_kick(struct delayed_work *work, unsigned long delay);
bool nbrs_rxq_head_expires(struct sk_buff_head *list, unsigned long *expires);
/* The kernel release (a macro of generated/utsrelease.h), for ethtool -i. */
extern const char nbrs_uts_release[];

/* ---- sk_buff */
/* linear + page frags, total bytes of room; NULL on allocation failure */
struct sk_buff *nbrs_skb_alloc_tx(struct napi_struct *napi, unsigned int linear, unsigned int total);
unsigned int nbrs_skb_len(struct sk_buff *skb);
bool nbrs_skb_dest_mac(struct sk_buff *skb, u8 *addr);
/* Frame holding byte pos: contiguous length within that Xen page, 0 past the end. */
unsigned int nbrs_skb_locate(struct sk_buff *skb, unsigned int pos, u64 *gfn, u16 *offset);
/* eth_type_trans, checksum/GSO setup of a packet from the guest; 0 or -errno */
unsigned int nbrs_skb_headlen(struct sk_buff *skb);
void nbrs_skb_set_ip_summed(struct sk_buff *skb, u8 v);
unsigned int nbrs_skb_gso(struct sk_buff *skb, u16 *size);
void nbrs_skb_set_gso(struct sk_buff *skb, unsigned int type, u16 size);
void nbrs_skb_set_gso_segs(struct sk_buff *skb, u16 segs);
void nbrs_skb_set_eth_protocol(struct net_device *dev, struct sk_buff *skb);
void nbrs_skb_probe_transport(struct sk_buff *skb);
int nbrs_skb_tcp_all_headers(struct sk_buff *skb);
struct nbrs_skb_info {
	u32 len;
	u8 csum_partial;
	u8 data_validated;
	u8 guest_hash;      /* the hash below was stamped by nbrs_skb_stamp_rx */
	u8 l4_hash;
	u8 hash_ipv4;       /* 1: IPv4, 0: IPv6 */
	u32 hash;
};
/* Flattens frag lists; fills info. 0 or -errno. */
int nbrs_skb_prepare_to_guest(struct sk_buff *skb, struct nbrs_skb_info *info);
/* Stamps a packet queued for the guest (skb->cb): drain deadline and the
 * hash for its hash extra, if one was computed. */
void nbrs_skb_stamp_rx(struct sk_buff *skb, unsigned long expires, bool hash_valid,
		       u32 hash, bool l4, bool ipv4);
/* The header fields Toeplitz hashing covers (xenvif_set_skb_hash). */
struct nbrs_flow {
	u8 ipv4;      /* 1: IPv4 (first 4 bytes of src/dst), 0: IPv6 */
	u8 has_ports; /* TCP and not a fragment */
	u16 sport, dport; /* host order */
	u8 src[16], dst[16];
};
/* 0, or -errno when the packet is not IPv4/IPv6 or does not dissect */
int nbrs_skb_flow(struct sk_buff *skb, struct nbrs_flow *out);
void nbrs_skb_set_sw_hash(struct sk_buff *skb, u32 hash, bool l4);
/* skb_set_hash with PKT_HASH_TYPE_L4 or _L3 (a frontend's TX hash extra) */
void nbrs_skb_set_hash(struct sk_buff *skb, u32 hash, bool l4);
void nbrs_skb_clear_hash(struct sk_buff *skb);
u32 nbrs_skb_hash_raw(struct sk_buff *skb);
void nbrs_skb_free(struct sk_buff *skb);
void nbrs_skb_consume(struct sk_buff *skb);

/* A VIF net_device's embedded struct device, and back (to_net_dev). */
struct device *nbrs_netdev_device(struct net_device *dev);
struct net_device *nbrs_device_netdev(struct device *d);

#endif

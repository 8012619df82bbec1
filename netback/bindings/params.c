// SPDX-License-Identifier: GPL-2.0
/*
 * xen-netback-rs' module parameters, in C because Rust's module! has no
 * bool parameters and no 0644 mode. Only the backend links this file.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/cpumask.h>
#include <xen/interface/io/netif.h>
#include "helpers.h"

/* ------------------------------------------------------------------ */
/* Module parameters: same names, types, defaults and permissions as
 * xen-netback (Rust's module! has no bool parameters and no 0644 mode).
 * Each variable is nbrs_param_<name>, which params.rs reads as READ_ONCE()
 * does (sysfs writes the 0644 ones at any time). */

bool nbrs_param_separate_tx_rx_irq = true;
module_param_named(separate_tx_rx_irq, nbrs_param_separate_tx_rx_irq, bool, 0644);

unsigned int nbrs_param_rx_drain_timeout_msecs = 10000;
module_param_named(rx_drain_timeout_msecs, nbrs_param_rx_drain_timeout_msecs, uint, 0444);

unsigned int nbrs_param_rx_stall_timeout_msecs = 60000;
module_param_named(rx_stall_timeout_msecs, nbrs_param_rx_stall_timeout_msecs, uint, 0444);

#define NBRS_MAX_QUEUES_DEFAULT 8
/* tx_zerocopy_threshold default: see docs/tuning.md for the measurement. */
#define NBRS_TX_ZEROCOPY_THRESHOLD_DEFAULT 2048
unsigned int nbrs_param_max_queues;
module_param_named(max_queues, nbrs_param_max_queues, uint, 0644);
MODULE_PARM_DESC(max_queues,
		 "Maximum number of queues per virtual interface");

#define NBRS_FATAL_SKB_SLOTS_DEFAULT 20
unsigned int nbrs_param_fatal_skb_slots = NBRS_FATAL_SKB_SLOTS_DEFAULT;
module_param_named(fatal_skb_slots, nbrs_param_fatal_skb_slots, uint, 0444);

/* Accepted for xen-netback compatibility and never read: no hash cache. */
static unsigned int hash_cache_size = 64;
module_param(hash_cache_size, uint, 0644);
MODULE_PARM_DESC(hash_cache_size, "Number of flows in the hash cache");

bool nbrs_param_provides_xdp_headroom = true;
module_param_named(provides_xdp_headroom, nbrs_param_provides_xdp_headroom, bool, 0644);

/* tx_zerocopy=off|on|auto|staged: guest TX data path (off: grant copy; on:
 * grant-map the data beyond the first 128 bytes; auto: map only packets with
 * at least tx_zerocopy_threshold bytes beyond them; staged: map nothing, lend
 * staged grants' pages while the stack forwards them). Why C: a named-value
 * parameter (module_param_cb); the value is the index into the names, which
 * the Rust core's TxZeroCopyMode::ALL follows. Default staged: stock
 * frontends copy as with off, staging frontends lend where it pays (see
 * docs/tuning.md for the measurement). */
unsigned int nbrs_param_tx_zerocopy = 3;
static const char *const tx_zerocopy_names[] = { "off", "on", "auto", "staged" };

static int nbrs_tx_zerocopy_set(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(tx_zerocopy_names, val);

	if (i < 0)
		return i;
	WRITE_ONCE(nbrs_param_tx_zerocopy, i);
	return 0;
}

static int nbrs_tx_zerocopy_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", tx_zerocopy_names[READ_ONCE(nbrs_param_tx_zerocopy)]);
}

static const struct kernel_param_ops nbrs_tx_zerocopy_ops = {
	.set = nbrs_tx_zerocopy_set,
	.get = nbrs_tx_zerocopy_get,
};
module_param_cb(tx_zerocopy, &nbrs_tx_zerocopy_ops, NULL, 0644);
MODULE_PARM_DESC(tx_zerocopy, "Guest TX data path: off (grant copy), on (grant map, zero-copy), auto (map packets of at least tx_zerocopy_threshold bytes past the head) or staged (lend staged grants' pages only, copy the rest)");

unsigned int nbrs_param_tx_zerocopy_threshold = NBRS_TX_ZEROCOPY_THRESHOLD_DEFAULT;
module_param_named(tx_zerocopy_threshold, nbrs_param_tx_zerocopy_threshold, uint, 0644);
MODULE_PARM_DESC(tx_zerocopy_threshold, "With tx_zerocopy=auto: bytes past a packet's 128-byte head from which it is mapped, not copied");

/* Staging grants (Xen's ADD_GREF_MAPPING): entries a queue may keep mapped,
 * and all VIFs together (each costs a maptrack entry of this domain, shared
 * with blkback and zero-copy maps). Read when a control ring connects;
 * docs/persistent-grants.md. */
unsigned int nbrs_param_staging_grants_per_queue = 512;
module_param_named(staging_grants_per_queue, nbrs_param_staging_grants_per_queue, uint, 0644);
MODULE_PARM_DESC(staging_grants_per_queue, "Staging grants one queue may keep mapped (0: not offered)");

unsigned int nbrs_param_staging_grants_max = 16384;
module_param_named(staging_grants_max, nbrs_param_staging_grants_max, uint, 0644);
MODULE_PARM_DESC(staging_grants_max, "Staging grants all VIFs together may keep mapped");

/* napi_threaded=0|1|2: where the vifs' guest-TX NAPI polls run (0 softirq,
 * as the administrator's /sys/class/net/<vif>/threaded leaves them; 1 their
 * own threads; 2 in threads while a queue is flooded: the core's
 * netif::poll_mode rule, the same as netfront-rs' parameter of this name).
 * Why C: a bounded writable parameter (param_set_uint_minmax), so a wrong
 * value is refused with EINVAL when it is written. Read when a frontend
 * connects. */
unsigned int nbrs_param_napi_threaded = 2;

static int nbrs_napi_threaded_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, 2);
}

static const struct kernel_param_ops nbrs_napi_threaded_ops = {
	.set = nbrs_napi_threaded_set,
	.get = param_get_uint,
};
module_param_cb(napi_threaded, &nbrs_napi_threaded_ops, &nbrs_param_napi_threaded, 0644);
MODULE_PARM_DESC(napi_threaded, "Where the guest-TX NAPI polls run: 0 softirq, 1 their own kernel threads, 2 (default) in threads while a queue is flooded (4 windows of 1024 packets in a row with a quarter or more of their packets in NAPI runs of a budget's worth or more), in softirq again a second after the last flood");

void nbrs_params_init(void)
{
	if (nbrs_param_max_queues == 0)
		nbrs_param_max_queues = min_t(unsigned int, NBRS_MAX_QUEUES_DEFAULT,
					      num_online_cpus());
	if (nbrs_param_fatal_skb_slots < XEN_NETIF_NR_SLOTS_MIN) {
		pr_info("fatal_skb_slots too small (%u), bump it to XEN_NETBK_LEGACY_SLOTS_MAX (%d)\n",
			nbrs_param_fatal_skb_slots, XEN_NETIF_NR_SLOTS_MIN);
		nbrs_param_fatal_skb_slots = XEN_NETIF_NR_SLOTS_MIN;
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ethtool -i / -g / -G of the VIF. Fixed facts only, no driver state:
 * - driver "vif" and bus-info "vif-<domid>-<handle>" (the xenbus backend
 *   device) are what xen-netback shows (the ethtool core derives them from
 *   the parent device there); scripts match on them. The version names
 *   this driver next to the kernel release xen-netback would show.
 * - The rings are one page each, 256 requests (XEN_NETIF_TX/RX_RING_SIZE):
 *   the frontend allocates them and the protocol fixes their size, so -G
 *   is refused.
 */
#include <linux/netdevice.h>
#include <linux/ethtool.h>
#include <linux/netlink.h>
#include <generated/utsrelease.h>
#include <xen/page.h>
#include <xen/interface/io/netif.h>
#include "ethtool.h"

#define NBRS_TX_RING_SIZE __CONST_RING_SIZE(xen_netif_tx, XEN_PAGE_SIZE)
#define NBRS_RX_RING_SIZE __CONST_RING_SIZE(xen_netif_rx, XEN_PAGE_SIZE)

void nbrs_ethtool_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info)
{
	strscpy(info->driver, "vif", sizeof(info->driver));
	strscpy(info->version, UTS_RELEASE " (xen-netback-rs)", sizeof(info->version));
	if (dev->dev.parent)
		strscpy(info->bus_info, dev_name(dev->dev.parent), sizeof(info->bus_info));
}

void nbrs_ethtool_get_ringparam(struct net_device *dev, struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack)
{
	ring->rx_max_pending = NBRS_RX_RING_SIZE;
	ring->tx_max_pending = NBRS_TX_RING_SIZE;
	ring->rx_pending = NBRS_RX_RING_SIZE;
	ring->tx_pending = NBRS_TX_RING_SIZE;
}

int nbrs_ethtool_set_ringparam(struct net_device *dev, struct ethtool_ringparam *ring,
			       struct kernel_ethtool_ringparam *kring,
			       struct netlink_ext_ack *extack)
{
	if (ring->rx_pending == NBRS_RX_RING_SIZE &&
	    ring->tx_pending == NBRS_TX_RING_SIZE)
		return 0;
	NL_SET_ERR_MSG(extack, "ring sizes are fixed at 256 by the Xen netif protocol (one shared page per ring)");
	return -EOPNOTSUPP;
}

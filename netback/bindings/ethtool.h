/* SPDX-License-Identifier: GPL-2.0 */
/* ethtool -i / -g / -G of the VIF (ethtool.c); the ops table is in helpers.c. */
#ifndef NBRS_ETHTOOL_H
#define NBRS_ETHTOOL_H

struct net_device;
struct ethtool_drvinfo;
struct ethtool_ringparam;
struct kernel_ethtool_ringparam;
struct netlink_ext_ack;

void nbrs_ethtool_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info);
void nbrs_ethtool_get_ringparam(struct net_device *dev, struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack);
int nbrs_ethtool_set_ringparam(struct net_device *dev, struct ethtool_ringparam *ring,
			       struct kernel_ethtool_ringparam *kring,
			       struct netlink_ext_ack *extack);

#endif

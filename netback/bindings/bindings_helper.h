/* SPDX-License-Identifier: GPL-2.0 */
/* Input of the module's one bindgen run (see Kbuild). */
#include <linux/module.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/grant_table.h>
#include <xen/events.h>
#include <xen/interface/io/netif.h>
#include <linux/if_link.h>
#include <linux/if_arp.h>
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/gfp.h>
#include <linux/in.h>
#include "helpers.h"

/* Constants kernel::bindings lacks: macros bindgen cannot expand (gfp),
 * anonymous enums' members (IPPROTO_TCP, IFLA_VF_LINK_STATE_AUTO) and those
 * of headers it does not read (if_arp.h, netdevice.h), as the Rust side
 * uses them. */
const gfp_t NBRS_GFP_COMP = __GFP_COMP;
const gfp_t NBRS_GFP_NORETRY = __GFP_NORETRY;
const u8 NBRS_IPPROTO_TCP = IPPROTO_TCP;
const int NBRS_IFLA_VF_LINK_STATE_AUTO = IFLA_VF_LINK_STATE_AUTO;
const unsigned short NBRS_ARPHRD_ETHER = ARPHRD_ETHER;
const unsigned long NBRS_NETDEV_UNREGISTER = NETDEV_UNREGISTER;

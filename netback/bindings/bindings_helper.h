/* SPDX-License-Identifier: GPL-2.0 */
/* Input of the module's one bindgen run (see Kbuild). */
#include <linux/module.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/grant_table.h>
#include <xen/events.h>
#include <xen/interface/io/netif.h>
#include <linux/if_link.h>
#include "helpers.h"
/* net_device_ops and the net functions the device binding calls. */
#include <linux/netdevice.h>
#include <linux/etherdevice.h>

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A kernel timer bound to one queue of a VIF net_device (timer.c): its
 * callback runs in softirq context and gets the device and queue, so the
 * driver can reschedule that queue's NAPI (the guest-TX credit timer,
 * xen-netback's per-queue credit_timeout).
 */
#ifndef NBRS_TIMER_H
#define NBRS_TIMER_H

#include <linux/types.h>

struct net_device;
struct nbrs_timer;

/* A timer of queue q of dev; NULL on allocation failure. cb(ctx, dev, q)
 * runs in softirq context. */
struct nbrs_timer *nbrs_timer_new(struct net_device *dev, unsigned int q,
				  void (*cb)(void *ctx, struct net_device *dev, unsigned int q),
				  void *ctx);
/* (Re)arms the timer for the jiffy `expires`. */
void nbrs_timer_arm(struct nbrs_timer *t, unsigned long expires);
bool nbrs_timer_pending(struct nbrs_timer *t);
/* Shuts the timer down (waits for a running callback) and frees it. */
void nbrs_timer_free(struct nbrs_timer *t);

#endif

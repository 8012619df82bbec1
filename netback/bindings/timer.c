// SPDX-License-Identifier: GPL-2.0
/* C side of bindings/timer.rs: a timer_list with a callback into Rust. */
#include <linux/slab.h>
#include <linux/timer.h>
#include "timer.h"

struct nbrs_timer {
	struct timer_list timer;
	struct net_device *dev;
	unsigned int q;
	void (*cb)(void *ctx, struct net_device *dev, unsigned int q);
	void *ctx;
};

static void nbrs_timer_fn(struct timer_list *timer)
{
	struct nbrs_timer *t = timer_container_of(t, timer, timer);

	t->cb(t->ctx, t->dev, t->q);
}

struct nbrs_timer *nbrs_timer_new(struct net_device *dev, unsigned int q,
				  void (*cb)(void *ctx, struct net_device *dev, unsigned int q),
				  void *ctx)
{
	struct nbrs_timer *t = kzalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return NULL;
	t->dev = dev;
	t->q = q;
	t->cb = cb;
	t->ctx = ctx;
	timer_setup(&t->timer, nbrs_timer_fn, 0);
	return t;
}

void nbrs_timer_arm(struct nbrs_timer *t, unsigned long expires)
{
	mod_timer(&t->timer, expires);
}

bool nbrs_timer_pending(struct nbrs_timer *t)
{
	return timer_pending(&t->timer);
}

void nbrs_timer_free(struct nbrs_timer *t)
{
	timer_shutdown_sync(&t->timer);
	kfree(t);
}

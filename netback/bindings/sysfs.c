// SPDX-License-Identifier: GPL-2.0
/* C side of bindings/sysfs.rs: a per-VIF attribute group whose show/store
 * forward to Rust with the attribute's index. */
#include <linux/device.h>
#include <linux/err.h>
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include "sysfs.h"

struct nbrs_sysfs_attr {
	struct device_attribute attr;
	unsigned int index;
	struct nbrs_sysfs *owner;
};

struct nbrs_sysfs {
	struct kobject *kobj;
	struct attribute_group group;
	const struct nbrs_sysfs_ops *ops;
	void *ctx;
	struct attribute **ptrs;	/* n + 1, NULL terminated */
	struct nbrs_sysfs_attr *attrs;
};

static ssize_t nbrs_sysfs_show(struct device *dev, struct device_attribute *attr,
			       char *buf)
{
	struct nbrs_sysfs_attr *a = container_of(attr, struct nbrs_sysfs_attr, attr);

	return a->owner->ops->show(a->owner->ctx, a->index, buf, PAGE_SIZE);
}

static ssize_t nbrs_sysfs_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	struct nbrs_sysfs_attr *a = container_of(attr, struct nbrs_sysfs_attr, attr);
	int err = a->owner->ops->store(a->owner->ctx, a->index, buf, count);

	return err ? err : count;
}

static void nbrs_sysfs_free(struct nbrs_sysfs *s)
{
	kfree(s->ptrs);
	kfree(s->attrs);
	kfree(s);
}

struct nbrs_sysfs *nbrs_sysfs_create(struct net_device *dev, const char *group,
				     const char *const *names, const bool *writable,
				     unsigned int n, const struct nbrs_sysfs_ops *ops,
				     void *ctx)
{
	struct nbrs_sysfs *s = kzalloc(sizeof(*s), GFP_KERNEL);
	unsigned int i;
	int err;

	if (!s)
		return ERR_PTR(-ENOMEM);
	s->attrs = kcalloc(n, sizeof(*s->attrs), GFP_KERNEL);
	s->ptrs = kcalloc(n + 1, sizeof(*s->ptrs), GFP_KERNEL);
	if (!s->attrs || !s->ptrs) {
		nbrs_sysfs_free(s);
		return ERR_PTR(-ENOMEM);
	}
	for (i = 0; i < n; i++) {
		struct nbrs_sysfs_attr *a = &s->attrs[i];

		sysfs_attr_init(&a->attr.attr);
		a->attr.attr.name = names[i];
		a->attr.attr.mode = writable[i] ? 0644 : 0444;
		a->attr.show = nbrs_sysfs_show;
		a->attr.store = writable[i] ? nbrs_sysfs_store : NULL;
		a->index = i;
		a->owner = s;
		s->ptrs[i] = &a->attr.attr;
	}
	s->group.name = group;
	s->group.attrs = s->ptrs;
	s->ops = ops;
	s->ctx = ctx;
	s->kobj = &dev->dev.kobj;
	err = sysfs_create_group(s->kobj, &s->group);
	if (err) {
		nbrs_sysfs_free(s);
		return ERR_PTR(err);
	}
	return s;
}

void nbrs_sysfs_remove(struct nbrs_sysfs *s)
{
	/* Waits for running show/store calls (kernfs active references). */
	sysfs_remove_group(s->kobj, &s->group);
	nbrs_sysfs_free(s);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A named sysfs attribute group on a VIF net_device (sysfs.c), built at
 * run time from a list of attribute names; show/store forward to Rust.
 */
#ifndef NBRS_SYSFS_H
#define NBRS_SYSFS_H

#include <linux/types.h>

struct net_device;
struct nbrs_sysfs;

struct nbrs_sysfs_ops {
	/* Writes at most `size` bytes into buf; returns the length or -errno. */
	ssize_t (*show)(void *ctx, unsigned int index, char *buf, size_t size);
	/* Returns 0 or -errno. */
	int (*store)(void *ctx, unsigned int index, const char *buf, size_t len);
};

/* Creates /sys/class/net/<dev>/<group>/ with n attributes named names[i]
 * (static strings), mode 0644 where writable[i], else 0444. ERR_PTR on
 * failure. After nbrs_sysfs_remove() returns no callback runs any more. */
struct nbrs_sysfs *nbrs_sysfs_create(struct net_device *dev, const char *group,
				     const char *const *names, const bool *writable,
				     unsigned int n, const struct nbrs_sysfs_ops *ops,
				     void *ctx);
void nbrs_sysfs_remove(struct nbrs_sysfs *s);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * debugfs for the VIFs (debugfs.c): the module's root directory
 * "xen-netback-rs", one directory per VIF, read-only files whose content a
 * Rust callback writes into a seq_file.
 */
#ifndef NBRS_DEBUGFS_H
#define NBRS_DEBUGFS_H

#include <linux/types.h>

struct seq_file;
struct nbrs_debugfs_dir;

void nbrs_debugfs_init(void);
void nbrs_debugfs_exit(void);
/* A directory under the root; NULL on allocation failure (with debugfs
 * unavailable the directory is empty and files are not created). */
struct nbrs_debugfs_dir *nbrs_debugfs_dir(const char *name);
/* A read-only file in dir; show(ctx, arg, m) fills it. 0 or -errno. */
int nbrs_debugfs_file(struct nbrs_debugfs_dir *dir, const char *name,
		      int (*show)(void *ctx, unsigned int arg, struct seq_file *m),
		      void *ctx, unsigned int arg);
/* Removes the directory and frees it; after this no show runs any more. */
void nbrs_debugfs_remove(struct nbrs_debugfs_dir *dir);
void nbrs_seq_write(struct seq_file *m, const char *buf, size_t len);

#endif

// SPDX-License-Identifier: GPL-2.0
/* C side of bindings/debugfs.rs. Files go through debugfs' file proxy, so
 * removing a VIF's directory waits for readers inside show() and later
 * reads of a still-open file fail with -EIO: the Rust context may be freed
 * right after nbrs_debugfs_remove(). */
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include "debugfs.h"

static struct dentry *nbrs_debugfs_root;

struct nbrs_debugfs_file {
	struct list_head list;
	int (*show)(void *ctx, unsigned int arg, struct seq_file *m);
	void *ctx;
	unsigned int arg;
};

struct nbrs_debugfs_dir {
	struct dentry *dentry;		/* NULL without debugfs */
	struct list_head files;
};

void nbrs_debugfs_init(void)
{
	struct dentry *d = debugfs_create_dir("xen-netback-rs", NULL);

	nbrs_debugfs_root = IS_ERR(d) ? NULL : d;
}

void nbrs_debugfs_exit(void)
{
	debugfs_remove_recursive(nbrs_debugfs_root);
	nbrs_debugfs_root = NULL;
}

struct nbrs_debugfs_dir *nbrs_debugfs_dir(const char *name)
{
	struct nbrs_debugfs_dir *dir = kzalloc(sizeof(*dir), GFP_KERNEL);
	struct dentry *d;

	if (!dir)
		return NULL;
	INIT_LIST_HEAD(&dir->files);
	if (nbrs_debugfs_root) {
		d = debugfs_create_dir(name, nbrs_debugfs_root);
		dir->dentry = IS_ERR(d) ? NULL : d;
	}
	return dir;
}

static int nbrs_debugfs_show(struct seq_file *m, void *v)
{
	struct nbrs_debugfs_file *f = m->private;

	return f->show(f->ctx, f->arg, m);
}

static int nbrs_debugfs_open(struct inode *inode, struct file *file)
{
	return single_open(file, nbrs_debugfs_show, inode->i_private);
}

static const struct file_operations nbrs_debugfs_fops = {
	.owner = THIS_MODULE,
	.open = nbrs_debugfs_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

int nbrs_debugfs_file(struct nbrs_debugfs_dir *dir, const char *name,
		      int (*show)(void *ctx, unsigned int arg, struct seq_file *m),
		      void *ctx, unsigned int arg)
{
	struct nbrs_debugfs_file *f;
	struct dentry *d;

	if (!dir->dentry)
		return -ENODEV;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->show = show;
	f->ctx = ctx;
	f->arg = arg;
	d = debugfs_create_file(name, 0444, dir->dentry, f, &nbrs_debugfs_fops);
	if (IS_ERR(d)) {
		kfree(f);
		return PTR_ERR(d);
	}
	list_add(&f->list, &dir->files);
	return 0;
}

void nbrs_debugfs_remove(struct nbrs_debugfs_dir *dir)
{
	struct nbrs_debugfs_file *f, *tmp;

	/* Waits for show() calls in progress (debugfs file proxy). */
	debugfs_remove_recursive(dir->dentry);
	list_for_each_entry_safe(f, tmp, &dir->files, list) {
		list_del(&f->list);
		kfree(f);
	}
	kfree(dir);
}

void nbrs_seq_write(struct seq_file *m, const char *buf, size_t len)
{
	seq_write(m, buf, len);
}

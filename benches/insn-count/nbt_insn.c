/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nbt_insn: a QEMU TCG plugin that counts the instructions the emulated machine executes in
 * kernel text, exactly, between marks a guest sets (benches/insn_report.py reads the counts).
 *
 * Why: under TCG a timer interrupt is taken only between translation blocks, so perf's
 * samples land on the block after the one that ran and a line profile misleads. A block's
 * instructions all run each time it runs (bar an exception inside it), so the count of
 * every block started is the count of every instruction in it.
 *
 * Why C: QEMU's plugin API is a C header (qemu-plugin.h) that QEMU loads with dlopen.
 *
 * Arguments: out=PREFIX (the dumps are PREFIX.SEQ), lo=ADDR (count blocks at virtual
 * addresses >= ADDR one by one; default the upper half: Xen's text and every domain's
 * kernel). Below it (every domain's user space) only the sum is kept, the dump's first
 * line "# user INSTRUCTIONS".
 *
 * A mark is `cpuid` with eax = 0x4e42_0000 | SEQ (| 0x8000: write the counts since the last
 * mark to PREFIX.SEQ first); every mark zeroes the counts. A block is keyed by its virtual
 * address, its host address (the same kernel text in two domains sits in different
 * memory), its size and first bytes (a module loaded where another was); a dump line is "VADDR HADDR INSNS BYTES COUNT HEAD", hex but COUNT,
 * HEAD the block's first bytes (up to 16), with which the report tells dom0's module from
 * another domain's code at the same addresses.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_BLOCKS (1u << 20)
#define MARK_MASK 0xffff0000u
#define MARK_BASE 0x4e420000u
#define MARK_DUMP 0x8000u
#define HEAD 16

struct block {
	uint64_t vaddr;
	uint64_t haddr;
	uint32_t insns;
	uint32_t bytes;
	uint8_t head[HEAD];
};

static struct block *blocks;
static uint32_t nblocks;
static GHashTable *index_of; /* struct block * -> index + 1 */
static struct qemu_plugin_scoreboard *counts; /* per vCPU: uint64_t[MAX_BLOCKS] */
static struct qemu_plugin_scoreboard *user; /* per vCPU: instructions below lo */
static struct qemu_plugin_register *rax;
static GMutex lock;
static uint64_t lo = 0xffff800000000000ull;
static char *out_prefix;

static guint block_hash(gconstpointer p)
{
	const struct block *b = p;
	uint32_t h;

	memcpy(&h, b->head, sizeof(h));
	return (guint)(b->vaddr ^ (b->vaddr >> 32) ^ b->haddr ^ (b->haddr >> 32) ^ b->bytes ^ h);
}

static gboolean block_equal(gconstpointer p, gconstpointer q)
{
	const struct block *a = p, *b = q;

	/* The head too: a module unloaded and another loaded into the same memory. */
	return a->vaddr == b->vaddr && a->haddr == b->haddr && a->insns == b->insns &&
	       a->bytes == b->bytes && !memcmp(a->head, b->head, HEAD);
}

static qemu_plugin_u64 counter(uint32_t i)
{
	return (qemu_plugin_u64){ .score = counts, .offset = i * sizeof(uint64_t) };
}

static qemu_plugin_u64 user_total(void)
{
	return (qemu_plugin_u64){ .score = user, .offset = 0 };
}

static void dump(unsigned int seq)
{
	char *path = g_strdup_printf("%s.%u", out_prefix, seq);
	FILE *f = fopen(path, "w");

	if (f) {
		fprintf(f, "# user %" PRIu64 "\n",
			qemu_plugin_u64_sum(user_total()));
		for (uint32_t i = 0; i < nblocks; i++) {
			uint64_t n = qemu_plugin_u64_sum(counter(i));

			if (!n)
				continue;
			fprintf(f, "%" PRIx64 " %" PRIx64 " %x %x %" PRIu64 " ", blocks[i].vaddr,
				blocks[i].haddr, blocks[i].insns, blocks[i].bytes, n);
			for (uint32_t k = 0; k < HEAD && k < blocks[i].bytes; k++)
				fprintf(f, "%02x", blocks[i].head[k]);
			fputc('\n', f);
		}
		fclose(f);
	}
	g_free(path);
}

static void zero(void)
{
	int vcpus = qemu_plugin_num_vcpus();

	for (int v = 0; v < vcpus; v++)
		qemu_plugin_u64_set(user_total(), v, 0);
	for (uint32_t i = 0; i < nblocks; i++)
		for (int v = 0; v < vcpus; v++)
			qemu_plugin_u64_set(counter(i), v, 0);
}

static void on_cpuid(unsigned int vcpu, void *udata)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	uint32_t eax;

	if (!rax || qemu_plugin_read_register(rax, buf) < 4)
		return;
	memcpy(&eax, buf->data, sizeof(eax));
	if ((eax & MARK_MASK) != MARK_BASE)
		return;
	g_mutex_lock(&lock);
	if (eax & MARK_DUMP)
		dump(eax & 0x7fff);
	zero();
	g_mutex_unlock(&lock);
}

static void on_block(unsigned int vcpu, void *udata)
{
	qemu_plugin_u64_add(counter(GPOINTER_TO_UINT(udata)), vcpu, 1);
}

static void on_user_block(unsigned int vcpu, void *udata)
{
	qemu_plugin_u64_add(user_total(), vcpu, GPOINTER_TO_UINT(udata));
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu)
{
	g_autoptr(GArray) regs = qemu_plugin_get_registers();

	for (guint i = 0; i < regs->len; i++) {
		qemu_plugin_reg_descriptor *r = &g_array_index(regs, qemu_plugin_reg_descriptor, i);

		if (!strcmp(r->name, "rax"))
			rax = r->handle;
	}
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	struct block key = { .vaddr = qemu_plugin_tb_vaddr(tb), .insns = n };
	gpointer found;
	uint32_t i;

	for (size_t k = 0; k < n; k++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, k);
		uint8_t op[2];

		if (key.bytes < HEAD)
			qemu_plugin_insn_data(insn, key.head + key.bytes, HEAD - key.bytes);
		key.bytes += qemu_plugin_insn_size(insn);
		if (qemu_plugin_insn_size(insn) == 2 && qemu_plugin_insn_data(insn, op, 2) == 2 &&
		    op[0] == 0x0f && op[1] == 0xa2)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_cpuid, QEMU_PLUGIN_CB_R_REGS,
							       NULL);
	}
	if (n == 0)
		return;
	if (key.vaddr < lo) {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, on_user_block, QEMU_PLUGIN_CB_NO_REGS,
						     GUINT_TO_POINTER(n));
		return;
	}
	key.haddr = (uintptr_t)qemu_plugin_insn_haddr(qemu_plugin_tb_get_insn(tb, 0));

	g_mutex_lock(&lock);
	found = g_hash_table_lookup(index_of, &key);
	if (found) {
		i = GPOINTER_TO_UINT(found) - 1;
	} else if (nblocks < MAX_BLOCKS) {
		i = nblocks++;
		blocks[i] = key;
		g_hash_table_insert(index_of, &blocks[i], GUINT_TO_POINTER(i + 1));
	} else {
		g_mutex_unlock(&lock);
		return;
	}
	g_mutex_unlock(&lock);
	/*
	 * A call per block, not an inline add: with an inline add QEMU 10.0.2 under -icount
	 * exits ("Bad icount read") as Xen boots.
	 */
	qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, GUINT_TO_POINTER(i));
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
					   char **argv)
{
	for (int k = 0; k < argc; k++) {
		if (!strncmp(argv[k], "out=", 4)) {
			out_prefix = g_strdup(argv[k] + 4);
		} else if (!strncmp(argv[k], "lo=", 3)) {
			lo = strtoull(argv[k] + 3, NULL, 0);
		} else {
			fprintf(stderr, "nbt_insn: unknown argument %s\n", argv[k]);
			return -1;
		}
	}
	if (!out_prefix)
		out_prefix = g_strdup("nbt-insn");
	blocks = g_new0(struct block, MAX_BLOCKS);
	index_of = g_hash_table_new(block_hash, block_equal);
	counts = qemu_plugin_scoreboard_new(MAX_BLOCKS * sizeof(uint64_t));
	user = qemu_plugin_scoreboard_new(sizeof(uint64_t));
	qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	return 0;
}

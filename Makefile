# netback-rs top-level Makefile.
#   make                 build the module against KDIR (builds our testbed kernel first if KDIR is unset)
#   make test            everything CI runs: host cargo tests, fuzz smoke, module build, testbed tests
#   make bench           the main job: boot the Xen testbed, netperf between guests, print a table
#   make clean
# Kbuild (not this file) describes the module to the kernel's build system.

NETBACK_RS_CACHE ?= /var/cache/netback-rs
export NETBACK_RS_CACHE
KDIR ?= $(NETBACK_RS_CACHE)/linux
LLVM_VERSION ?= 19
export LIBCLANG_PATH ?= /usr/lib/llvm-$(LLVM_VERSION)/lib
export PATH := $(NETBACK_RS_CACHE)/cargo-tools/bin:$(PATH)

.PHONY: all modules kernel test bench clean

all: modules

$(NETBACK_RS_CACHE)/linux/vmlinux:
	testbed/build-kernel.sh >/dev/null

# Our own kernel tree is built on demand; a user's own KDIR is taken as it is.
kernel: $(if $(filter $(NETBACK_RS_CACHE)/linux,$(KDIR)),$(NETBACK_RS_CACHE)/linux/vmlinux)

modules: kernel
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

test:
	./run-tests

bench:
	./run-bench

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	cargo clean 2>/dev/null || true

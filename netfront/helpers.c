// SPDX-License-Identifier: GPL-2.0
/*
 * The binding layer's C wrappers, compiled into xen-netfront-rs too: one
 * source (netback/bindings/helpers.c), a second object, because Kbuild warns
 * about an object linked into two modules.
 */
#include "../netback/bindings/helpers.c"

//! Cross-checks `netif::wire` against the kernel's `netif.h` as clang sees it.
//!
//! Runs bindgen (from PATH, or /var/cache/netback-rs/cargo-tools/bin) over
//! `$KDIR/include/xen/interface/io/netif.h` (default KDIR:
//! /var/cache/netback-rs/linux) and compares the sizes, alignments and field
//! offsets bindgen's layout assertions record, plus the constants, with ours.
//! Prints "skipped" and passes when the header or bindgen is missing.

use std::collections::HashMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use netif::wire::*;

fn kdir() -> PathBuf {
    std::env::var_os("KDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/netback-rs/linux"))
}

fn bindgen() -> Option<PathBuf> {
    let cache = std::env::var("NETBACK_RS_CACHE").unwrap_or_else(|_| "/var/cache/netback-rs".into());
    let mut candidates = vec![Path::new(&cache).join("cargo-tools/bin/bindgen")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|p| p.join("bindgen")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Label -> number from bindgen's `["Size of X"][size_of::<X>() - 12usize]` lines.
fn layout_facts(out: &str) -> HashMap<String, usize> {
    let mut facts = HashMap::new();
    let mut rest = out;
    while let Some(start) = rest.find("[\"") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("\"]") else { break };
        let label = rest[..end].to_string();
        rest = &rest[end + 2..];
        let Some(u) = rest.find("usize]") else { break };
        let num: String = rest[..u].chars().rev().take_while(|c| c.is_ascii_digit()).collect();
        let num: String = num.chars().rev().collect();
        if let Ok(n) = num.parse() {
            facts.insert(label, n);
        }
        rest = &rest[u..];
    }
    facts
}

/// Name -> value from `pub const NAME: ty = value;` lines.
fn constants(out: &str) -> HashMap<String, i64> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("pub const ")?;
            let (name, rest) = l.split_once(':')?;
            let (_, value) = rest.split_once('=')?;
            let value = value.trim().trim_end_matches(';').trim();
            Some((name.trim().to_string(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn wire_layout_matches_kernel_header() {
    let header = kdir().join("include/xen/interface/io/netif.h");
    let Some(bindgen) = bindgen() else {
        println!("skipped: bindgen not found");
        return;
    };
    if !header.is_file() {
        println!("skipped: {} not found", header.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("netif-bindgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("wrapper.h");
    // grant_table.h pulls in arch headers; netif.h only needs grant_ref_t.
    std::fs::write(
        &wrapper,
        "#include <stdint.h>\n#include <stddef.h>\n#define __XEN_PUBLIC_GRANT_TABLE_H__\n\
         typedef uint32_t grant_ref_t;\n#include <xen/interface/io/netif.h>\n",
    )
    .unwrap();
    let mut cmd = Command::new(&bindgen);
    if std::env::var_os("LIBCLANG_PATH").is_none() && Path::new("/usr/lib/llvm-19/lib").is_dir() {
        cmd.env("LIBCLANG_PATH", "/usr/lib/llvm-19/lib");
    }
    let out = cmd
        .arg(&wrapper)
        .args(["--allowlist-type", "xen_netif_.*", "--allowlist-var", "_?XEN_NET.*"])
        .arg("--")
        .arg(format!("-I{}", kdir().join("include").display()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("libclang") {
            println!("skipped: bindgen cannot load libclang: {err}");
            return;
        }
        panic!("bindgen failed: {err}");
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let facts = layout_facts(&text);
    let consts = constants(&text);

    let mut checked = 0;
    let mut expect = |label: &str, ours: usize| {
        let theirs = *facts.get(label).unwrap_or_else(|| panic!("bindgen has no `{label}`"));
        assert_eq!(ours, theirs, "{label}");
        checked += 1;
    };
    macro_rules! layout {
        ($c:literal, $t:ty, [$(($cf:literal, $f:ident)),*]) => {
            expect(concat!("Size of ", $c), size_of::<$t>());
            expect(concat!("Alignment of ", $c), align_of::<$t>());
            $( expect(concat!("Offset of field: ", $c, "::", $cf), offset_of!($t, $f)); )*
        };
    }
    layout!(
        "xen_netif_tx_request",
        TxRequest,
        [("gref", gref), ("offset", offset), ("flags", flags), ("id", id), ("size", size)]
    );
    layout!("xen_netif_tx_response", TxResponse, [("id", id), ("status", status)]);
    layout!("xen_netif_rx_request", RxRequest, [("id", id), ("pad", pad), ("gref", gref)]);
    layout!(
        "xen_netif_rx_response",
        RxResponse,
        [("id", id), ("offset", offset), ("flags", flags), ("status", status)]
    );
    layout!("xen_netif_extra_info", ExtraInfoRaw, [("type_", kind), ("flags", flags), ("u", payload)]);
    layout!("xen_netif_ctrl_request", CtrlRequest, [("id", id), ("type_", kind), ("data", data)]);
    layout!("xen_netif_ctrl_response", CtrlResponse, [("id", id), ("type_", kind), ("status", status), ("data", data)]);
    expect("Size of xen_netif_tx_sring_entry", TX_RING_ENTRY_SIZE as usize);
    expect("Size of xen_netif_rx_sring_entry", RX_RING_ENTRY_SIZE as usize);
    expect("Size of xen_netif_ctrl_sring_entry", CTRL_RING_ENTRY_SIZE as usize);
    expect("Offset of field: xen_netif_tx_sring::ring", SRING_HEADER_SIZE as usize);
    expect("Offset of field: xen_netif_tx_sring::req_event", SRING_REQ_EVENT_OFFSET);
    expect("Offset of field: xen_netif_tx_sring::rsp_prod", SRING_RSP_PROD_OFFSET);
    expect("Offset of field: xen_netif_tx_sring::rsp_event", SRING_RSP_EVENT_OFFSET);

    let mut expect_const = |name: &str, ours: i64| {
        let theirs = *consts.get(name).unwrap_or_else(|| panic!("bindgen has no constant `{name}`"));
        assert_eq!(ours, theirs, "{name}");
        checked += 1;
    };
    let c: &[(&str, i64)] = &[
        ("XEN_NETIF_NR_SLOTS_MIN", XEN_NETIF_NR_SLOTS_MIN.into()),
        ("XEN_NETIF_MAX_XDP_HEADROOM", XEN_NETIF_MAX_XDP_HEADROOM.into()),
        ("XEN_NETIF_MAX_TX_SIZE", XEN_NETIF_MAX_TX_SIZE.into()),
        ("XEN_NETTXF_csum_blank", NETTXF_CSUM_BLANK.into()),
        ("XEN_NETTXF_data_validated", NETTXF_DATA_VALIDATED.into()),
        ("XEN_NETTXF_more_data", NETTXF_MORE_DATA.into()),
        ("XEN_NETTXF_extra_info", NETTXF_EXTRA_INFO.into()),
        ("XEN_NETRXF_data_validated", NETRXF_DATA_VALIDATED.into()),
        ("XEN_NETRXF_csum_blank", NETRXF_CSUM_BLANK.into()),
        ("XEN_NETRXF_more_data", NETRXF_MORE_DATA.into()),
        ("XEN_NETRXF_extra_info", NETRXF_EXTRA_INFO.into()),
        ("XEN_NETRXF_gso_prefix", NETRXF_GSO_PREFIX.into()),
        ("XEN_NETIF_RSP_DROPPED", NETIF_RSP_DROPPED.into()),
        ("XEN_NETIF_RSP_ERROR", NETIF_RSP_ERROR.into()),
        ("XEN_NETIF_RSP_OKAY", NETIF_RSP_OKAY.into()),
        ("XEN_NETIF_RSP_NULL", NETIF_RSP_NULL.into()),
        ("XEN_NETIF_EXTRA_TYPE_NONE", XEN_NETIF_EXTRA_TYPE_NONE.into()),
        ("XEN_NETIF_EXTRA_TYPE_GSO", XEN_NETIF_EXTRA_TYPE_GSO.into()),
        ("XEN_NETIF_EXTRA_TYPE_MCAST_ADD", XEN_NETIF_EXTRA_TYPE_MCAST_ADD.into()),
        ("XEN_NETIF_EXTRA_TYPE_MCAST_DEL", XEN_NETIF_EXTRA_TYPE_MCAST_DEL.into()),
        ("XEN_NETIF_EXTRA_TYPE_HASH", XEN_NETIF_EXTRA_TYPE_HASH.into()),
        ("XEN_NETIF_EXTRA_TYPE_XDP", XEN_NETIF_EXTRA_TYPE_XDP.into()),
        ("XEN_NETIF_EXTRA_TYPE_MAX", XEN_NETIF_EXTRA_TYPE_MAX.into()),
        ("XEN_NETIF_EXTRA_FLAG_MORE", XEN_NETIF_EXTRA_FLAG_MORE.into()),
        ("XEN_NETIF_GSO_TYPE_NONE", XEN_NETIF_GSO_TYPE_NONE.into()),
        ("XEN_NETIF_GSO_TYPE_TCPV4", XEN_NETIF_GSO_TYPE_TCPV4.into()),
        ("XEN_NETIF_GSO_TYPE_TCPV6", XEN_NETIF_GSO_TYPE_TCPV6.into()),
        ("XEN_NETIF_CTRL_TYPE_INVALID", XEN_NETIF_CTRL_TYPE_INVALID.into()),
        ("XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS", XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS.into()),
        ("XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS", XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS.into()),
        ("XEN_NETIF_CTRL_TYPE_SET_HASH_KEY", XEN_NETIF_CTRL_TYPE_SET_HASH_KEY.into()),
        ("XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE", XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE.into()),
        ("XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE", XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE.into()),
        ("XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING", XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING.into()),
        ("XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM", XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM.into()),
        ("XEN_NETIF_CTRL_STATUS_SUCCESS", XEN_NETIF_CTRL_STATUS_SUCCESS.into()),
        ("XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED", XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED.into()),
        ("XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER", XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER.into()),
        ("XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW", XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW.into()),
        ("XEN_NETIF_CTRL_HASH_ALGORITHM_NONE", XEN_NETIF_CTRL_HASH_ALGORITHM_NONE.into()),
        ("XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ", XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ.into()),
        ("_XEN_NETIF_CTRL_HASH_TYPE_IPV4", XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT.into()),
        ("_XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP", XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT.into()),
        ("_XEN_NETIF_CTRL_HASH_TYPE_IPV6", XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT.into()),
        ("_XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP", XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT.into()),
        ("XEN_NETIF_CTRL_HASH_TYPE_IPV4", XEN_NETIF_CTRL_HASH_TYPE_IPV4.into()),
        ("XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP", XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP.into()),
        ("XEN_NETIF_CTRL_HASH_TYPE_IPV6", XEN_NETIF_CTRL_HASH_TYPE_IPV6.into()),
        ("XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP", XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP.into()),
    ];
    for (name, ours) in c {
        expect_const(name, *ours);
    }
    println!("checked {checked} layout facts and constants against {}", header.display());
}

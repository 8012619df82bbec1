# Folds `perf script -F ip,sym,dso` into samples per function, for lib.sh's profile_end in
# dom0 and in the guests (busybox awk there). Input: the modules' lines of /proc/kallsyms,
# sorted (so that the 16-digit addresses compare as strings), a "--" line, then perf
# script's samples: each its frames ("ADDR FUNCTION (DSO)"), innermost first, then a blank
# line. perf finds no symbols for a module insmod'ed from outside /lib/modules (ours, and
# the guests' netfront), so such frames are looked up in kallsyms. Output: one
# "HDR | SAMPLES DSO FUNCTION" line per function with 0.2% of the samples or more, and a
# "HDR | total SAMPLES" line (hdr is set with -v). With -v addrs=1, also one "HDR | addr
# SAMPLES DSO FUNCTION+0xOFFSET" line per instruction of a module looked up in kallsyms
# (ours) where a sample landed, for addr2line on the host (benches/profile_report.py --addrs).
BEGIN { shared = "hypercall|^mem(cpy|set|move)|^rep_(movs|stos)|spin_lock|^_copy_" }
!ks { if ($0 == "--") ks = 1; else { nk++; ka[nk] = $1; kn[nk] = $3; km[nk] = $4 }; next }
function lookup(ip,   lo, hi, mid) {  # the module function holding ip, or ""
    if (length(ip) != 16 || !nk || ip < ka[1]) return ""
    lo = 1; hi = nk
    while (lo < hi) { mid = int((lo + hi + 1) / 2); if (ka[mid] <= ip) lo = mid; else hi = mid - 1 }
    kdso = km[lo]; kstart = ka[lo]; return kn[lo]
}
# The low 32 bits of a 16-digit address (awk's numbers hold no 64-bit one exactly).
function low32(a,   i, v) {
    v = 0
    for (i = 9; i <= 16; i++) v = v * 16 + index("0123456789abcdef", tolower(substr(a, i, 1))) - 1
    return v
}
function flush() { if (depth) { n[dso " " fn]++; total++ } depth = 0 }
NF < 3 { flush(); next }
{
    f = $2; d = $NF; gsub(/[()]/, "", d)
    if (f == "[unknown]" && (r = lookup($1)) != "") {
        f = r; d = kdso
        if (addrs && !depth) at[d " " f sprintf("+0x%x", low32($1) - low32(kstart))]++
    }
    # A sample in a hypercall (Linux makes them all through one trampoline) or in a helper
    # that many callers share counts for its caller too: "memcpy_orig<-tx_poll".
    if (!depth) { fn = f; dso = d; fold = f ~ shared; if (f ~ /hypercall/) fn = "hypercall" }
    else if (fold && f !~ shared) { fn = fn "<-" f; dso = d; fold = 0 }
    depth++
}
END {
    flush()
    for (k in n) if (n[k] * 500 >= total) print hdr " | " n[k] " " k
    for (k in at) print hdr " | addr " at[k] " " k
    print hdr " | total " total + 0
}

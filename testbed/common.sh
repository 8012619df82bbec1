# Shared settings for the build and testbed scripts. Source it; do not run it.
# Every cache lives outside the repo, under $NETBACK_RS_CACHE, and is reused when present.

: "${NETBACK_RS_CACHE:=/var/cache/netback-rs}"
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TESTBED_DIR=$REPO_ROOT/testbed

# The one place that names the kernel series and the suites to look in, newest first.
KERNEL_SERIES=7.2
KERNEL_SUITES="sid forky trixie-backports"
# Xen hypervisor and toolstack come from trixie.
XEN_VERSION=4.20
XEN_SUITE=trixie
BINDGEN_VERSION=0.72.1
LLVM_VERSION=19

# NBT_KERNEL=debug selects the debug kernel (testbed/kernel-debug.config on top of
# testbed/kernel.config: lockdep, KASAN, ...), with its own tree, stage and images.
: "${NBT_KERNEL:=}"
case "$NBT_KERNEL" in ""|debug) ;; *) echo "NBT_KERNEL must be empty or debug" >&2; exit 2;; esac
KSFX=${NBT_KERNEL:+-$NBT_KERNEL}
KERNEL_TREE=$NETBACK_RS_CACHE/linux$KSFX          # the configured, built kernel tree (KDIR)
KERNEL_STAGE=$NETBACK_RS_CACHE/kernel-stage$KSFX  # bzImage, vmlinux, installed modules
CARGO_TOOLS=$NETBACK_RS_CACHE/cargo-tools    # CARGO_HOME for bindgen-cli
APT_ALT=$NETBACK_RS_CACHE/apt                # private apt state for non-bookworm suites
DEBS=$NETBACK_RS_CACHE/debs
ROOTFS=$NETBACK_RS_CACHE/rootfs-trixie       # debootstrap of the dom0 userspace
IMAGES=$NETBACK_RS_CACHE/images$KSFX         # what QEMU boots
LOGS=${NETBACK_RS_LOGS:-$NETBACK_RS_CACHE/logs}

export PATH=$CARGO_TOOLS/bin:$PATH
export LIBCLANG_PATH=/usr/lib/llvm-$LLVM_VERSION/lib

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The Debian mirror this host already uses (so no host name is hard-coded here).
debian_mirror() {
    local uri
    uri=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1)
    [ -n "$uri" ] || uri=$(grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1)
    [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt"
    echo "${uri%/}"
}

apt_updated_stamp=/var/lib/apt/periodic/netback-rs-updated
host_apt_install() {
    local missing=() p
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing host packages: ${missing[*]}"
    if [ ! -e $apt_updated_stamp ] || [ -n "$(find $apt_updated_stamp -mmin +600 2>/dev/null)" ]; then
        apt-get update -qq >&2 && mkdir -p "$(dirname $apt_updated_stamp)" && touch $apt_updated_stamp
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# apt-get against other Debian suites without touching /etc/apt.
alt_apt() {
    local mirror
    if [ ! -f "$APT_ALT/sources.list" ]; then
        mirror=$(debian_mirror)
        mkdir -p "$APT_ALT/lists/partial" "$APT_ALT/archives/partial"
        {
            for s in sid forky trixie trixie-backports bookworm-backports; do
                echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $s main"
            done
        } > "$APT_ALT/sources.list"
    fi
    apt-get -o Dir::Etc::SourceList="$APT_ALT/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$APT_ALT/lists" -o Dir::Cache::Archives="$APT_ALT/archives" "$@"
}
alt_apt_update_once() {
    if [ ! -e "$APT_ALT/updated" ] || [ -n "$(find "$APT_ALT/updated" -mmin +1440 2>/dev/null)" ]; then
        alt_apt -qq update >&2 || die "apt update for the other suites failed"
        touch "$APT_ALT/updated"
    fi
}

# Install host packages from bookworm-backports (QEMU 10, a newer debootstrap): the host's
# own sources plus a private bookworm-backports list, with their own package lists.
host_bpo_install() {
    local missing=() p
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    mkdir -p "$APT_ALT/lists-bpo/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) bookworm-backports main" > "$APT_ALT/bpo.list"
    local o=(-o Dir::Etc::SourceList="$APT_ALT/bpo.list" -o Dir::State::Lists="$APT_ALT/lists-bpo")
    log "installing host packages from bookworm-backports: ${missing[*]}"
    apt-get "${o[@]}" -qq update >&2 || die "apt update (bookworm-backports) failed"
    DEBIAN_FRONTEND=noninteractive apt-get "${o[@]}" install -y -qq --no-install-recommends -t bookworm-backports "${missing[@]}" >&2
}

# Shared by the scripts: the pinned kernel and the test-bed paths. Source it.
KPATCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The pin: scripts/target-kernel.env (Debian 12's 6.1) unless KPATCH_KERNEL_PIN names
# another pin file (scripts/target-kernel-6.12.env: Debian 13's 6.12).
KPATCH_KERNEL_PIN=$(realpath "${KPATCH_KERNEL_PIN:-$KPATCH_ROOT/scripts/target-kernel.env}")
# shellcheck source=target-kernel.env
. "$KPATCH_KERNEL_PIN"
KPATCH_TESTBED=${KPATCH_TESTBED:-$KPATCH_ROOT/.testbed}
KPATCH_KERNEL_DIR=$KPATCH_TESTBED/kernel/$KPATCH_KERNEL_RELEASE
KPATCH_VMLINUZ=$KPATCH_KERNEL_DIR/image/boot/vmlinuz-$KPATCH_KERNEL_RELEASE
KPATCH_MODULES_DIR=$KPATCH_KERNEL_DIR/image/lib/modules/$KPATCH_KERNEL_RELEASE
# Debian 13's packages ship modules under /usr/lib (merged /usr), compressed (.ko.xz).
[ -d "$KPATCH_MODULES_DIR" ] || [ ! -d "$KPATCH_KERNEL_DIR/image/usr/lib/modules" ] ||
    KPATCH_MODULES_DIR=$KPATCH_KERNEL_DIR/image/usr/lib/modules/$KPATCH_KERNEL_RELEASE
KPATCH_DEBUG_VMLINUX=$KPATCH_KERNEL_DIR/dbg/vmlinux-$KPATCH_KERNEL_RELEASE
# In-tree modules whose debug builds (DWARF, for the kthread analysis) the tests use.
KPATCH_DEBUG_MODULES_DIR=$KPATCH_KERNEL_DIR/dbg/lib/modules/$KPATCH_KERNEL_RELEASE
# A pin may set its own list (bookworm-backports' sets none: its tests build no in-tree module).
KPATCH_DEBUG_MODULES=${KPATCH_DEBUG_MODULES-kernel/fs/binfmt_misc.ko}
KPATCH_BIN=${KPATCH_BIN:-$KPATCH_ROOT/.build/release/kpatchctl}

# Every step line carries the seconds since the outermost script started, so a run's
# log shows where its time went.
export KPATCH_T0=${KPATCH_T0:-$(date +%s)}
say() { printf '==> [%4ss] %s\n' "$(( $(date +%s) - KPATCH_T0 ))" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian's archive suite that serves a kernel release (and its package version):
# +deb13 is trixie, +deb12 is bookworm-backports, plain 6.1.0-N is bookworm; a ~bpoNN
# version is the backports suite of that release; amd64 flavours only. A copy of
# kpatchctl's DebianKernelRelease (the one implementation): DebianKernelReleaseTests
# holds the two to the same answers.
kpatch_kernel_suite() { # release [version]
    case $1 in
        [0-9]*.[0-9]*.*-amd64) ;;
        *) return 1 ;;
    esac
    case ${2:-} in
        *~bpo12*) echo bookworm-backports; return ;;
        *~bpo13*) echo trixie-backports; return ;;
    esac
    case $1 in
        *+deb13-*) echo trixie ;;
        *+deb12-*) echo bookworm-backports ;;
        6.1.0-*) echo bookworm ;;
        *) return 1 ;;
    esac
}
KPATCH_KERNEL_SUITE=$(kpatch_kernel_suite "$KPATCH_KERNEL_RELEASE" "$KPATCH_KERNEL_VERSION") ||
    die "cannot tell Debian's suite for kernel $KPATCH_KERNEL_RELEASE (expected 6.1.0-N-*, *+deb12-* or *+deb13-*)"
# The Debian release whose toolchain builds the kernel (backports kernels use their base's).
KPATCH_KERNEL_DIST=${KPATCH_KERNEL_SUITE%-backports}
# The host's own kernel (Debian 12's 6.1) builds against the installed headers; any other
# release against headers and kbuild unpacked into the test bed (scripts/fetch-kernel),
# never into the host's /usr/src.
if [ "$KPATCH_KERNEL_SUITE" = bookworm ]; then
    KPATCH_HEADERS=/usr/src/linux-headers-$KPATCH_KERNEL_RELEASE
else
    KPATCH_HEADERS=$KPATCH_KERNEL_DIR/headers/usr/src/linux-headers-$KPATCH_KERNEL_RELEASE
fi
# linux-source-<major.minor>'s tarball, unpacked from its package into the test bed.
KPATCH_SOURCE_TARBALL=$KPATCH_KERNEL_DIR/source/usr/src/linux-source-$(echo "$KPATCH_KERNEL_RELEASE" | cut -d. -f1,2).tar.xz
# A Debian root of the kernel's toolchain release (scripts/buildroot), for kernels whose
# compiler the host lacks.
KPATCH_BUILDROOT=$KPATCH_TESTBED/buildroot/$KPATCH_KERNEL_DIST

# vmlinuz's own vmlinux, for the test VM's PVH boot (scripts/vm-run): the first xz or zstd
# stream in the bzImage that unpacks to a complete ELF with the PVH entry note (Xen note
# 0x12). Written beside and renamed into place, so concurrent boots never see half a file.
kpatch_unpack_vmlinuz() { # vmlinuz out
    local tmp=$2.tmp.$$ offset tool magic
    for tool in "xz -dc --single-stream" "zstd -dcq"; do
        case $tool in
            xz*) magic='\xfd7zXZ\x00' ;;
            zstd*) magic='\x28\xb5\x2f\xfd' ;;
        esac
        for offset in $(LC_ALL=C grep -obUaP "$magic" "$1" | cut -d: -f1); do
            # zstd exits 1 on the signature after the stream: the ELF check decides.
            tail -c +$((offset + 1)) "$1" | $tool > "$tmp" 2>/dev/null || true
            if [ "$(head -c 4 "$tmp" | od -An -c | tr -d ' ')" = '177ELF' ] &&
               readelf -n "$tmp" 2>/dev/null | grep -q 'Xen .*(0x00000012)' &&
               readelf -lSW "$tmp" 2>&1 >/dev/null | { ! grep -q .; }; then
                mv -f "$tmp" "$2"
                return 0
            fi
        done
    done
    rm -f "$tmp"
    return 1
}

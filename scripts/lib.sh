# Shared by the scripts: the pinned kernel and the test-bed paths. Source it.
KPATCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=target-kernel.env
. "$KPATCH_ROOT/scripts/target-kernel.env"
KPATCH_TESTBED=${KPATCH_TESTBED:-$KPATCH_ROOT/.testbed}
KPATCH_KERNEL_DIR=$KPATCH_TESTBED/kernel/$KPATCH_KERNEL_RELEASE
KPATCH_VMLINUZ=$KPATCH_KERNEL_DIR/image/boot/vmlinuz-$KPATCH_KERNEL_RELEASE
KPATCH_MODULES_DIR=$KPATCH_KERNEL_DIR/image/lib/modules/$KPATCH_KERNEL_RELEASE
KPATCH_DEBUG_VMLINUX=$KPATCH_KERNEL_DIR/dbg/vmlinux-$KPATCH_KERNEL_RELEASE
# In-tree modules whose debug builds (DWARF, for the kthread analysis) the tests use.
KPATCH_DEBUG_MODULES_DIR=$KPATCH_KERNEL_DIR/dbg/lib/modules/$KPATCH_KERNEL_RELEASE
KPATCH_DEBUG_MODULES="kernel/fs/binfmt_misc.ko"
KPATCH_HEADERS=/usr/src/linux-headers-$KPATCH_KERNEL_RELEASE
KPATCH_BIN=${KPATCH_BIN:-$KPATCH_ROOT/.build/release/kpatchctl}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

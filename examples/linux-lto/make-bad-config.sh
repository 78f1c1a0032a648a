#!/usr/bin/env bash
# Make a small, reproducible randconfig with Clang LTO forced on, as the tests and the walkthrough do.
# EXTRA_FRAGMENT lines are appended to small-randconfig.fragment (later lines win), e.g. to
# switch to full LTO or to force the options a planted fault needs.
#   make-bad-config.sh TREE OUT_CONFIG [ARCH] [SEED] [PROBABILITY] [EXTRA_FRAGMENT]
# The kernel's own randconfig does the work (KCONFIG_SEED, KCONFIG_PROBABILITY,
# KCONFIG_ALLCONFIG); the tree is not written (O= is a temporary directory).
set -euo pipefail
tree=$1 out=$2 arch=${3:-x86_64} seed=${4:-2} prob=${5:-8} extra=${6:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat "$here/small-randconfig.fragment" > "$work/allconfig"
[ -n "$extra" ] && cat "$extra" >> "$work/allconfig"
make -s -C "$tree" O="$work/o" ARCH="$arch" LLVM=-16 KCONFIG_ALLCONFIG="$work/allconfig" \
    KCONFIG_SEED="$seed" KCONFIG_PROBABILITY="$prob" randconfig >/dev/null
# A fragment that cannot enable LTO fails silently in Kconfig: check the result.
grep -q '^CONFIG_LTO_CLANG=y' "$work/o/.config" || {
    echo "make-bad-config: Clang LTO could not be enabled with seed $seed" >&2; exit 1; }
cp "$work/o/.config" "$out"

#!/usr/bin/env bash
# Build one randconfig per seed with Clang LTO and CONFIG_WERROR forced on; a seed that fails to
# build gives the bad config for `ltobisect minimize` (WORKDIR/SEED/config, build.log).
#   hunt.sh TREE WORKDIR SEED...
# One line per seed on stdout and in WORKDIR/results:
#   <seed> ok|FAILS|timeout|no-lto <seconds> <first error line>
# WORKDIR/<seed>/ keeps the allconfig, the .config and build.log; a build that passed has its
# objects removed (the .config and log stay). Exit 0 when a seed failed, 1 when none did.
# Environment: ARCH (default x86_64), KCONFIG_PROBABILITY (default 10: small configs that build
# in minutes), HUNT_TIMEOUT (seconds per build, default 2400), JOBS (default: all cores),
# CCACHE_DIR (ccache is used when installed).
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: hunt.sh TREE WORKDIR SEED..." >&2; exit 2; }
tree=$1 work=$2
shift 2
arch=${ARCH:-x86_64} prob=${KCONFIG_PROBABILITY:-10}
[ -f "$tree/Makefile" ] || { echo "hunt.sh: no kernel tree at $tree" >&2; exit 2; }
mkdir -p "$work"
cc="clang-16"
command -v ccache >/dev/null && cc="ccache clang-16"
found=1
for seed in "$@"; do
    d=$work/$seed
    mkdir -p "$d"
    # LTO and WERROR forced; section mismatches are errors; what blocks LTO is kept off.
    cat > "$d/allconfig" <<EOF
CONFIG_LTO_CLANG_THIN=y
CONFIG_WERROR=y
# CONFIG_SECTION_MISMATCH_WARN_ONLY is not set
CONFIG_EXPERT=y
# CONFIG_MODULES is not set
# CONFIG_KASAN is not set
# CONFIG_GCOV_KERNEL is not set
# CONFIG_COMPILE_TEST is not set
EOF
    [ "$arch" = x86_64 ] && echo "CONFIG_64BIT=y" >> "$d/allconfig"
    make -s -C "$tree" O="$d/o" ARCH="$arch" LLVM=-16 KCONFIG_ALLCONFIG="$d/allconfig" \
        KCONFIG_SEED="$seed" KCONFIG_PROBABILITY="$prob" randconfig > /dev/null 2> "$d/conf.err"
    if ! grep -q '^CONFIG_LTO_CLANG=y' "$d/o/.config" 2>/dev/null; then
        echo "$seed no-lto 0" | tee -a "$work/results"
        continue
    fi
    cp "$d/o/.config" "$d/config"
    start=$(date +%s)
    timeout "${HUNT_TIMEOUT:-2400}" make -C "$tree" O="$d/o" ARCH="$arch" LLVM=-16 CC="$cc" \
        -j"${JOBS:-$(nproc)}" vmlinux > "$d/build.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    first=$(grep -m1 -E 'error:|Error [0-9]|ERROR:' "$d/build.log" | cut -c1-200)
    if [ $rc -eq 0 ]; then
        echo "$seed ok $secs" | tee -a "$work/results"
        find "$d/o" -name '*.o' -delete
    elif [ $rc -eq 124 ]; then
        echo "$seed timeout $secs" | tee -a "$work/results"
    else
        echo "$seed FAILS $secs $first" | tee -a "$work/results"
        found=0
    fi
done
exit $found

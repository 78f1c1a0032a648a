#!/usr/bin/env bash
# Build one randconfig per seed with Clang LTO and CONFIG_WERROR forced on; a seed that fails to
# build gives the bad config for `ltobisect minimize` (WORKDIR/SEED/config, build.log).
#   hunt.sh TREE WORKDIR SEED...
# One line per seed on stdout and in WORKDIR/results:
#   <seed> <kernel> <arch> clang<llvm> <lto> W=<w> ok|FAILS|timeout|no-lto <seconds> <errors> <first error>
# WORKDIR/<seed>/ keeps the allconfig, the .config, build.log and `ltobisect failures` of it
# (and for a failing seed bad.defconfig and build.log.xz, what examples/linux-lto/real/ keeps); a
# build that passed has its objects removed (the .config and log stay). Exit 0 when a seed
# failed, 1 when none did.
# Environment (the matrix testers use):
#   ARCH                 x86_64 (default) or arm64 (cross-built by the same clang)
#   LLVM                 the kernel's LLVM= suffix: -16 (default), -19, -22
#   LTO                  thin (default), full, or none
#   W                    the kernel's W= warning level, e.g. 1 (default: none)
#   KCONFIG_PROBABILITY  default 10: small configs that build in minutes; 20+ for more code
#   KEEP_GOING           1 (default): make -k, so the log holds every failure, not the first
#   HUNT_TIMEOUT         seconds per build (default 2400); JOBS (default all cores); CCACHE_DIR
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: hunt.sh TREE WORKDIR SEED..." >&2; exit 2; }
tree=$1 work=$2
shift 2
arch=${ARCH:-x86_64} prob=${KCONFIG_PROBABILITY:-10} llvm=${LLVM:--16} lto=${LTO:-thin}
wlevel=${W:-} keep=${KEEP_GOING:-1}
[ -f "$tree/Makefile" ] || { echo "hunt.sh: no kernel tree at $tree" >&2; exit 2; }
command -v "clang$llvm" >/dev/null || { echo "hunt.sh: clang$llvm is not installed" >&2; exit 2; }
case $lto in
    thin) lto_line="CONFIG_LTO_CLANG_THIN=y" ;;
    full) lto_line="CONFIG_LTO_CLANG_FULL=y" ;;
    none) lto_line="CONFIG_LTO_NONE=y" ;;
    *) echo "hunt.sh: LTO must be thin, full or none" >&2; exit 2 ;;
esac
kver=$(make -s -C "$tree" kernelversion 2>/dev/null)
mkdir -p "$work"
cc="clang$llvm"
command -v ccache >/dev/null && cc="ccache clang$llvm"
make_args=(ARCH="$arch" LLVM="$llvm")
[ -n "$wlevel" ] && make_args+=(W="$wlevel")
[ "$keep" = 1 ] && keep_flag=-k || keep_flag=
found=1
for seed in "$@"; do
    d=$work/$seed
    mkdir -p "$d"
    # LTO and WERROR forced; section mismatches are errors; what blocks LTO is kept off.
    cat > "$d/allconfig" <<EOF
$lto_line
CONFIG_WERROR=y
# CONFIG_SECTION_MISMATCH_WARN_ONLY is not set
CONFIG_EXPERT=y
# CONFIG_MODULES is not set
# CONFIG_KASAN is not set
# CONFIG_GCOV_KERNEL is not set
# CONFIG_COMPILE_TEST is not set
EOF
    [ "$arch" = x86_64 ] && echo "CONFIG_64BIT=y" >> "$d/allconfig"
    tag="$seed $kver $arch clang$llvm $lto W=${wlevel:-0}"
    make -s -C "$tree" O="$d/o" "${make_args[@]}" KCONFIG_ALLCONFIG="$d/allconfig" \
        KCONFIG_SEED="$seed" KCONFIG_PROBABILITY="$prob" randconfig > /dev/null 2> "$d/conf.err"
    if [ "$lto" != none ] && ! grep -q '^CONFIG_LTO_CLANG=y' "$d/o/.config" 2>/dev/null; then
        echo "$tag no-lto 0" | tee -a "$work/results"
        continue
    fi
    cp "$d/o/.config" "$d/config"
    start=$(date +%s)
    timeout "${HUNT_TIMEOUT:-2400}" make -C "$tree" O="$d/o" "${make_args[@]}" CC="$cc" \
        $keep_flag -j"${JOBS:-$(nproc)}" vmlinux > "$d/build.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    errors=$(grep -cE '(error|Error):|ERROR:' "$d/build.log")
    first=$(grep -m1 -E 'error:|ERROR:' "$d/build.log" | cut -c1-200)
    if [ $rc -eq 0 ]; then
        echo "$tag ok $secs" | tee -a "$work/results"
        find "$d/o" -name '*.o' -delete
    elif [ $rc -eq 124 ]; then
        echo "$tag timeout $secs" | tee -a "$work/results"
    else
        echo "$tag FAILS $secs $errors $first" | tee -a "$work/results"
        command -v ltobisect >/dev/null && ltobisect failures "$d/build.log" > "$d/failures" 2>&1
        # What a case under examples/linux-lto/real/ keeps: the config in savedefconfig form
        # (make olddefconfig expands it again) and the log, compressed.
        make -s -C "$tree" O="$d/o" "${make_args[@]}" savedefconfig > /dev/null 2>&1 \
            && cp "$d/o/defconfig" "$d/bad.defconfig"
        xz -9 -k -f "$d/build.log"
        found=0
    fi
done
exit $found

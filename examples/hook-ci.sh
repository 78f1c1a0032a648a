#!/usr/bin/env bash
# A CI job's build step with ltobisect as its post-failure hook.
#
#   examples/hook-ci.sh <tree> <config> [make args...]
#
# Builds <tree> with <config> in a fresh O= directory. When the build fails, runs
# `ltobisect hook` on that O= directory within a budget and leaves every artifact in
# $ARTIFACTS (report.txt to mail upstream, fragment.config, reproduce.sh, summary.json).
# The job's exit code is the build's; ltobisect's outcome is printed and kept in
# $ARTIFACTS/hook-exit-code (0 minimized, 3 partial, 4 not reproduced, 1 bad input, 2 infra).
#
# On a build farm, set LTOBISECT_SCHEDULER to the Dask scheduler and the minimization's builds
# run on its workers (see "Build farms (Dask)" in README.md); LTOBISECT_WORKERS is how many at
# once (default 1). The workers need <tree> at the same path (or LTOBISECT_TREE_MAP) and the
# same clang and lld:
#
#   LTOBISECT_SCHEDULER=tcp://A:8786 LTOBISECT_WORKERS=8 \
#       examples/hook-ci.sh linux randconfig.config ARCH=x86_64 LLVM=-16
set -uo pipefail

tree=${1:?usage: hook-ci.sh <tree> <config> [make args...]}
config=${2:?usage: hook-ci.sh <tree> <config> [make args...]}
shift 2
out=${O:-$PWD/build}
ARTIFACTS=${ARTIFACTS:-$PWD/artifacts}
BUDGET=${LTOBISECT_BUDGET:-2h}

mkdir -p "$out"
cp "$config" "$out/.config"
make -C "$tree" O="$out" "$@" olddefconfig >/dev/null || exit 1
make -C "$tree" O="$out" "$@" -j"$(nproc)" 2>&1 | tee "$out/build.log"
build=${PIPESTATUS[0]}
[ "$build" -eq 0 ] && exit 0

echo "build failed (exit $build); minimizing the config with ltobisect (budget $BUDGET)" >&2
rm -rf "$ARTIFACTS"
cmd=(ltobisect hook --build-dir "$out" --log "$out/build.log" --budget "$BUDGET" --out "$ARTIFACTS")
[ -n "${LTOBISECT_SCHEDULER:-}" ] && cmd+=(--scheduler "$LTOBISECT_SCHEDULER")
[ -n "${LTOBISECT_WORKERS:-}" ] && cmd+=(--workers "$LTOBISECT_WORKERS")
"${cmd[@]}" >"$out/ltobisect.log" 2>&1
hook=$?
echo "$hook" > "$ARTIFACTS/hook-exit-code" 2>/dev/null || true
case $hook in
0) echo "ltobisect: minimized; see $ARTIFACTS/report.txt" >&2 ;;
3) echo "ltobisect: budget ran out; best so far in $ARTIFACTS/report.txt" >&2 ;;
4) echo "ltobisect: the failure did not reproduce (flaky or environment-dependent)" >&2 ;;
*) echo "ltobisect: exit $hook; see $out/ltobisect.log" >&2 ;;
esac
exit "$build"

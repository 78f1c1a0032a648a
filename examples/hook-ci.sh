#!/usr/bin/env bash
# The post-failure hook of a CI job: after a kernel build failed, minimize its config with
# `ltobisect hook` and leave everything worth uploading in one directory, $ARTIFACTS.
#
#   set -o pipefail
#   make O=out ARCH=x86_64 LLVM=-16 -j"$(nproc)" 2>&1 | tee build.log || {
#       examples/hook-ci.sh out build.log
#       exit 1
#   }
#
# The `exit 1` keeps the step failed: this script's exit code says how the minimization went,
# not whether the build passed (a minimized config is an artifact to upload, not a fix).
#
# <build-dir> is the O= directory of the failed build (its .config, and the `source` link the
# kernel's Makefile leaves there, which leads to the tree); <build-log> is the build's output.
#
# $ARTIFACTS (default ./ltobisect-artifacts) is ltobisect's --out and holds only what a job
# uploads: report.txt to mail upstream, fragment.config, minimal.config, reproduce.sh,
# summary.json, and hook.log, this script's log (ltobisect's lines and its report; a rerun
# appends to it, and it is readable like the other artifacts). The build directories and the
# journal go to the work directory ($LTOBISECT_WORK_DIR, passed as --work-dir; else
# ltobisect's default under ~/.cache/ltobisect/work) and the compiler cache to ccache's
# ($CCACHE_DIR): keep those in the runner's cache, not in the artifacts (see examples/ci/).
#
# The exit code is ltobisect's: 0 minimized, 3 partial (the budget ran out or a signal stopped it;
# the best so far is written), 4 the failure does not reproduce, 1 bad input, 2 infrastructure
# error, 130 killed.
#
# Nothing that existed before is deleted: an $ARTIFACTS that exists must be empty or hold this
# same session (a rerun continues it), else ltobisect refuses it (exit 1) and it is left as it
# was. SIGTERM, SIGINT and SIGHUP are passed on to ltobisect, which stops cleanly and writes the
# best result so far; the last line names the signal.
#
# Environment:
#   LTOBISECT_BUDGET     wall time of the minimization (default 2h); ltobisect never runs past it
#   LTOBISECT_SCHEDULER  a Dask scheduler (tcp://host:8786): the builds run on its workers, which
#                        need the tree at the same path (or LTOBISECT_TREE_MAP) and the same clang
#                        and lld; see "Build farms (Dask)" in README.md
#   LTOBISECT_WORKERS    builds at once (default 1)
#   LTOBISECT_WORK_DIR   the work directory (--work-dir)
#   LTOBISECT            the command to run (default: ltobisect)
#
#   LTOBISECT_SCHEDULER=tcp://A:8786 LTOBISECT_WORKERS=8 examples/hook-ci.sh out build.log
set -uo pipefail

usage="usage: hook-ci.sh <build-dir> <build-log>"
build_dir=${1:?$usage}
build_log=${2:?$usage}
ARTIFACTS=${ARTIFACTS:-$PWD/ltobisect-artifacts}
BUDGET=${LTOBISECT_BUDGET:-2h}
read -r -a ltobisect <<< "${LTOBISECT:-ltobisect}"

# ltobisect claims $ARTIFACTS only if it is new, empty or its own: the log is written beside it
# while the hook runs, and appended to $ARTIFACTS/hook.log at the end (a rerun that continues the
# session keeps the earlier runs' lines). Appending creates hook.log as ltobisect creates its
# artifacts, readable under the usual umask; the temporary log itself is private (mktemp).
[ -e "$ARTIFACTS" ] && made_artifacts=0 || made_artifacts=1
log=$(mktemp "${TMPDIR:-/tmp}/ltobisect-hook.XXXXXX") || exit 2

keep_log() {
    if [ "$made_artifacts" = 1 ] || [ -f "$ARTIFACTS/session.json" ] ||
            [ -f "$ARTIFACTS/each-failure.json" ]; then
        mkdir -p "$ARTIFACTS" && cat "$log" >>"$ARTIFACTS/hook.log" && rm -f "$log"
    else
        echo "hook-ci.sh: $ARTIFACTS is not ltobisect's; the log stays in $log" >&2
    fi
}
trap keep_log EXIT

cmd=("${ltobisect[@]}" hook --build-dir "$build_dir" --log "$build_log" --budget "$BUDGET"
     --out "$ARTIFACTS")
[ -n "${LTOBISECT_SCHEDULER:-}" ] && cmd+=(--scheduler "$LTOBISECT_SCHEDULER")
[ -n "${LTOBISECT_WORKERS:-}" ] && cmd+=(--workers "$LTOBISECT_WORKERS")
[ -n "${LTOBISECT_WORK_DIR:-}" ] && cmd+=(--work-dir "$LTOBISECT_WORK_DIR")

echo "hook-ci.sh: $(date -u '+%Y-%m-%d %H:%M:%S UTC'): minimizing the config of $build_dir" \
     "with ltobisect (budget $BUDGET, artifacts in $ARTIFACTS)" >>"$log"

# No terminal and no prompt: stdin is empty, both streams go to the log, shown as they come.
tail -n +1 -f "$log" &
shown=$!
# In a session of its own when setsid is there: a CI runner that signals the whole process
# group then reaches ltobisect once, through the trap below, not twice (twice means "kill").
setsid=()
command -v setsid >/dev/null 2>&1 && setsid=(setsid --wait)
"${setsid[@]}" "${cmd[@]}" </dev/null >>"$log" 2>&1 &
pid=$!
# Each signal is passed on as SIGTERM (a clean stop) and remembered, so that the last line says
# what stopped the run rather than blaming the budget.
stopped_by=
for sig in TERM INT HUP; do
    trap "stopped_by=SIG$sig; kill -TERM \"\$pid\" 2>/dev/null" "$sig"
done
while :; do
    wait "$pid"
    hook=$?
    kill -0 "$pid" 2>/dev/null || break  # ended; else a signal interrupted the wait
done
trap - TERM INT HUP
sleep 1  # tail shows the last lines
kill "$shown" 2>/dev/null
wait "$shown" 2>/dev/null

case $hook in
0) outcome="minimized; see $ARTIFACTS/report.txt" ;;
3) outcome="${stopped_by:+stopped by $stopped_by}"
   outcome="${outcome:-the budget ran out}; the best so far is in $ARTIFACTS/report.txt" ;;
4) outcome="the failure did not reproduce (flaky or environment-dependent)" ;;
1) outcome="bad input; see the error above" ;;
130) outcome="killed${stopped_by:+ after $stopped_by}; the journal is intact, a rerun continues" ;;
*) outcome="exit $hook; see the error above" ;;
esac
echo "hook-ci.sh: ltobisect exit $hook: $outcome" | tee -a "$log" >&2
exit "$hook"

"""reproduce.sh: the commands that reproduce the minimized failure from a clean tree.

:func:`reproduce_commands` lists them as a person runs them from the top of a clean tree, with
the attachments copied there (the report prints them; no path of this machine in them);
:func:`reproduce_script` is the script that runs them in a clean output directory. Both are
rendered from the state directory's :class:`~ltobisect.artifacts.facts.Facts`.

The script's exit codes (its header says them too):

- ``sh reproduce.sh [TREE]``: 0 the failure reproduced, 1 it did not (the build passed or
  failed in another way), 2 it could not run (no tree, not a kernel tree, a config target,
  merge_config.sh or the copy of a config failed, the judge failed);
- ``sh reproduce.sh --bisect [TREE]``, for ``git bisect run``: 0 good (the build passed, or a
  test script said the failure is not there), 1 bad (reproduced), 125 skip (it could not run,
  or the build failed in another way, which may hide the failure).

"Reproduced" is ltobisect's own verdict: with python3, judge.py (:mod:`ltobisect.artifacts.judge_bundle`,
ltobisect's matcher written out beside the script) judges the log by the session's signature;
without it, a grep of the failure's own line in its tool's layout
(:mod:`ltobisect.logs.judge_grep`), never of a bare symbol. A TREE that is not a tree, or a single
argument that does not exist, is an error naming it (exit 2): the single OUT_DIR argument of
earlier versions is gone (``-o OUT_DIR``, or ``TREE OUT_DIR``).
"""
from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

from ltobisect.build import make_args
from ltobisect.config import BASELINES, BuildSpec, SessionConfig
from ltobisect.artifacts.judge_bundle import JUDGE_FILE, OLD_PYTHON, OTHER, SHOWS, uses_judge
from ltobisect.logs.judge_grep import fallback_pattern
from ltobisect.model import SignatureKind
from ltobisect.artifacts.facts import Facts
from ltobisect.store.state import TEST_SCRIPT_STEM as _STEM

#: The name of the copy of a ``--test`` script beside the other artifacts (plus its suffix).
TEST_SCRIPT_STEM = _STEM


def _quote(s: str) -> str:
    return shlex.quote(s)


def test_script_name(cfg: SessionConfig) -> Optional[str]:
    """The attached copy's name of the session's ``--test`` script (``test-script.sh``)."""
    if cfg.test_script is None:
        return None
    return TEST_SCRIPT_STEM + Path(cfg.test_script).suffix


def _make_words(b: BuildSpec) -> List[str]:
    """ARCH=, LLVM= and the user's make variables, without -C/O= and without ccache."""
    try:
        args = make_args(replace(b, use_ccache=False), None)
    except Exception:
        args = ["-C", str(b.tree)]
        if b.arch:
            args.append(f"ARCH={b.arch}")
        if b.llvm is not None:
            args.append(f"LLVM={b.llvm}")
        args += list(b.make_vars)
    if args[:1] == ["-C"]:
        args = args[2:]
    return args


def reproduce_commands(facts: Facts, out: str = "out") -> List[str]:
    """The commands, as a person runs them from the top of a clean tree with the attachments
    (fragment.config, baseline.config, minimal.config, the test script) copied there."""
    cfg = facts.config
    if cfg is None:
        return []
    if cfg.test_script is not None:
        return [f"mkdir -p {out} && cp minimal.config {out}/.config",
                f'(cd {out} && ../{test_script_name(cfg)} "$PWD/.config")']
    b = cfg.build
    assert b is not None
    words = " ".join(_quote(w) for w in _make_words(b))
    make = f"make O={out} {words}".rstrip()
    target = facts.target()
    keep = " -k" if b.keep_going else ""
    build = f"{make}{keep} -j$(nproc) {target}".rstrip()
    if not facts.env.get("kernel_tree"):
        return [f"mkdir -p {out} && cp minimal.config {out}/.config", build]
    if cfg.baseline in BASELINES:
        first = f"{make} {cfg.baseline}"
    else:
        first = f"mkdir -p {out} && cp baseline.config {out}/.config"
    return [first,
            f"scripts/kconfig/merge_config.sh -m -O {out} {out}/.config fragment.config",
            f"{make} olddefconfig",
            build]


def _check_snippet(facts: Facts) -> List[str]:
    """Shell lines that set reproduced=1 when $log (and the measurements) show the failure,
    and saw= to the failure the log shows instead (judge.py's words), when it tells."""
    sig = facts.signature
    if sig is None:
        return ['test "$status" -ne 0 && reproduced=1']
    if sig.kind == SignatureKind.MEMORY and sig.threshold is not None:
        kb = int(sig.threshold // 1024)
        return ['rss=$(cat "$out/rss.kb" 2>/dev/null || echo 0)',
                f'echo "peak memory: $rss KB (threshold {kb} KB)"',
                f'test "$rss" -gt {kb} && reproduced=1']
    if sig.kind == SignatureKind.DURATION and sig.threshold is not None:
        return [f'echo "build time: $elapsed s (threshold {sig.threshold:.0f} s)"',
                f'test "$elapsed" -gt {int(sig.threshold)} && reproduced=1']
    if not uses_judge(sig):
        return [f"# a {sig.kind} shows in no log (ltobisect stopped that build itself):",
                "# never reproduced here"]
    pattern = fallback_pattern(sig)
    grep = (f'grep -Eq -e {_quote(pattern)} "$log" && reproduced=1' if pattern
            else ": # no line of a log shows this failure")
    return [
        "# ltobisect's own verdict: judge.py matches the log as the session did (the roots:",
        "# the directories the build ran in, which the matcher leaves out of paths).",
        'if [ "$judge" = python3 ]; then',
        f'    saw=$(python3 "$here/{JUDGE_FILE}" "$log" "$tree" "$out" \\',
        '          "$(cd "$tree" && pwd -P)" "$(cd "$out" && pwd -P)")',
        "    case $? in",
        f"    {SHOWS}) reproduced=1 ;;",
        f"    {OTHER}) ;;",
        f"    {OLD_PYTHON}) judge=grep",
        '       echo "reproduce.sh: judging the log by grep instead, less exactly" >&2 ;;',
        f'    *) cannot "{JUDGE_FILE} could not judge $log" ;;',
        "    esac",
        "fi",
        "# Without python3: the failure's own line, in its tool's layout.",
        f'[ "$judge" = grep ] && {grep}',
    ]


def _choose_judge(facts: Facts) -> List[str]:
    """Shell lines that set judge=python3 or judge=grep before the build, saying why grep."""
    if facts.config is None or facts.config.test_script is not None \
            or not uses_judge(facts.signature):
        return []
    less = "judging the log by grep, less exactly than ltobisect"
    return [
        "judge=grep",
        "if ! command -v python3 >/dev/null 2>&1; then",
        f'    echo "reproduce.sh: no python3: {less}" >&2',
        f'elif [ ! -f "$here/{JUDGE_FILE}" ]; then',
        f'    echo "reproduce.sh: {JUDGE_FILE} is missing beside $0 (attached to the report):" >&2',
        f'    echo "reproduce.sh: {less}" >&2',
        "else",
        "    judge=python3",
        "fi",
    ]


def _header(facts: Facts, what: str) -> List[str]:
    cfg = facts.config
    assert cfg is not None
    kernel = bool(facts.env.get("kernel_tree"))
    if cfg.test_script is not None:
        reads = f"minimal.config and {test_script_name(cfg)}"
        tree_help = ["#   TREE        not needed: the test script builds; passed to it as",
                     "#               $LTOBISECT_TREE when given"]
    else:
        reads = "minimal.config" if not kernel else "fragment.config" \
            if cfg.baseline in BASELINES else "baseline.config and fragment.config"
        tree_help = ["#   TREE        the source tree; default: $LTOBISECT_TREE, else the tree",
                     "#               ltobisect ran on, else the current directory (with --bisect",
                     "#               the current directory first, as `git bisect run` runs it);",
                     "#               a TREE given that is not one: it could not run (below)"]
    if cfg.test_script is not None:
        no = "it did not: the test script exited with another status"
        cannot = "it could not run: a file is missing, or the script exited 125"
        good = "good: the test script found no failure"
        tools = []
    else:
        no = "it did not: the build passed, or failed in another way"
        cannot = ("it could not run: no tree, not a kernel tree, or a config step failed"
                  if kernel else "it could not run: no tree, or the config could not be copied")
        if uses_judge(facts.signature):
            cannot += f", or {JUDGE_FILE} failed"
        good = "good: the build passed"
        tools = ["#   LTOBISECT_CC='ccache clang-16': another compiler command for every make step"]
    return [
        "#!/bin/sh",
        "# Build the configuration ltobisect minimized, in a clean output directory, and check",
        "# for its failure:",
        f"#   {what}",
        "#",
        "# usage: sh reproduce.sh [--bisect] [-o OUT_DIR] [TREE]",
        *tree_help,
        "#   -o OUT_DIR  where to build (default: a new temporary directory)",
        "#   --bisect    exit codes for `git bisect run sh /path/to/reproduce.sh --bisect`",
        "#   sh reproduce.sh TREE OUT_DIR works too (a single argument is always the TREE)",
        *tools,
        f"# It reads {reads} from its own directory.",
        *([f"# The log is judged by {JUDGE_FILE} beside it (ltobisect's own matcher) with python3;",
           "# without python3, by a grep of the error's line, less exactly."]
          if cfg.test_script is None and uses_judge(facts.signature) else []),
        "#",
        "# exit codes:",
        "#   0    the failure reproduced",
        f"#   1    {no}",
        f"#   2    {cannot}",
        "# with --bisect:",
        f"#   0    {good}",
        "#   1    bad: the failure reproduced",
        "#   125  skip: it could not run" + ("" if cfg.test_script is not None
                                            else ", or the build failed in another way"),
    ]


def _common(what: str) -> List[str]:
    """The two ways out (cannot run; a verdict) and the arguments, before any setup step."""
    shown = _sh_text(what)
    return [
        "",
        "bisect=0",
        "for arg in \"$@\"; do",
        "    [ \"$arg\" = --bisect ] && bisect=1",
        "done",
        "# Every way out goes through these two, so that no failing step ends in a code that",
        "# means something else (no `set -e`: a failing setup step must not look like 1).",
        "cannot() {",
        "    echo \"reproduce.sh: cannot run: $*\" >&2",
        "    [ \"$bisect\" = 1 ] && exit 125",
        "    exit 2",
        "}",
        "verdict() {",
        "    case $1 in",
        "    reproduced)",
        f"        echo \"REPRODUCED: {shown}\"",
        "        [ \"$bisect\" = 1 ] && exit 1",
        "        exit 0 ;;",
        "    passed)",
        "        echo \"did not reproduce: the build passed; see $log\"",
        "        [ \"$bisect\" = 1 ] && exit 0",
        "        exit 1 ;;",
        "    declined)",
        "        echo \"did not reproduce: the test script says so (exit status $status); see $log\"",
        "        [ \"$bisect\" = 1 ] && exit 0",
        "        exit 1 ;;",
        "    *)",
        "        echo \"did not reproduce: the build failed in another way\" \\",
        "            \"(exit status $status)${saw:+:}\"",
        "        [ -n \"$saw\" ] && echo \"  $saw\"",
        "        echo \"see $log\"",
        "        [ \"$bisect\" = 1 ] && exit 125",
        "        exit 1 ;;",
        "    esac",
        "}",
        "here=$(cd \"$(dirname \"$0\")\" && pwd) || cannot \"cannot find the directory of $0\"",
        "tree=",
        "out=",
        "arg1=",
        "arg2=",
        "while [ $# -gt 0 ]; do",
        "    case $1 in",
        "    --bisect) ;;",
        "    -o|--out)",
        "        [ $# -ge 2 ] || cannot \"$1 needs a directory\"",
        "        out=$2",
        "        shift ;;",
        "    --out=*) out=${1#--out=} ;;",
        "    -h|--help)",
        "        sed -n '/^#!/d; /^#/!q; s/^# \\{0,1\\}//p' \"$0\"",
        "        exit 0 ;;",
        "    -*) cannot \"unknown option $1 (sh $0 --help)\" ;;",
        "    *)",
        "        if [ -z \"$arg1\" ]; then arg1=$1",
        "        elif [ -z \"$arg2\" ]; then arg2=$1",
        "        else cannot \"too many arguments: $1 (sh $0 --help)\"",
        "        fi ;;",
        "    esac",
        "    shift",
        "done",
        "# A single argument is the TREE, also when it does not exist (then an error naming",
        "# it): earlier versions took it as the output directory, and built in a typo.",
        "tree=$arg1",
        "if [ -n \"$arg2\" ]; then",
        "    [ -z \"$out\" ] || cannot \"two output directories: $out and $arg2\"",
        "    out=$arg2",
        "fi",
    ]


def _out_dir() -> List[str]:
    return [
        "if [ -z \"$out\" ]; then",
        "    out=$(mktemp -d) || cannot \"mktemp -d failed\"  # a new directory under $TMPDIR",
        "fi",
        "mkdir -p \"$out\" || cannot \"cannot create $out\"",
        "out=$(cd \"$out\" && pwd) || cannot \"cannot enter $out\"",
        "log=$out/reproduce.log",
        "status=",
        "saw=",
        "reproduced=0",
    ]


def _tree(facts: Facts) -> List[str]:
    """Which tree, and whether it is one (a kernel tree when the session ran on one)."""
    cfg = facts.config
    assert cfg is not None and cfg.build is not None
    b = cfg.build
    if facts.env.get("kernel_tree"):
        check = ("is_tree() { [ -f \"$1/Makefile\" ] && [ -d \"$1/arch\" ] && "
                 "[ -f \"$1/scripts/kconfig/merge_config.sh\" ]; }")
        kind = "a kernel tree"
    else:
        check = f"is_tree() {{ [ -f \"$1/Makefile\" ] && [ -f \"$1/\"{_quote(b.kconfig_file)} ]; }}"
        kind = "a source tree"
    return [
        f"recorded={_quote(str(b.tree))}",
        check,
        "# The tree: the one given (an error naming it when it is not one), else the first",
        "# of these that is one; else an error naming every place tried.",
        "if [ -n \"$tree\" ]; then",
        "    [ -d \"$tree\" ] || cannot \"no source tree at $tree (sh $0 --help)\"",
        f"    is_tree \"$tree\" || cannot \"$tree is not {kind}\"",
        "elif [ -n \"${LTOBISECT_TREE:-}\" ]; then",
        "    tree=$LTOBISECT_TREE",
        "    [ -d \"$tree\" ] || cannot \"no source tree at $tree (\\$LTOBISECT_TREE)\"",
        f"    is_tree \"$tree\" || cannot \"$tree (\\$LTOBISECT_TREE) is not {kind}\"",
        "elif [ \"$bisect\" = 1 ] && is_tree .; then",
        "    tree=$(pwd)  # git bisect run: the tree being bisected",
        "elif is_tree \"$recorded\"; then",
        "    tree=$recorded",
        "elif is_tree .; then",
        "    tree=$(pwd)",
        "else",
        f"    if [ -d \"$recorded\" ]; then ran=\"is not {kind}\"; else ran=\"does not exist\"; fi",
        "    cannot \"no source tree: none given (sh $0 TREE), \\$LTOBISECT_TREE is not set,\" \\",
        "        \"$recorded (where ltobisect ran) $ran, and the current directory $(pwd)\" \\",
        f"        \"is not {kind}\"",
        "fi",
        "tree=$(cd \"$tree\" && pwd) || cannot \"cannot enter $tree\"",
        "command -v make >/dev/null 2>&1 || cannot \"make is not installed\"",
        "jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)",
    ]


def _build(facts: Facts) -> List[str]:
    cfg = facts.config
    assert cfg is not None and cfg.build is not None
    b = cfg.build
    sig = facts.signature
    words = " ".join(_quote(w) for w in _make_words(b))
    make = " ".join(w for w in ('make -C "$tree" O="$out"', words,
                                '${LTOBISECT_CC:+"CC=$LTOBISECT_CC"}') if w)
    body = _choose_judge(facts) + [
            'echo "tree: $tree"', 'echo "building in $out (log: $log)"',
            'config_log=$out/config.log', ': >"$config_log" || cannot "cannot write to $out"']
    if facts.env.get("kernel_tree"):
        if cfg.baseline in BASELINES:
            body.append(f'{make} {cfg.baseline} >>"$config_log" 2>&1 || '
                        f'cannot "make {cfg.baseline} failed; see $config_log"')
        else:
            body.append('cp "$here/baseline.config" "$out/.config" || '
                        'cannot "cannot copy baseline.config"')
        body += [
            '[ -f "$here/fragment.config" ] || cannot "no fragment.config beside $0"',
            '# merge_config.sh writes its temporary files into the current directory.',
            '(cd "$out" && sh "$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" '
            '"$here/fragment.config") >>"$config_log" 2>&1 || '
            'cannot "merge_config.sh failed; see $config_log"',
            f'{make} olddefconfig >>"$config_log" 2>&1 || '
            'cannot "make olddefconfig failed; see $config_log"',
        ]
    else:
        body.append('cp "$here/minimal.config" "$out/.config" || cannot "cannot copy minimal.config"')
    keep = " -k" if b.keep_going else ""
    build = f'{make}{keep} -j"$jobs" {facts.target()}'.rstrip()
    body.append("start=$(date +%s)")
    if sig is not None and sig.kind == SignatureKind.MEMORY:
        body += ['if [ -x /usr/bin/time ]; then',
                 f'    /usr/bin/time -f %M -o "$out/rss.kb" {build} >"$log" 2>&1',
                 "else",
                 f'    {build} >"$log" 2>&1',
                 "fi"]
    else:
        body.append(f'{build} >"$log" 2>&1')
    body += ["status=$?", "elapsed=$(( $(date +%s) - start ))"]
    body += _check_snippet(facts)
    body += ['[ "$reproduced" = 1 ] && verdict reproduced',
             '[ "$status" = 0 ] && verdict passed',
             "verdict failed"]
    return body


def _test_script(facts: Facts) -> List[str]:
    cfg = facts.config
    assert cfg is not None
    name = test_script_name(cfg)
    return [
        '[ -n "$tree" ] && export LTOBISECT_TREE="$tree"',
        f'script="$here/{name}"',
        f'[ -f "$script" ] || cannot "no {name} beside $0"',
        '[ -x "$script" ] || chmod +x "$script" 2>/dev/null || '
        f'cannot "{name} is not executable (chmod +x it)"',
        'cp "$here/minimal.config" "$out/.config" || cannot "cannot copy minimal.config"',
        'cd "$out" || cannot "cannot enter $out"',
        'echo "running the test script in $out (log: $log)"',
        '"$script" "$out/.config" >"$log" 2>&1',
        "status=$?",
        '[ "$status" = 0 ] && verdict reproduced',
        '[ "$status" = 125 ] && cannot "the test script could not test (exit 125); see $log"',
        "verdict declined",
    ]


def reproduce_script(facts: Facts) -> str:
    """reproduce.sh: run the commands in a clean output dir; exit 0 when the failure shows."""
    cfg = facts.config
    assert cfg is not None
    sig = facts.signature
    what = sig.describe() if sig else "the failure"
    lines = _header(facts, what) + _common(what)
    if cfg.test_script is not None:
        lines += _out_dir() + _test_script(facts)
    else:
        lines += _tree(facts) + _out_dir() + _build(facts)
    return "\n".join(lines) + "\n"


def _sh_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")

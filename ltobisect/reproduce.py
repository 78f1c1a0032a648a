"""reproduce.sh: the commands that reproduce the minimized failure from a clean tree.

:func:`reproduce_commands` lists them as a person runs them from the top of a clean tree (the
report prints them); :func:`reproduce_script` is the script that runs them in a clean output
directory and exits 0 when the failure reproduces (1 when it does not, 2 when a setup step
failed). Both are rendered from the state directory's :class:`~ltobisect.report_facts.Facts`.
"""
from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import List

from ltobisect.build import make_args
from ltobisect.config import BASELINES, BuildSpec
from ltobisect.model import Signature, SignatureKind
from ltobisect.report_facts import Facts


def _quote(s: str) -> str:
    return shlex.quote(s)


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
    """The commands, as a person runs them from the top of a clean tree."""
    cfg = facts.config
    if cfg is None:
        return []
    if cfg.test_script is not None:
        return [f"mkdir -p {out} && cp minimal.config {out}/.config",
                f"cd {out} && {_quote(str(cfg.test_script))} $PWD/.config"]
    b = cfg.build
    assert b is not None
    words = " ".join(_quote(w) for w in _make_words(b))
    make = f"make O={out} {words}".rstrip()
    target = facts.target()
    build = f"{make} -k -j$(nproc) {target}".rstrip()
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


def _check_snippet(facts: Facts) -> str:
    """Shell lines that exit 0 when $log (and the measurements) show the failure."""
    sig = facts.signature
    if sig is None:
        return 'test "$status" -ne 0 && reproduced=1\n'
    if sig.kind == SignatureKind.REGEX:
        pat = _quote(sig.message)
        return (
            f"if command -v python3 >/dev/null 2>&1; then\n"
            f"    python3 -c 'import re,sys; sys.exit(0 if re.search(sys.argv[1], "
            f"open(sys.argv[2], errors=\"replace\").read(), re.M) else 1)' {pat} \"$log\" "
            f"&& reproduced=1\n"
            f"else\n"
            f"    grep -Eq -e {pat} \"$log\" && reproduced=1\n"
            f"fi\n"
        )
    if sig.kind == SignatureKind.MEMORY and sig.threshold is not None:
        kb = int(sig.threshold // 1024)
        return (f'rss=$(cat "$out/rss.kb" 2>/dev/null || echo 0)\n'
                f'echo "peak memory: $rss KB (threshold {kb} KB)"\n'
                f'test "$rss" -gt {kb} && reproduced=1\n')
    if sig.kind == SignatureKind.DURATION and sig.threshold is not None:
        return (f'echo "build time: $elapsed s (threshold {sig.threshold:.0f} s)"\n'
                f'test "$elapsed" -gt {int(sig.threshold)} && reproduced=1\n')
    needle = _needle(facts, sig)
    return f"grep -Fq -e {_quote(needle)} \"$log\" && reproduced=1\n"


def _needle(facts: Facts, sig: Signature) -> str:
    """A literal string of the failing log that identifies the failure for grep -F."""
    log = ""
    path = facts.log_path()
    if path:
        try:
            log = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            log = ""
    for cand in (f"{sig.message}", sig.message.split(" [")[0], sig.location):
        if cand and (not log or cand in log):
            return cand
    return sig.message or sig.kind


def reproduce_script(facts: Facts) -> str:
    """reproduce.sh: run the commands in a clean output dir; exit 0 when the failure shows."""
    cfg = facts.config
    assert cfg is not None
    sig = facts.signature
    what = sig.describe() if sig else "the failure"
    head = [
        "#!/bin/sh",
        "# Reproduce, from a clean output directory, the failure ltobisect minimized:",
        f"#   {what}",
        "# usage: ./reproduce.sh [OUT_DIR]      (default: a new temporary directory)",
        "#   LTOBISECT_TREE=DIR: the source tree (default: the one it was found on)",
        "#   LTOBISECT_CC='ccache clang-16': another compiler command for every make step",
        "# exit: 0 = reproduced, 1 = did not reproduce, 2 = a setup step failed",
        "set -u",
        'here=$(cd "$(dirname "$0")" && pwd)',
        'out=${1:-$(mktemp -d)}',
        'mkdir -p "$out" || exit 2',
        'out=$(cd "$out" && pwd)',
        'log="$out/reproduce.log"',
        "reproduced=0",
    ]
    body: List[str] = []
    if cfg.test_script is not None:
        script = _quote(str(cfg.test_script))
        body += [
            'cp "$here/minimal.config" "$out/.config" || exit 2',
            'echo "running the test script in $out"',
            f'(cd "$out" && {script} "$out/.config") >"$log" 2>&1',
            "status=$?",
            'test "$status" -eq 0 && reproduced=1',
        ]
    else:
        b = cfg.build
        assert b is not None
        tree = _quote(str(b.tree))
        words = " ".join(_quote(w) for w in _make_words(b))
        make = f'make -C "$tree" O="$out" {words} ${{LTOBISECT_CC:+"CC=$LTOBISECT_CC"}}'.rstrip()
        target = facts.target()
        body += [f"tree=${{LTOBISECT_TREE:-{tree}}}", 'echo "building in $out (log: $log)"']
        if facts.env.get("kernel_tree"):
            if cfg.baseline in BASELINES:
                body.append(f'{make} {cfg.baseline} >"$out/config.log" 2>&1 || '
                            '{ echo "baseline failed: $out/config.log"; exit 2; }')
            else:
                body.append('cp "$here/baseline.config" "$out/.config" || exit 2')
            body += [
                'sh "$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" '
                '"$here/fragment.config" >>"$out/config.log" 2>&1 || '
                '{ echo "merge_config.sh failed: $out/config.log"; exit 2; }',
                f'{make} olddefconfig >>"$out/config.log" 2>&1 || '
                '{ echo "olddefconfig failed: $out/config.log"; exit 2; }',
            ]
        else:
            body.append('cp "$here/minimal.config" "$out/.config" || exit 2')
        build = f'{make} -k -j"$(nproc)" {target}'.rstrip()
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
        body.append(_check_snippet(facts).rstrip("\n"))
    tail = [
        'if [ "$reproduced" = 1 ]; then',
        f'    echo "REPRODUCED: {_sh_text(what)}"',
        "    exit 0",
        "fi",
        'echo "did not reproduce (exit status $status); see $log"',
        "exit 1",
    ]
    return "\n".join(head + body + tail) + "\n"


def _sh_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")

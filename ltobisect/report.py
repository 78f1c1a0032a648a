"""The artifacts a tester mails upstream, rendered from the state directory alone.

:func:`render` (``ltobisect report``) and :func:`write_artifacts` (the session, at the end of
every run) read ``session.json``, ``result.json``, ``best.json``/``best.config``, the journal and
the run history, and write:

- ``report.txt``: plain text within 80 columns, ready for a mailing list, carrying what 0-day,
  syzbot and KernelCI reports carry (summary line with the signature, tree and version, ARCH,
  compiler and linker, baseline, the minimal fragment, commands that reproduce from a clean tree,
  the log excerpt, Kconfig warnings, what was searched, flaky observations);
- ``minimal.config`` (the full resolved .config), ``fragment.config`` (the lines to merge);
- ``reproduce.sh``: runs the commands in a clean output directory and exits 0 when the failure
  reproduces (1 when it does not, 2 when a setup step failed);
- ``summary.json``: the same facts for machines.

A partial result (stopped, or not verified) is marked as such in every artifact.
"""
from __future__ import annotations

import json
import os
import shlex
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ltobisect import __version__
from ltobisect import journal as jr
from ltobisect.config import BuildSpec, SessionConfig
from ltobisect.confcheck import summarize
from ltobisect.model import Signature

WIDTH = 80
EXCERPT_FILE = "excerpt.txt"
#: Journal labels of verdicts that are not builds of their own: the bad config's observation
#: (judged again under the signature) and verdicts judged from another signature's build.
_NOT_BUILDS = frozenset({"bad config (observed)", jr.REJUDGED})

_TITLES = {
    "minimized": "",
    "partial": "PARTIAL RESULT",
    "not-reproduced": "NOT REPRODUCED",
    "bad-input": "NOT STARTED (bad input)",
    "infra-error": "STOPPED BY AN INFRASTRUCTURE ERROR",
}

#: How check_with_make fed the fragment to the kernel's tools, in words.
_READINGS = {"appended": "baseline + fragment appended",
             "merge_config": "baseline + fragment merged by merge_config.sh -m"}


def render(state_dir: Path) -> Path:
    """Write every artifact again from ``state_dir``; return the path of report.txt."""
    return write_artifacts(Path(state_dir))["report"]


def write_artifacts(state_dir: Path) -> Dict[str, Path]:
    """Write report.txt, summary.json and, when there is a result, the config artifacts.

    Returns the artifact paths by name: report, summary, minimal_config, fragment, reproduce,
    and ld_reproduce when the tarball exists.
    """
    facts = _Facts.load(Path(state_dir))
    paths: Dict[str, Path] = {}
    if facts.best_changes is not None:
        frag = facts.state / "fragment.config"
        jr.write_atomic(frag, "".join(line + "\n" for line in facts.fragment_lines))
        paths["fragment"] = frag
        if facts.best_config_text is not None:
            minimal = facts.state / "minimal.config"
            jr.write_atomic(minimal, facts.best_config_text)
            paths["minimal_config"] = minimal
        if facts.config is not None:
            script = facts.state / "reproduce.sh"
            jr.write_atomic(script, reproduce_script(facts), mode=0o755)
            paths["reproduce"] = script
    base = facts.state / "baseline.config"
    if facts.config is not None and facts.config.baseline not in ("defconfig", "tinyconfig",
                                                                     "allnoconfig") and base.is_file():
        paths["baseline"] = base  # reproduce.sh starts from it
    ld = facts.result.get("ld_reproduce") or {}
    if ld.get("made") and ld.get("path") and Path(ld["path"]).is_file():
        paths["ld_reproduce"] = Path(ld["path"])
    report = facts.state / "report.txt"
    summary = facts.state / "summary.json"
    paths["report"] = report
    paths["summary"] = summary
    jr.write_atomic(report, report_text(facts, paths))
    jr.write_json_atomic(summary, summary_data(facts, paths))
    return paths


# -- what the state directory says -------------------------------------------------------------
class _Facts:
    """Everything the artifacts are made of, read once from the state directory."""

    def __init__(self, state: Path) -> None:
        self.state = state
        sd = jr.StateDir(state)
        try:
            self.session: Dict[str, Any] = json.loads(sd.session_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.session = {}
        self.result: Dict[str, Any] = sd.read_result() or {}
        self.runs: List[dict] = sd.runs()
        self.config: Optional[SessionConfig] = None
        try:
            if "config" in self.session:
                self.config = jr.config_from_json(self.session["config"])
        except (KeyError, TypeError, ValueError):
            self.config = None
        sig = self.session.get("signature")
        self.signature: Optional[Signature] = Signature.from_json(sig) if sig else None
        self.changes = jr.changes_from_json(self.session.get("changes") or [])
        best = self.result.get("best")
        if best is None and (not self.result or self.result.get("status") in ("partial", "infra-error")):
            best = sd.read_best()  # killed or stopped early: the best so far is on disk
        self.best_changes = jr.changes_from_json(best["changes"]) if best else None
        self.best_digest: Optional[str] = best.get("digest") if best else None
        try:
            self.best_config_text: Optional[str] = (state / jr.BEST_CONFIG).read_text(encoding="utf-8")
        except OSError:
            self.best_config_text = None
        fp = self.session.get("fingerprint")
        ofp = self.session.get("observe_fingerprint")
        try:
            work = self.config.work_dir if self.config is not None and self.config.work_dir else state
            records = jr.Journal(Path(work) / jr.JOURNAL_FILE).records()
        except Exception:
            records = []
        self.records = [r for r in records if r.fingerprint in (fp, ofp)]
        self.status: str = self.result.get("status") or ("partial" if self.best_changes else "bad-input")
        if not self.result and self.best_changes is not None:
            # Killed before the run could write its result: the best so far is on disk.
            self.status = "partial"

    @classmethod
    def load(cls, state: Path) -> "_Facts":
        return cls(state)

    @property
    def fragment_lines(self) -> Tuple[str, ...]:
        return tuple(c.line() for c in self.best_changes or ())

    @property
    def build(self) -> Optional[BuildSpec]:
        return self.config.build if self.config else None

    @property
    def env(self) -> Dict[str, Any]:
        return self.session.get("environment") or {}

    @property
    def counted(self) -> List[jr.JournalRecord]:
        """One record per build: the bad config's observation is replaced by its judged record."""
        derived = any(r.label == "bad config (observed)" for r in self.records)
        return [r for r in self.records if not (derived and r.label == "bad config")]

    @property
    def conf(self) -> Dict[str, Any]:
        """Builds whose own conf built another config than ours (``confcheck.summarize``)."""
        return summarize([r for r in self.records if r.label not in _NOT_BUILDS], self.best_digest)

    @property
    def failure_line(self) -> str:
        """The log line of the failure, as a maintainer greps for it ("" when unknown)."""
        if self.signature is not None and self.signature.line:
            return self.signature.line
        listed = self.session.get("log_failures") or []
        n = self.session.get("failure_number")
        if isinstance(n, int) and 1 <= n <= len(listed):
            return str(listed[n - 1].get("line", ""))
        return ""

    @property
    def builds(self) -> int:
        return sum(1 for r in self.records if r.label not in _NOT_BUILDS)

    @property
    def cache_hits(self) -> int:
        return sum(int(r.get("cache_hits", 0)) for r in self.runs)

    @property
    def wall(self) -> float:
        return sum(float(r.get("elapsed", 0.0)) for r in self.runs)

    @property
    def build_seconds(self) -> float:
        return sum(r.outcome.duration for r in self.records if r.label not in _NOT_BUILDS)

    @property
    def verified(self) -> bool:
        return self.status == "minimized"

    def target(self) -> str:
        b = self.build
        if b is None:
            return default_target(self.signature)
        return build_target(b, self.signature)

    def log_path(self) -> Optional[str]:
        return self.result.get("best_log") or (self.session.get("bad_outcome") or {}).get("log_path")

    def excerpt(self) -> Tuple[str, str]:
        """(excerpt text, where it came from); cached in excerpt.txt for when logs are gone."""
        cache = self.state / EXCERPT_FILE
        path = self.log_path()
        text = ""
        if path:
            try:
                log = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                log = None
            if log is not None:
                from ltobisect import signature as sg

                roots = [str(self.build.tree)] if self.build else []
                text = sg.excerpt(log, self.signature, 10, roots=roots).strip("\n")
                if not text.strip():
                    text = "(the build log is empty)"
                try:
                    jr.write_atomic(cache, text + "\n")
                except Exception:
                    pass
                return text, path
        try:
            cached = cache.read_text(encoding="utf-8").rstrip("\n")
        except OSError:
            cached = ""
        if cached:
            return cached, f"{path} (no longer on disk; excerpt saved earlier)"
        if self.session.get("bad_outcome", {}).get("detail"):
            return self.session["bad_outcome"]["detail"], "the bad config's test"
        return "(no build log was recorded)", "-"


def default_target(sig: Optional[Signature]) -> str:
    """The make target that shows a failure: vmlinux for link-time ones, the object's
    directory for a compile error (it builds only what the config enables), else the default."""
    if sig is None:
        return ""
    if sig.kind in ("link-error", "modpost") or sig.tool.startswith("ld"):
        return "vmlinux"
    if sig.kind == "compile-error" and "/" in sig.location:
        path = sig.location.split(":", 1)[0]
        return path.rsplit("/", 1)[0] + "/"
    return ""


def build_target(b: BuildSpec, sig: Optional[Signature]) -> str:
    """The target the oracle builds for ``sig`` (the same rule, so the commands match the tests)."""
    try:
        from ltobisect.oracle import targets_for

        return " ".join(targets_for(b, sig))
    except ImportError:
        return b.target or default_target(sig)


# -- reproduce.sh ------------------------------------------------------------------------------
def _quote(s: str) -> str:
    return shlex.quote(s)


def _make_words(b: BuildSpec) -> List[str]:
    """ARCH=, LLVM= and the user's make variables, without -C/O= and without ccache."""
    try:
        from ltobisect.build import make_args

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


def reproduce_commands(facts: "_Facts", out: str = "out") -> List[str]:
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
    if cfg.baseline in ("defconfig", "tinyconfig", "allnoconfig"):
        first = f"{make} {cfg.baseline}"
    else:
        first = f"mkdir -p {out} && cp baseline.config {out}/.config"
    return [first,
            f"scripts/kconfig/merge_config.sh -m -O {out} {out}/.config fragment.config",
            f"{make} olddefconfig",
            build]


def _check_snippet(facts: "_Facts") -> str:
    """Shell lines that exit 0 when $log (and the measurements) show the failure."""
    sig = facts.signature
    if sig is None:
        return 'test "$status" -ne 0 && reproduced=1\n'
    if sig.kind == "regex":
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
    if sig.kind == "memory" and sig.threshold is not None:
        kb = int(sig.threshold // 1024)
        return (f'rss=$(cat "$out/rss.kb" 2>/dev/null || echo 0)\n'
                f'echo "peak memory: $rss KB (threshold {kb} KB)"\n'
                f'test "$rss" -gt {kb} && reproduced=1\n')
    if sig.kind == "duration" and sig.threshold is not None:
        return (f'echo "build time: $elapsed s (threshold {sig.threshold:.0f} s)"\n'
                f'test "$elapsed" -gt {int(sig.threshold)} && reproduced=1\n')
    needle = _needle(facts, sig)
    return f"grep -Fq -e {_quote(needle)} \"$log\" && reproduced=1\n"


def _needle(facts: "_Facts", sig: Signature) -> str:
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


def reproduce_script(facts: "_Facts") -> str:
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
            if cfg.baseline in ("defconfig", "tinyconfig", "allnoconfig"):
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
        if sig is not None and sig.kind == "memory":
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


# -- report.txt --------------------------------------------------------------------------------
def _wrap(text: str, indent: str = "", width: int = WIDTH) -> List[str]:
    """Lines of at most ``width`` columns (long words are broken, never lost)."""
    out: List[str] = []
    for raw in text.splitlines() or [""]:
        line = raw.expandtabs(8).rstrip()
        if len(indent + line) <= width:
            out.append(indent + line)
            continue
        out.extend(textwrap.wrap(line, width=width, initial_indent=indent,
                                 subsequent_indent=indent + "    ", break_long_words=True,
                                 break_on_hyphens=False, drop_whitespace=True) or [indent])
    return out


def _squeeze(line: str, width: int) -> str:
    """A log line that is too long, with its inner runs of spaces (lld's ``>>>`` alignment)
    made single, so that it wraps at words of its own rather than at the alignment."""
    line = line.expandtabs(8).rstrip()
    if len(line) <= width:
        return line
    head = line[: len(line) - len(line.lstrip())]
    return head + " ".join(line.split())


def _field(name: str, value: Any) -> List[str]:
    return _wrap(f"{name + ':':<12}{value}")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def report_text(facts: "_Facts", paths: Dict[str, Path]) -> str:
    """The mailing-list report (every line within 80 columns)."""
    L: List[str] = []
    sig = facts.signature
    res = facts.result
    cfg = facts.config
    b = facts.build
    status = facts.status
    headline = sig.describe() if sig else (res.get("message") or "no failure signature")
    L += _wrap(f"ltobisect: {headline}")
    L.append("")
    title = _TITLES.get(status, status.upper())
    if title:
        L += _wrap(f"*** {title}: {res.get('message') or 'the run did not finish'}")
        if res.get("hint"):
            L += _wrap(f"    {res['hint']}")
        L.append("")

    conf = facts.conf
    best_conf = conf["best_conf_disagreement"]
    if best_conf is not None and facts.best_changes is not None:
        L += _wrap(f"*** WARNING: the fragment is not exact for the kernel's conf: building the "
                   f"result, conf made another config of it ({best_conf['total']} setting(s) "
                   "differ from ours):")
        for line in best_conf["symbols"]:
            L += _wrap(line, "    ")
        L.append("")

    n_total = len(facts.changes)
    base = cfg.baseline if cfg else "?"
    if facts.best_changes is not None:
        n = len(facts.best_changes)
        ver = res.get("verification") or {}
        if facts.verified:
            how = f"verified, {ver.get('repeats', 0)} rebuilds"
        else:
            how = "NOT verified: the best found so far"
        L += _wrap(f"Minimal fragment: {n} of {n_total} changes against "
                   f"{Path(base).name if os.sep in base else base} ({how}):")
        L.append("")
        for line in facts.fragment_lines or ("(none: the baseline alone fails)",):
            L += _wrap(line, "  ")
        L.append("")

    L += _field("Tree", facts.env.get("tree") or (b.tree if b else "?"))
    kv = facts.env.get("kernelversion")
    gd = facts.env.get("git_describe")
    if kv or gd:
        L += _field("Version", " ".join(x for x in (kv, f"(git {gd})" if gd else "") if x))
    if b is not None:
        if b.arch:
            L += _field("ARCH", b.arch)
        if b.llvm is not None:
            L += _field("LLVM", b.llvm)
        tools = facts.env.get("toolchain") or {}
        for key, name in (("clang", "Compiler"), ("cc", "Compiler"), ("ld.lld", "Linker")):
            if key in tools:
                L += _field(name, tools[key])
        if b.make_vars:
            L += _field("Make vars", " ".join(b.make_vars))
        if cfg is not None and cfg.test_script is None:
            L += _field("Target", facts.target() or "(make's default goal)")
    if cfg is not None:
        L += _field("Baseline", cfg.baseline)
        L += _field("Bad config", cfg.bad_config)
        if cfg.test_script is not None:
            L += _field("Test", cfg.test_script)
    L.append("")

    cmds = reproduce_commands(facts)
    if cmds and facts.best_changes is not None:
        L += _wrap("Reproduce from a clean tree (reproduce.sh runs these and checks the error):")
        L.append("")
        for c in cmds:
            L += _wrap(c, "  ")
        L.append("")

    text, where = facts.excerpt()
    L += _wrap(f"{'Error' if sig is not None else 'Log excerpt'} (from {where}):")
    L.append("")
    for line in text.splitlines():
        L += _wrap(_squeeze(line, WIDTH - 2), "  ")
    L.append("")

    warnings = list((res.get("best") or {}).get("warnings") or [])
    ineffective = list((res.get("best") or {}).get("ineffective") or [])
    tree_warnings = list(facts.session.get("kconfig_warnings") or [])
    if warnings or ineffective or tree_warnings:
        L.append("Kconfig warnings:")
        for w in warnings[:10]:
            L += _wrap(w, "  ")
        for w in ineffective[:10]:
            L += _wrap(f"not applied: {w}", "  ")
        if tree_warnings:
            L += _wrap(f"(loading the Kconfig tree printed {len(tree_warnings)} other warning(s); "
                       "see session.json)", "  ")
        L.append("")

    ver = res.get("verification") or {}
    if ver or res.get("ld_reproduce"):
        L.append("Verification:")
        verdicts = ver.get("verdicts") or []
        if verdicts:
            L += _wrap(f"rebuilt {len(verdicts)} time(s): {', '.join(verdicts)}", "  ")
        elif ver:
            L += _wrap("not rebuilt (verify repeats 0)", "  ")
        if ver.get("minimality_checked"):
            L += _wrap("removing any single line stops the failure (each rebuilt twice)", "  ")
        mk = ver.get("olddefconfig") or {}
        if mk.get("checked"):
            if mk.get("equal"):
                L += _wrap("make olddefconfig resolves baseline + fragment to the same .config, "
                           "appended and through merge_config.sh -m", "  ")
            else:
                ways = [_READINGS.get(k, k) for k, r in (mk.get("readings") or {}).items()
                        if not r.get("equal")] or ["baseline + fragment"]
                L += _wrap(f"WARNING: NOT EXACT: make olddefconfig resolves {' and '.join(ways)} "
                           f"to another .config than the one tested ({mk.get('differing')} "
                           "symbols):", "  ")
                for d in mk.get("diff", [])[:8]:
                    L += _wrap(d, "    ")
        elif mk.get("note"):
            L += _wrap(f"make olddefconfig not compared: {mk['note']}", "  ")
        ld = res.get("ld_reproduce") or {}
        if ld:
            if ld.get("made"):
                L += _wrap(f"reproduce.sh reproduced it; ld.lld --reproduce tarball: "
                           f"{Path(ld['path']).name}", "  ")
            else:
                L += _wrap(f"ld.lld --reproduce tarball not made: {ld.get('reason')}", "  ")
        L.append("")

    L.append("Search:")
    L += _wrap(f"changes at start: {n_total} (bad config against {base})", "  ")
    L += _wrap(f"builds: {facts.builds}, cache hits: {facts.cache_hits}, wall time "
               f"{_clock(facts.wall)}, build time {_clock(facts.build_seconds)}", "  ")
    counts = jr.verdict_counts(facts.counted)
    if counts:
        L += _wrap("verdicts: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), "  ")
    if cfg is not None:
        timeout = facts.session.get("timeout")
        L += _wrap(f"strategy {cfg.strategy}, seed {cfg.seed}, {cfg.workers} worker(s)"
                   + (f", test timeout {_clock(float(timeout))}" if timeout else ""), "  ")
    if conf["conf_disagreements"]:
        L += _wrap(f"the kernel's conf built another config than ours in "
                   f"{conf['conf_disagreements']} build(s): "
                   + "; ".join(conf["conf_disagreement_symbols"][:5]), "  ")
    flaky = res.get("flaky") or []
    if flaky:
        L += _wrap(f"flaky: {len(flaky)} config(s) gave different verdicts when rebuilt:", "  ")
        for f in flaky[:10]:
            L += _wrap(f["line"], "    ")
    else:
        L += _wrap("flaky: none observed", "  ")
    L.append("")
    attached = [p.name for k, p in paths.items() if k not in ("report", "summary")]
    if attached:
        L += _wrap("Attached: " + ", ".join(sorted(attached)))
    L.append(f"-- ltobisect {__version__}")
    return "\n".join(L) + "\n"


# -- summary.json ------------------------------------------------------------------------------
def summary_data(facts: "_Facts", paths: Dict[str, Path]) -> Dict[str, Any]:
    """The machine-readable summary."""
    res = facts.result
    cfg = facts.config
    b = facts.build
    sig = facts.signature
    excerpt, where = facts.excerpt()
    ld = res.get("ld_reproduce") or {}
    return {
        "status": facts.status,
        "exit_code": res.get("exit_code"),
        "message": res.get("message", ""),
        "hint": res.get("hint", ""),
        "partial": facts.status == "partial",
        "verified": facts.verified,
        "signature": dict(sig.to_json(), describe=sig.describe()) if sig else None,
        "failure_line": facts.failure_line,
        "failure_number": facts.session.get("failure_number"),
        "log_failures": len(facts.session.get("log_failures") or []),
        "fragment": list(facts.fragment_lines) if facts.best_changes is not None else None,
        "best_size": len(facts.best_changes) if facts.best_changes is not None else None,
        "total_changes": len(facts.changes),
        "best_digest": facts.best_digest,
        "counts": {
            "builds": facts.builds,
            "cache_hits": facts.cache_hits,
            "verdicts": jr.verdict_counts(facts.counted),
            "flaky": len(res.get("flaky") or []),
            "runs": len(facts.runs),
        },
        "flaky": res.get("flaky") or [],
        **facts.conf,
        "durations": {
            "wall": round(facts.wall, 3),
            "build": round(facts.build_seconds, 3),
            "bad_build": (facts.session.get("bad_outcome") or {}).get("duration"),
            "timeout": facts.session.get("timeout"),
        },
        "verification": res.get("verification"),
        "tree": facts.env.get("tree") or (str(b.tree) if b else None),
        "kernelversion": facts.env.get("kernelversion"),
        "git_describe": facts.env.get("git_describe"),
        "toolchain": facts.env.get("toolchain"),
        "arch": b.arch if b else None,
        "llvm": b.llvm if b else None,
        "make_vars": list(b.make_vars) if b else [],
        "target": facts.target() if cfg is not None and cfg.test_script is None else None,
        "baseline": cfg.baseline if cfg else None,
        "bad_config": str(cfg.bad_config) if cfg else None,
        "excerpt": excerpt,
        "log": where,
        "ld_reproduce": {"made": bool(ld.get("made")), "path": ld.get("path"),
                         "reason": ld.get("reason", "" if ld else "not a link failure"
                                          if not (sig and sig.kind == "link-error")
                                          else "not attempted (result not verified)")},
        "paths": {k: str(v) for k, v in paths.items()} | {"state_dir": str(facts.state)},
    }

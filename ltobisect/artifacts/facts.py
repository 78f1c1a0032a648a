"""The facts every artifact of a session is made of, read once from its state directory.

:class:`Facts` reads ``session.json``, ``result.json``, ``best.json``/``best.config``, the
journal and the run history; the report (:mod:`ltobisect.artifacts.report`), the reproduce script
(:mod:`ltobisect.artifacts.reproduce`) and the summary (:mod:`ltobisect.artifacts.summary`) are rendered from it
alone. :func:`build_target` names the make target the oracle builds for a signature, so the
commands the artifacts print match the tests that were run.

What a maintainer reads is made relative here: :meth:`Facts.relative` removes this machine's
directories (the tree, the state and work directories, the build's O= directories) from a
text, and :func:`error_lines` keeps, of a log excerpt, the lines that show the error (not
kbuild's progress lines nor make's directory chatter).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ltobisect.store import journal as jr
from ltobisect import history
from ltobisect.matrix import llvm
from ltobisect.matrix import lto
from ltobisect.logs import signature as sg
from ltobisect.store import state as st
from ltobisect.config import BuildSpec, SessionConfig, config_from_json
from ltobisect.confcheck import summarize
from ltobisect.kconfig.env import kernelversion as makefile_version
from ltobisect.logs.lognorm import MAKE_LINE, strip_roots, with_log_roots
from ltobisect.logs.logtools import MAKE_ERROR
from ltobisect.model import Label, SessionStatus, Signature, SignatureKind
from ltobisect.textfit import plural
from ltobisect.logs.kinds import make_targets
from ltobisect.oracle import targets_for

#: Where the log excerpt is kept, for when the build logs are gone.
EXCERPT_FILE = "excerpt.txt"
#: Journal labels of verdicts that are not builds of their own: the bad config's observation
#: (judged again under the signature) and verdicts judged from another signature's build.
_NOT_BUILDS = Label.not_builds()


class Facts:
    """Everything the artifacts are made of, read once from the state directory.

    ``doc`` is session.json and ``result`` result.json (:mod:`ltobisect.store.state`); a run killed
    before it wrote its result reads as partial when a best result is on disk.
    """

    def __init__(self, state: Path) -> None:
        self.state = state
        sd = st.StateDir(state)
        try:
            self.doc = st.SessionDoc.from_json(json.loads(sd.session_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            self.doc = st.SessionDoc(identity={}, created=0.0)
        stored = sd.read_result()
        self.runs: List[dict] = sd.runs()
        self.config: Optional[SessionConfig] = None
        try:
            if self.doc.config:
                self.config = config_from_json(self.doc.config)
        except (KeyError, TypeError, ValueError):
            self.config = None
        self.signature: Optional[Signature] = self.doc.signature
        self.changes = self.doc.changes or ()
        result = st.ResultDoc.from_json(stored) if stored else None
        best = result.best if result is not None else None
        if best is None and (result is None or result.status in (SessionStatus.PARTIAL,
                                                                 SessionStatus.INFRA_ERROR)):
            best = sd.read_best()  # killed or stopped early: the best so far is on disk
        self.best_changes = jr.changes_from_json(best["changes"]) if best else None
        self.best_digest: Optional[str] = best.get("digest") if best else None
        try:
            self.best_config_text: Optional[str] = (state / st.BEST_CONFIG).read_text(encoding="utf-8")
        except OSError:
            self.best_config_text = None
        try:
            work = self.config.work_dir if self.config is not None and self.config.work_dir else state
            records = jr.Journal(Path(work) / jr.JOURNAL_FILE, repair=False).records()
        except Exception:
            records = []
        fps = (self.doc.fingerprint, self.doc.observe_fingerprint)
        # The LLVM matrix builds under each release's own fingerprint: they are builds too.
        self.records = [r for r in records if r.fingerprint in fps or r.label == Label.LLVM_MATRIX]
        if result is None:
            # Killed before the run could write its result: the best so far is on disk.
            status = SessionStatus.PARTIAL if self.best_changes is not None else SessionStatus.BAD_INPUT
            result = st.ResultDoc(status=status, exit_code=0, message="")
        self.result: st.ResultDoc = result
        self.wrote_result = stored is not None
        self.status: SessionStatus = result.status

    @classmethod
    def load(cls, state: Path) -> "Facts":
        return cls(state)

    @property
    def fragment_lines(self) -> Tuple[str, ...]:
        return tuple(c.line() for c in self.best_changes or ())

    @property
    def build(self) -> Optional[BuildSpec]:
        return self.config.build if self.config else None

    @property
    def env(self) -> Dict[str, Any]:
        return self.doc.environment

    @property
    def counted(self) -> List[jr.JournalRecord]:
        """One record per build: the bad config's observation is replaced by its judged record."""
        derived = any(r.label == Label.DERIVED for r in self.records)
        return [r for r in self.records if not (derived and r.label == Label.BAD_CONFIG)]

    @property
    def conf(self) -> Dict[str, Any]:
        """Builds whose own conf built another config than ours (``confcheck.summarize``)."""
        return summarize([r for r in self.records if r.label not in _NOT_BUILDS], self.best_digest)

    @property
    def failure_line(self) -> str:
        """The log line of the failure, as a maintainer greps for it ("" when unknown)."""
        if self.signature is not None and self.signature.line:
            return self.signature.line
        listed = self.doc.log_failures
        n = self.doc.failure_number
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
        """Every verification that was asked for passed (see ``ltobisect.conductor.finish``)."""
        return self.status is SessionStatus.MINIMIZED and self.result.verified

    def target(self) -> str:
        b = self.build
        if b is None:  # a --test session: what a kernel build of this failure would need
            return " ".join(make_targets(self.signature))
        return build_target(b, self.signature)

    def log_path(self) -> Optional[str]:
        bad = self.doc.bad_outcome
        return self.result.best_log or (bad.log_path if bad is not None else None)

    def roots(self, log_text: str = "") -> Tuple[str, ...]:
        """This machine's directories a text may name: the tree, the state and work
        directories, and the directories ``log_text``'s build ran in (its O= directory)."""
        dirs = [str(self.build.tree)] if self.build else []
        tree = self.env.get("tree")
        if tree:
            dirs.append(str(tree))
        if self.config is not None and self.config.work_dir:
            dirs.append(str(self.config.work_dir))
        dirs.append(str(self.state))
        for d in list(dirs):
            try:
                dirs.append(str(Path(d).resolve()))
            except OSError:
                pass
        dirs = [d for d in dirs if Path(d).is_absolute() and d != "/"]  # never a bare word
        return with_log_roots(log_text, dirs) if log_text else tuple(dict.fromkeys(dirs))

    def relative(self, text: str, log_text: str = "") -> str:
        """``text`` with this machine's directories removed (see :meth:`roots`)."""
        return strip_roots(text, self.roots(log_text or text))

    @property
    def headline(self) -> str:
        """The report's first line, as a mail's subject: ``ltobisect: `` and the error line as
        the log shows it, without this machine's directories (for a ``--signature`` regex,
        followed by the regex); else the signature in words, else the result's message."""
        sig = self.signature
        line = self.failure_line.strip()
        if sig is not None and sig.kind == SignatureKind.REGEX:
            said = sig.describe() if sig.line else (f"{line} (log matches /{sig.message}/)"
                                                     if line else sig.describe())
        elif line:
            said = line
        else:
            said = sig.describe() if sig is not None else (self.result.message
                                                            or "no failure signature")
        return "ltobisect: " + self.relative(said)

    @property
    def kernelversion(self) -> Optional[str]:
        """The tree's version from its top Makefile (VERSION.PATCHLEVEL.SUBLEVEL EXTRAVERSION),
        as the session recorded it; read from the tree for sessions that did not record it."""
        if "kernelversion" in self.env:
            return self.env.get("kernelversion") or None
        tree = self._tree_dir()
        return makefile_version(tree) if tree is not None else None

    @property
    def git_describe(self) -> Optional[str]:
        """``git describe --always --dirty`` of a tree that is a git checkout, as the session
        recorded it; asked (briefly) for sessions that did not record it."""
        if "git_describe" in self.env:
            return self.env.get("git_describe") or None
        tree = self._tree_dir()
        return history.describe(tree, timeout=5.0) if tree is not None else None

    def _tree_dir(self) -> Optional[Path]:
        tree = self.env.get("tree") or (str(self.build.tree) if self.build else None)
        return Path(tree) if tree and Path(tree).is_dir() else None

    def _stored(self, name: str) -> Any:
        """A field of the result: the loaded one's, else result.json's as written (a field the
        loaded document did not know)."""
        raw = getattr(self.result, name, None)
        if raw is None and self.wrote_result:
            try:
                stored = json.loads((self.state / st.RESULT_FILE).read_text(encoding="utf-8"))
                raw = stored.get(name) if isinstance(stored, dict) else None
            except (OSError, ValueError):
                raw = None
        return raw

    @property
    def lto_matrix(self) -> Optional[Dict[str, Any]]:
        """The result's builds in the other LTO modes (result.json's ``lto_matrix``, see
        :mod:`ltobisect.matrix.lto`), or None (no LTO, or a result.json written before it).

        Read defensively: a matrix without ``reported`` gets the result's own LTO mode, and
        that mode's own entry, if listed, is left to the ``(as reported)`` part.
        """
        raw = self._stored("lto_matrix")
        if not isinstance(raw, dict) or not isinstance(raw.get("modes"), list):
            return None
        reported = raw.get("reported") or lto.lto_mode(self.best_config_text or "")
        if reported not in lto.MODES:
            return None
        modes = [{"lto": str(m["lto"]), "outcome": str(m["outcome"]),
                  "detail": str(m.get("detail") or "")}
                 for m in raw["modes"]
                 if isinstance(m, dict) and m.get("lto") and m.get("outcome")
                 and m["lto"] != reported]
        return {"reported": reported, "modes": modes, "note": str(raw.get("note") or "")}

    def lto_matrix_line(self) -> str:
        """``LTO matrix: fails with ThinLTO (as reported); builds without LTO; ...`` ("" when
        the result has no matrix)."""
        said = lto.describe(self.lto_matrix)
        return self.relative(f"LTO matrix: {said}") if said else ""

    @property
    def llvm_matrix(self) -> Optional[Dict[str, Any]]:
        """The result's builds with other LLVM releases (result.json's ``llvm_matrix``, see
        :mod:`ltobisect.matrix.llvm`), or None (not asked for)."""
        raw = self._stored("llvm_matrix")
        if not isinstance(raw, dict) or not isinstance(raw.get("releases"), list):
            return None
        releases = [{"llvm": str(r["llvm"]), "outcome": str(r["outcome"]),
                     "detail": str(r.get("detail") or ""),
                     "meaning": [str(x) for x in r.get("meaning") or []]}
                    for r in raw["releases"]
                    if isinstance(r, dict) and str(r.get("llvm", "")).isdigit() and r.get("outcome")]
        return {"reported": raw.get("reported"), "releases": releases,
                "note": str(raw.get("note") or "")}

    def llvm_matrix_line(self) -> str:
        """``LLVM: fails with 16, 19; builds with 14; first failing release: 16`` ("" when the
        result has no LLVM matrix)."""
        said = llvm.describe(self.llvm_matrix)
        return f"LLVM: {said}" if said else ""

    def log_priors_line(self) -> str:
        """``The log pointed at KCOV_ENABLE_COMPARISONS, DEBUG_INFO: their 3 changes reproduced
        (the guess held)`` ("" when no guess was made)."""
        return priors_line(getattr(self.result, "log_priors", None))

    def kconfig_warnings(self) -> List[str]:
        """Kconfig's warnings about the result, the changes it could not apply, and what
        loading the tree's Kconfig files printed (each part headed by a ``#`` line)."""
        best = self.result.best or {}
        parts = (("# Kconfig warnings for the minimal config", list(best.get("warnings") or [])),
                 ("# changes of the fragment Kconfig did not apply",
                  [f"not applied: {w}" for w in best.get("ineffective") or []]),
                 ("# warnings printed while reading the tree's Kconfig files",
                  list(self.doc.kconfig_warnings)))
        out: List[str] = []
        for head, lines in parts:
            if lines:
                out += [head, *(self.relative(str(w)) for w in lines)]
        return out

    def excerpt(self) -> Tuple[str, str]:
        """(excerpt text, where it came from); cached in excerpt.txt for when logs are gone.

        The text is the error and the lines around it (:func:`error_lines`), without this
        machine's directories.
        """
        cache = self.state / EXCERPT_FILE
        path = self.log_path()
        text = ""
        if path:
            try:
                log = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                log = None
            if log is not None:
                roots = self.roots(log)
                raw = sg.excerpt(log, self.signature, 15, roots=roots).strip("\n")
                keep = (self.signature.line,) if self.signature is not None else ()
                text = error_lines(strip_roots(raw, roots), keep).strip("\n")
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
            return (self.relative(error_lines(cached)),
                    f"{path} (no longer on disk; excerpt saved earlier)")
        if self.doc.bad_outcome is not None and self.doc.bad_outcome.detail:
            return self.relative(self.doc.bad_outcome.detail), "the bad config's test"
        return "(no build log was recorded)", "-"


#: kbuild's progress lines (``  CC      fs/x.o``, ``  LD [M]  drivers/y.ko``, ``  GEN     Makefile``):
#: what was built, not what failed.
_PROGRESS = re.compile(r"^ {2}[A-Z][A-Z0-9_.]{0,11}(?: \[[A-Z]\])? +\S+$")
#: What make says about itself, around an error of the tools it runs.
_MAKE_CHATTER = re.compile(
    r"^g?make(?:\[\d+\])?: (?:Entering directory|Leaving directory|\*\*\* Waiting for unfinished jobs|"
    r"Target .* not remade because of errors|Nothing to be done for)"
)
#: A compiler diagnostic: the source line it quotes may look like a progress line.
_DIAGNOSTIC = re.compile(r"^\S+:\d+(?::\d+)?: (?:fatal error|error|warning|note): ")


def error_lines(text: str, keep: Sequence[str] = ()) -> str:
    """The lines of a log excerpt that show the error and its context.

    Drops kbuild's progress lines and make's own chatter (entering and leaving directories,
    ``*** [target] Error N``, waiting for jobs, targets not remade); keeps make's lines that are
    errors themselves (``No rule to make target``), any line equal to one of ``keep`` (the
    failure's own line), and the source line a compiler quotes under its diagnostic. Blank
    lines at either end go, runs of them become one. When nothing would be left, the excerpt
    is returned as it was.
    """
    lines = text.splitlines()
    wanted = {k.strip() for k in keep if k and k.strip()}
    out: List[str] = []
    for i, ln in enumerate(lines):
        plain = ln.rstrip()
        if plain.strip() in wanted:
            out.append(plain)
            continue
        if _PROGRESS.match(plain) and not (i > 0 and _DIAGNOSTIC.match(lines[i - 1])):
            continue
        if MAKE_LINE.match(plain) and (_MAKE_CHATTER.match(plain) or MAKE_ERROR.match(plain)):
            continue
        if not plain.strip() and (not out or not out[-1].strip()):
            continue
        out.append(plain)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) if out else text


def build_target(b: BuildSpec, sig: Optional[Signature]) -> str:
    """The target the oracle builds for ``sig`` (the same rule, so the commands match the tests)."""
    return " ".join(targets_for(b, sig))


def reduced_line(outcome: Dict[str, Any]) -> str:
    """What ``ltobisect reduce`` made, in one line (or why it made nothing): the report's
    sentence and summary.json's ``reduced.line``."""
    kind = outcome.get("kind")
    if kind == "source" and outcome.get("after"):
        b, a = outcome.get("before") or {}, outcome["after"]
        text = (f"reduced the failing source from {b.get('lines')} to {a.get('lines')} lines "
                f"({b.get('bytes')} -> {a.get('bytes')} bytes)")
    elif kind == "link" and outcome.get("after"):
        b, a = outcome.get("before") or {}, outcome["after"]
        text = f"reduced the failing link from {b.get('inputs')} to {a.get('inputs')} inputs"
        first = outcome.get("first_link") or {}
        if first.get("after"):
            made = first.get("made", "").rsplit("/", 1)[-1]
            text += (f", and the link that made {made} from {(first.get('before') or {}).get('inputs')}"
                     f" to {first['after'].get('inputs')} inputs")
        mod = outcome.get("module") or {}
        if mod.get("merged"):
            text += f", its bitcode to one module of {mod.get('after_bytes')} bytes " \
                    f"(from {mod.get('before_bytes')})"
    else:
        return f"no reduced reproducer: {outcome.get('reason') or 'the reduction made nothing'}"
    if not outcome.get("complete"):
        text += f" (not finished: {outcome.get('reason') or 'stopped'})"
    if not outcome.get("reruns"):
        text += f"; it does not rerun alone: {outcome.get('rerun_said', '')}"
    others = outcome.get("llvm") or {}
    if others:
        groups: Dict[str, List[str]] = {}
        for major in sorted(others, key=lambda m: int(m) if str(m).isdigit() else 0):
            groups.setdefault(str(others[major]).split(":", 1)[0], []).append(str(major))
        said = {"reproduces": "fails the same way with", "does not reproduce": "passes with",
                "fails otherwise": "fails otherwise with", "cannot run": "cannot run with"}
        text += "; the reproducer " + ", ".join(f"{said.get(k, k)} LLVM {', '.join(v)}"
                                                for k, v in groups.items())
    return text


def bisect_lines(out: Optional[Dict[str, Any]]) -> List[str]:
    """What ``ltobisect bisect`` found (result.json's ``bisect``, :mod:`ltobisect.conductor.first_bad`),
    as the report and summary.json say it (empty: no bisection ran)."""
    if not out:
        return []
    if out.get("stopped"):
        return [f"First bad commit: not found yet ({out['stopped']}); "
                f"{out.get('left', '?')} commits left after {out.get('builds', 0)} builds"]
    lines: List[str] = []
    c = out.get("commit")
    if out.get("first_bad") and c:
        lines.append(f"First bad commit: {c['sha'][:12]} (\"{c['subject']}\")")
        lines.append(f"  Author: {c['author']}, {c['date']}")
        lines.append(f"  {c['fixes']}")
    else:
        lines.append("First bad commit: one of " + ", ".join(x[:12] for x in out.get("candidates") or [])
                     + " (skipped commits hide which)")
    lines.append(f"  {out.get('builds', 0)} builds over {out.get('range', '?')} commits "
                 f"({out['good'][:12]} good, {out['bad'][:12]} bad)")
    for s in out.get("skipped") or []:
        lines.append(f"  skipped {s['rev'][:12]}: {s['why']}")
    if out.get("confidence"):
        lines.append(f"  {out['confidence']['line']}")
    if out.get("revert"):
        lines.append(f"  {out['revert']['line']}")
    if out.get("unknown"):
        lines.append("  some revisions do not hold: " + ", ".join(out["unknown"][:4]))
    return lines


def priors_line(guess: Optional[Dict[str, Any]]) -> str:
    """What the failure's log suggested and what came of it, in one line (see
    :mod:`ltobisect.conductor.priors`); "" for none."""
    if not guess or not guess.get("options"):
        return ""
    names = ", ".join(guess["options"])
    held = guess.get("held")
    if held is None:
        return f"The log pointed at {names}: not tried ({guess.get('note', 'no guess')})"
    size = plural(int(guess.get("size") or 0), "change")
    return (f"The log pointed at {names}: a build of {size} for them reproduced (the guess "
            f"held, the search went on inside them)" if held else
            f"The log pointed at {names}: a build of {size} for them did not reproduce; "
            f"{_lead(guess)}")


def _lead(guess: Dict[str, Any]) -> str:
    """What the search made of the changes the log pointed at, when the guess did not hold."""
    if guess.get("led") is None:
        return "the search went on from the whole set"
    kept, of = len(guess.get("kept") or ()), len(guess.get("changes") or ())
    held = "some of them" if guess["led"] else "none of them"
    out = f"the search looked among them first ({held} mattered"
    if "kept" in guess:
        out += f"; {kept} of the {of} in the result" if of > 1 else \
            ("; it is in the result" if kept else "; it is not in the result")
    return out + ")"
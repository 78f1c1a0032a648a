"""The state directory and the typed documents in it.

Layout (everything a session needs to resume or re-render its report)::

    session.json       SessionDoc: who this session is (the SessionConfig, its identity) and what
                       its first run established (changes, digests, the bad build's outcome, the
                       signature, the timeout, the environment); written atomically
    best.json          the best reproducing candidate so far, replaced atomically on every
                       improvement; best.config is its resolved .config
    runs.jsonl         one line per run of the session (start, end, status, builds, cache hits)
    result.json        ResultDoc: what the last run concluded (status, verification, flakes)
    .lock              held (flock) while a run owns the directory, removed when it ends
    report.txt, summary.json, minimal.config, fragment.config, reproduce.sh, baseline.config
                       the artifacts (ltobisect.artifacts.report); excerpt.txt keeps the log excerpt
    lld-reproduce.tar  for a link failure on a kernel tree: ``ld.lld --reproduce`` of the link
    error.txt          the traceback of an internal error, if one happened

The work directory (``SessionConfig.work_dir``; the state directory itself when none is given)
holds what is not uploaded: the journal, the worker O= directories (workers/<slot>/), build logs
(logs/), Kconfig's probes (kconfig/), the final olddefconfig check (olddefconfig/) and the
ld.lld reproducer's build (lld-reproduce/). session.json names it, so ``resume`` and ``report``
find it from the state directory alone. The ccache is the user's (ltobisect.config).

The documents are dataclasses; their JSON keys are the ones earlier versions wrote, and keys a
document does not know are kept as they are, so a state directory written by another version of
this format still resumes and reports.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ltobisect.config import SessionConfig
from ltobisect.store.dirlock import check_writable, lock, unlock
from ltobisect.errors import UserError
from ltobisect.store.journal import (JOURNAL_FILE, write_error, changes_from_json, changes_to_json, write_atomic,
                               write_json_atomic)
from ltobisect.model import Candidate, Change, Outcome, Resolved, SessionStatus, Signature

FORMAT = 1
SESSION_FILE = "session.json"
BEST_FILE = "best.json"
BEST_CONFIG = "best.config"
RUNS_FILE = "runs.jsonl"
RESULT_FILE = "result.json"
#: ``ltobisect reduce``'s attachments: what a maintainer downloads (repro.sh, judge.py, the file).
REDUCED_DIR = "reduced"
#: The results a later run must not replace by a worse one (see StateDir.kept_result).
KEPT_STATUSES = (SessionStatus.MINIMIZED, SessionStatus.PARTIAL)
#: The artifacts ltobisect.artifacts.report writes into the state directory, by their key in a
#: SessionResult's ``artifacts``.
ARTIFACTS = {"report": "report.txt", "summary": "summary.json", "fragment": "fragment.config",
             "minimal_config": "minimal.config", "reproduce": "reproduce.sh",
             "baseline": "baseline.config", "excerpt": "excerpt.txt",
             "kconfig_warnings": "kconfig-warnings.txt", "ld_reproduce": "lld-reproduce.tar",
             "judge": "judge.py"}
ARTIFACT_FILES = tuple(ARTIFACTS.values())
#: The name (before its suffix) of the copy of a ``--test`` script beside the artifacts.
TEST_SCRIPT_STEM = "test-script"
#: The index of an ``--each-failure`` session (``ltobisect.conductor.each_failure``) instead of session.json.
EACH_FILE = "each-failure.json"


def holds_session(path: Path) -> bool:
    """Whether ``path`` is a state directory: a session's, or an ``--each-failure`` index."""
    return (Path(path) / SESSION_FILE).is_file() or (Path(path) / EACH_FILE).is_file()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def session_identity(config: SessionConfig) -> dict:
    """What makes two sessions the same search (workers, budgets and timeouts may differ)."""
    b = config.build
    ident: Dict[str, Any] = {
        "bad_config": str(Path(config.bad_config).resolve()),
        "baseline": config.baseline,
        "test_script": str(config.test_script) if config.test_script else None,
        "signature_regex": config.signature_regex,
        "failure_log": str(config.failure_log) if config.failure_log else None,
        "memory_threshold": config.memory_threshold,
        "duration_threshold": config.duration_threshold,
        "strategy": config.strategy,
        "seed": config.seed,
    }
    if config.failure is not None or config.each_failure:  # only then: older sessions resume
        ident.update(failure=config.failure, each_failure=config.each_failure)
    if b is not None:
        ident.update(
            tree=str(Path(b.tree).resolve()),
            arch=b.arch,
            llvm=b.llvm,
            make_vars=list(b.make_vars),
            target=b.target,
            kconfig_file=b.kconfig_file,
        )
    return ident


# -- the documents ------------------------------------------------------------------------------
def _outcome(data: Any) -> Optional[Outcome]:
    return Outcome.from_json(data) if data else None


@dataclass
class SessionDoc:
    """session.json. The conductor fills it step by step and writes it after each step."""

    identity: Dict[str, Any]
    created: float
    config: Dict[str, Any] = field(default_factory=dict)  # the SessionConfig of the latest run
    #: Set while loading (first run only):
    changes: Optional[Tuple[Change, ...]] = None
    baseline_digest: Optional[str] = None
    bad_digest: Optional[str] = None
    bad_config_sha256: Optional[str] = None
    environment: Dict[str, Any] = field(default_factory=dict)
    kconfig_warnings: List[str] = field(default_factory=list)
    ineffective_in_bad: List[str] = field(default_factory=list)
    #: Set while confirming:
    observe_fingerprint: Optional[str] = None  # the oracle of the bad config's first build
    fingerprint: Optional[str] = None  # the oracle every test is judged by
    bad_outcome: Optional[Outcome] = None
    baseline_outcome: Optional[Outcome] = None
    signature: Optional[Signature] = None
    timeout: Optional[float] = None
    log_failures: List[Dict[str, Any]] = field(default_factory=list)
    targets: Optional[List[str]] = None  # every build's targets (--each-failure), else None
    failure_number: Optional[int] = None
    #: Keys this version does not know, written back unchanged.
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        """The bad config's failure and the test timeout are known (a resumed run skips them)."""
        return self.signature is not None and self.bad_outcome is not None and self.timeout is not None

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "changes":
                value = changes_to_json(value)
            elif isinstance(value, (Outcome, Signature)):
                value = value.to_json()
            data[f.name] = value
        data["format"] = FORMAT
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "SessionDoc":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kw = {k: v for k, v in data.items() if k in known and v is not None}
        kw.setdefault("identity", {})
        kw.setdefault("created", 0.0)
        if "changes" in kw:
            kw["changes"] = changes_from_json(kw["changes"])
        for key in ("bad_outcome", "baseline_outcome"):
            if key in kw:
                kw[key] = _outcome(kw[key])
        if "signature" in kw:
            kw["signature"] = Signature.from_json(kw["signature"])
        if "timeout" in kw:
            kw["timeout"] = float(kw["timeout"])
        extra = {k: v for k, v in data.items() if k not in known and k != "format"}
        return cls(extra=extra, **kw)


@dataclass
class ResultDoc:
    """result.json: what the latest run of the session concluded."""

    status: SessionStatus
    exit_code: int
    message: str
    hint: str = ""
    finished: float = 0.0
    #: Every verification that was asked for passed (rebuilds, the 1-minimality re-check,
    #: the kernel's own olddefconfig); ``verification`` says what each gave.
    verified: bool = False
    verification: Optional[Dict[str, Any]] = None
    timeout: Optional[float] = None
    best: Optional[Dict[str, Any]] = None  # size, digest, changes, warnings, ineffective
    best_log: Optional[str] = None
    flaky: List[Dict[str, Any]] = field(default_factory=list)
    this_run: Optional[Dict[str, Any]] = None
    ld_reproduce: Optional[Dict[str, Any]] = None
    #: ``ltobisect.matrix.lto``: how the minimal config builds in the other LTO modes.
    lto_matrix: Optional[Dict[str, Any]] = None
    #: ``ltobisect.matrix.llvm``: how the minimal config builds with other LLVM releases.
    llvm_matrix: Optional[Dict[str, Any]] = None
    #: ``ltobisect.conductor.priors``: the options the failure's log suggested, the changes that stood
    #: for them, and whether their build reproduced (the guess held).
    log_priors: Optional[Dict[str, Any]] = None
    #: ``ltobisect.reducer``: the reproducer beyond the config (a reduced source or link).
    reduced: Optional[Dict[str, Any]] = None
    #: ``ltobisect.conductor.first_bad``: the first bad commit (``ltobisect bisect``).
    bisect: Optional[Dict[str, Any]] = None

    def to_json(self) -> Dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "ResultDoc":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        kw["status"] = SessionStatus(kw.get("status", SessionStatus.PARTIAL))
        kw.setdefault("exit_code", 0)
        kw.setdefault("message", "")
        if "verified" not in data:  # written before the field: a minimized result was verified
            kw["verified"] = kw["status"] is SessionStatus.MINIMIZED
        return cls(**kw)


# -- the state directory -----------------------------------------------------------------------
class StateDir:
    """A session's state directory: identity, journal, best-so-far, run history, lock."""

    def __init__(self, path: Path, work: Optional[Path] = None) -> None:
        self.path = Path(path)
        self._work = Path(work) if work is not None else None
        self._lock_fd: Optional[int] = None
        self._work_fd: Optional[int] = None
        self._drop_work = False

    @property
    def work(self) -> Path:
        """The work directory: the one given, else the one session.json names, else ``path``."""
        if self._work is None:
            try:
                named = json.loads(self.session_file.read_text(encoding="utf-8"))["config"].get("work_dir")
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                named = None
            self._work = Path(named) if named else self.path
        return self._work

    # paths
    @property
    def session_file(self) -> Path:
        return self.path / SESSION_FILE

    @property
    def journal_file(self) -> Path:
        return self.work / JOURNAL_FILE

    def file(self, name: str) -> Path:
        return self.path / name

    # lifecycle
    def prepare(self) -> None:
        """Create the directory (and the work directory) and prove them writable (UserError if not)."""
        check_writable(self.path, "the state directory", "choose another --state")
        if self._work is not None and self._work != self.path:
            check_writable(self._work, "the work directory", "choose another --work-dir")

    def acquire(self, lock_work: bool = True) -> None:
        """Take the directory's lock, and the work directory's when it is another one (two
        sessions must not build in the same worker directories); UserError if another run holds
        one. ``lock_work=False``: the caller holds the work directory (--each-failure)."""
        self._lock_fd = lock(self.path, "the state directory", "--state")
        if lock_work and self._work is not None and self._work != self.path:
            try:
                self._work_fd = lock(self._work, "the work directory", "--work-dir")
            except UserError:
                self.release()
                raise

    def drop_empty_work(self) -> None:
        """After a refused session: remove what its work directory holds that no build made
        (Kconfig's probes, empty directories), and the work directory itself when nothing is
        left, so that refused runs leave no directories in the user's cache. A journal with a
        record keeps it all: a finished build is never thrown away."""
        work = self._work
        if work is None or work == self.path or not work.is_dir():
            return
        try:
            if (work / JOURNAL_FILE).stat().st_size > 0:
                return
            (work / JOURNAL_FILE).unlink()
        except FileNotFoundError:
            pass
        shutil.rmtree(work / "kconfig", ignore_errors=True)
        for root, dirs, files in os.walk(work, topdown=False):
            if Path(root) != work and not os.listdir(root):
                try:
                    os.rmdir(root)
                except OSError:
                    pass
        self._drop_work = True  # the directory itself once its lock file is gone (release)

    def release(self) -> None:
        for name, where in (("_work_fd", self._work), ("_lock_fd", self.path)):
            fd = getattr(self, name, None)
            if fd is not None:
                setattr(self, name, None)
                unlock(Path(where) if where is not None else self.path, fd)
        if self._drop_work and self._work is not None:
            self._drop_work = False
            try:
                os.rmdir(self._work)  # only when empty
            except OSError:
                pass

    # session.json
    def exists(self) -> bool:
        return self.session_file.is_file()

    def read_session(self) -> dict:
        """session.json as JSON data; UserError when missing or unreadable (see :meth:`read_doc`)."""
        try:
            data = json.loads(self.session_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.path} is not an ltobisect state directory (no {SESSION_FILE})",
                            hint="give the --state directory of a session") from None
        except ValueError as exc:
            where = f" at line {exc.lineno}, column {exc.colno}" \
                if isinstance(exc, json.JSONDecodeError) else ""
            raise UserError(f"{self.session_file} is damaged: it is not JSON{where}",
                            hint=self._damaged_hint()) from exc
        except OSError as exc:
            raise UserError(f"cannot read {self.session_file}: {exc.strerror or exc}") from exc
        if not isinstance(data, dict):
            raise UserError(f"{self.session_file} is damaged: it holds no session record",
                            hint=self._damaged_hint())
        if data.get("format") != FORMAT:
            raise UserError(f"{self.session_file} was written by another version of ltobisect")
        return data

    def _damaged_hint(self) -> str:
        """What is left when session.json cannot be read: the session cannot go on, but the
        artifacts an earlier run wrote are still there."""
        report = self.path / "report.txt"
        kept = f"the last report is {report}; " if report.is_file() else ""
        return f"{kept}start a new session with another directory"


    def write_session(self, data: dict) -> None:
        data = dict(data)
        data["format"] = FORMAT
        write_json_atomic(self.session_file, data)

    def read_doc(self) -> SessionDoc:
        return SessionDoc.from_json(self.read_session())

    def write_doc(self, doc: SessionDoc) -> None:
        write_json_atomic(self.session_file, doc.to_json())

    def claim(self, config: SessionConfig) -> Optional[SessionDoc]:
        """Check that this directory is free or holds the same session; return its document.

        A directory that holds another session (another bad config, tree, baseline...) is
        refused with a UserError, so two searches never mix their journals and artifacts.
        A non-empty directory that is not a state directory is refused as well.
        """
        ident = session_identity(config)
        if self.exists():
            doc = self.read_doc()
            if doc.identity != ident and self.never_started():
                # A session refused as bad input (--failure 99, a mistyped --target) claimed
                # nothing worth keeping: the same command with the typo fixed takes the
                # directory over. Its journal stays, so no finished build runs again.
                self.discard_outputs()
                return None
            if doc.identity != ident:
                theirs = doc.identity.get("bad_config", "?")
                raise UserError(
                    f"the state directory {self.path} belongs to another session "
                    f"(bad config {theirs})",
                    hint=f"run `ltobisect resume {self.path}`, or choose another --state",
                )
            return doc
        if self.path.is_dir():
            stray = [p.name for p in self.path.iterdir() if not p.name.startswith(".")]
            if stray:
                raise UserError(
                    f"the state directory {self.path} is not empty and holds no session "
                    f"({', '.join(sorted(stray)[:3])}...)",
                    hint="choose a new or empty --state directory",
                )
        return None

    def never_started(self) -> bool:
        """Whether the session here ended as bad input and no run got further."""
        result = self.read_result()
        if not result or result.get("status") != SessionStatus.BAD_INPUT:
            return False
        return not any(r.get("status") in KEPT_STATUSES for r in self.runs())

    def discard_outputs(self) -> None:
        """Remove what a refused session wrote (its documents and artifacts), not the journal."""
        scripts = [p.name for p in self.path.glob(TEST_SCRIPT_STEM + "*")]
        for name in (SESSION_FILE, BEST_FILE, BEST_CONFIG, RESULT_FILE, *ARTIFACT_FILES, *scripts):
            try:
                (self.path / name).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise write_error("cannot remove", self.path / name, exc) from exc

    def kept_result(self) -> Optional["ResultDoc"]:
        """The result an earlier run finished or stopped with (minimized, or partial with a
        best so far): a later run may only replace it by a result at least as good."""
        data = self.read_result()
        if not data or data.get("status") not in KEPT_STATUSES:
            return None
        try:
            return ResultDoc.from_json(data)
        except (TypeError, ValueError):
            return None

    def artifacts(self) -> Dict[str, Path]:
        """The artifacts on disk, by key (what an earlier run wrote)."""
        found = {key: self.path / name for key, name in ARTIFACTS.items()}
        found.update(("test_script", p) for p in sorted(self.path.glob(TEST_SCRIPT_STEM + "*")))
        return {key: path for key, path in found.items() if path.is_file()}

    def minimized(self) -> Optional["ResultDoc"]:
        """The result when an earlier run minimized the session (it is not searched again)."""
        kept = self.kept_result()
        return kept if kept is not None and kept.status is SessionStatus.MINIMIZED else None

    # best so far
    def write_best(self, cand: Candidate, resolved: Resolved, total: int) -> None:
        """Replace the best-so-far files atomically (config first, then the index)."""
        write_atomic(self.path / BEST_CONFIG, resolved.config_text)
        write_json_atomic(self.path / BEST_FILE, {
            "size": len(cand),
            "total": total,
            "digest": resolved.digest,
            "changes": changes_to_json(cand),
            "at": time.time(),
        })

    def read_best(self) -> Optional[dict]:
        try:
            return json.loads((self.path / BEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    # run history and result
    def append_run(self, data: dict) -> None:
        line = json.dumps(data, sort_keys=True) + "\n"
        path = self.path / RUNS_FILE
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise write_error("cannot write", path, exc) from exc

    def runs(self) -> List[dict]:
        out = []
        try:
            lines = (self.path / RUNS_FILE).read_text(encoding="utf-8").splitlines()
        except OSError:
            return out
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def write_result(self, doc: "ResultDoc") -> None:
        write_json_atomic(self.path / RESULT_FILE, doc.to_json())

    def read_result(self) -> Optional[dict]:
        try:
            return json.loads((self.path / RESULT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


"""The record of a session: its state directory, the append-only journal, the best result so far.

State directory layout (everything a session needs to resume or re-render its report)::

    session.json       who this session is: the SessionConfig, its identity, the oracle
                       fingerprint, the changes, the baseline digest, the signature and timeout,
                       the environment (tree version, toolchain versions); written atomically
    journal.jsonl      one JSON record per finished test, appended and fsync'd before the
                       verdict is used; the verdict cache and resume are built from it
    best.json          the best reproducing candidate so far (changes, digest, size), replaced
                       atomically on every improvement; best.config is its resolved .config
    runs.jsonl         one line per run of the session (start, end, status, builds, cache hits)
    result.json        what the last run concluded (status, verification, flakes), for the report
    .lock              held (flock) while a run owns the directory
    report.txt, summary.json, minimal.config, fragment.config, reproduce.sh, baseline.config
                       the artifacts (report.py); excerpt.txt keeps the log excerpt for when
                       the logs are deleted
    lld-reproduce.tar  for a link failure on a kernel tree: ``ld.lld --reproduce`` of the link
    error.txt          the traceback of an internal error, if one happened
    kconfig/           where Kconfig's probes run, and their cache (kconfig/probes/)
    olddefconfig/      the O= directory of the final `make olddefconfig` check

The oracle keeps its own worker directories (workers/<slot>/) and build logs (logs/) below the
state directory too.

Journal records are keyed by digest *and* oracle fingerprint: a result obtained on another tree,
toolchain, make arguments or signature is never reused. A kernel build whose own conf built
another config than the one we wrote has its record carry ``conf`` (the built digest and the
differing settings) and leaves a second record, a copy with ``built_for``, under the digest of
the config really built. Both fields are optional: journals written before them load as they
always did. The last line of the journal may be torn
by a kill -9 in the middle of a write; it is ignored and cut off before the next append.
"""
from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ltobisect.config import BuildSpec, Limits, RetryPolicy, SessionConfig
from ltobisect.errors import InfraError, UserError
from ltobisect.model import Candidate, Change, Outcome, Resolved, Verdict, ordered

FORMAT = 1
SESSION_FILE = "session.json"
JOURNAL_FILE = "journal.jsonl"
BEST_FILE = "best.json"
BEST_CONFIG = "best.config"
RUNS_FILE = "runs.jsonl"
RESULT_FILE = "result.json"
LOCK_FILE = ".lock"
#: The label of a verdict judged from another signature's finished build (not a build).
REJUDGED = "re-judged"


#: The system calls the journal writes with (a seam for fault-injection tests: disk full).
_write = os.write
_fsync = os.fsync


# -- low-level durable writes ------------------------------------------------------------------
def _os_error(what: str, path: Path, exc: OSError) -> InfraError:
    if exc.errno == errno.ENOSPC:
        return InfraError(f"{what} {path}: disk full (no space left on device); free space, "
                          f"then `ltobisect resume {path.parent}`")
    if exc.errno == errno.EDQUOT:
        return InfraError(f"{what} {path}: disk quota exceeded")
    return InfraError(f"{what} {path}: {exc.strerror or exc}")


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str, mode: Optional[int] = None) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old or the new file, never half.

    Writes a temporary file next to it, fsyncs it, renames it over ``path`` and fsyncs the
    directory. On failure the old file is untouched and the temporary file removed.
    """
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise _os_error("cannot write", path, exc) from exc
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


# -- SessionConfig <-> JSON -------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def config_to_json(config: SessionConfig) -> dict:
    """The SessionConfig as plain JSON data (paths as strings)."""
    return _jsonable(config)


def config_from_json(data: dict) -> SessionConfig:
    """Inverse of :func:`config_to_json`; unknown keys (a newer format) are ignored."""

    def path(v: Any) -> Optional[Path]:
        return Path(v) if v is not None else None

    build = None
    if data.get("build") is not None:
        b = dict(data["build"])
        known = {f.name for f in dataclasses.fields(BuildSpec)}
        b = {k: v for k, v in b.items() if k in known}
        b["tree"] = Path(b["tree"])
        b["ccache_dir"] = path(b.get("ccache_dir"))
        b["make_vars"] = tuple(b.get("make_vars") or ())
        build = BuildSpec(**b)
    fields = {f.name for f in dataclasses.fields(SessionConfig)}
    kw = {k: v for k, v in data.items() if k in fields}
    kw["build"] = build
    for key in ("bad_config", "state_dir"):
        kw[key] = Path(kw[key])
    for key in ("test_script", "failure_log", "work_dir"):
        kw[key] = path(kw.get(key))
    kw["limits"] = Limits(**(data.get("limits") or {}))
    kw["retry"] = RetryPolicy(**(data.get("retry") or {}))
    return SessionConfig(**kw)


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


# -- changes <-> JSON --------------------------------------------------------------------------
def change_to_json(c: Change) -> dict:
    return {"name": c.name, "value": c.value, "type": c.type, "baseline_value": c.baseline_value}


def change_from_json(d: dict) -> Change:
    return Change(d["name"], d["value"], d.get("type", "bool"), d.get("baseline_value", "n"))


def changes_to_json(changes: Iterable[Change]) -> List[dict]:
    return [change_to_json(c) for c in ordered(changes)]


def changes_from_json(data: Iterable[dict]) -> Tuple[Change, ...]:
    return tuple(change_from_json(d) for d in data)


# -- the journal -------------------------------------------------------------------------------
@dataclass(frozen=True)
class JournalRecord:
    """One finished test as the journal holds it."""

    digest: str
    fingerprint: str
    outcome: Outcome
    label: str = ""
    size: int = -1  # changes in the candidate
    at: float = 0.0  # time.time() when it was recorded
    #: Set on the copy of a build's record under the config conf really built: the digest of
    #: the config we wrote for that build (whose own record carries ``outcome.conf``).
    built_for: str = ""
    #: The oracle's build key (its fingerprint without the signature): records of the same
    #: digest and build key are one build, whatever signature judged them.
    build: str = ""

    @property
    def is_copy(self) -> bool:
        """A copy under the conf-built config's digest, not a build of its own."""
        return bool(self.built_for)

    def to_json(self) -> dict:
        data = {"v": FORMAT, "digest": self.digest, "fingerprint": self.fingerprint,
                "label": self.label, "size": self.size, "at": round(self.at, 3)}
        if self.built_for:  # only then: older readers see the records they always saw
            data["built_for"] = self.built_for
        if self.build:
            data["build"] = self.build
        data.update(self.outcome.to_json())
        return data

    @classmethod
    def from_json(cls, data: dict) -> "JournalRecord":
        return cls(
            digest=data["digest"],
            fingerprint=data["fingerprint"],
            outcome=Outcome.from_json(data),
            label=data.get("label", ""),
            size=int(data.get("size", -1)),
            at=float(data.get("at", 0.0)),
            built_for=data.get("built_for") or "",
            build=data.get("build") or "",
        )


class Journal:
    """Append-only record of finished tests; implements :class:`ltobisect.problem.Record`.

    ``fingerprint`` is the identity of the oracle the current results come from (tree,
    toolchain, make arguments, signature). :meth:`lookup` only returns records with that
    fingerprint; the session changes it once the signature is known.
    """

    def __init__(self, path: Path, fingerprint: str = "") -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.build_key = ""
        self.rejudge: Optional[Callable[[Outcome], Optional[Outcome]]] = None
        self.torn = False  # a torn last line was found (and will be cut off)
        self._lock = threading.Lock()
        self._records: List[JournalRecord] = []
        self._by_key: Dict[Tuple[str, str], List[JournalRecord]] = {}
        self._by_digest: Dict[str, List[JournalRecord]] = {}  # every fingerprint, for rejudge
        self._good_size = 0
        self._load()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _os_error("cannot read the journal", self.path, exc) from exc
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                self.torn = True  # killed in the middle of a write: ignore the fragment
                break
            line = data[pos:nl]
            try:
                rec = JournalRecord.from_json(json.loads(line)) if line.strip() else None
            except (ValueError, KeyError, TypeError):
                # A line that is not a record can only be a torn write followed by later
                # appends in an older format; skip it rather than lose the rest.
                rec = None
                self.torn = True
            if rec is not None:
                self._index(rec)
            pos = nl + 1
        self._good_size = pos

    def _index(self, rec: JournalRecord) -> None:
        self._records.append(rec)
        self._by_key.setdefault((rec.digest, rec.fingerprint), []).append(rec)
        self._by_digest.setdefault(rec.digest, []).append(rec)

    # -- Record protocol -------------------------------------------------------------------
    def lookup(self, digest: str) -> Optional[Outcome]:
        """The latest final verdict for ``digest`` under the current fingerprint, if any."""
        with self._lock:
            for rec in reversed(self._by_key.get((digest, self.fingerprint), [])):
                if rec.outcome.verdict.is_final:
                    return rec.outcome
            if self.rejudge is None or not self.build_key:
                return None
            others = [r for r in self._by_digest.get(digest, []) if r.build == self.build_key
                      and r.fingerprint != self.fingerprint and not r.is_copy]
        for rec in reversed(others):
            judged = self.rejudge(rec.outcome)
            if judged is not None:
                self.append_record(JournalRecord(digest, self.fingerprint, judged, REJUDGED,
                                                 rec.size, time.time(), build=self.build_key))
                return judged
        return None

    def append(self, resolved: Resolved, outcome: Outcome, label: str = "") -> None:
        """Record a finished test; durable (fsync'd) when this returns.

        When the build's own conf built another config than the one we wrote (``outcome.conf``),
        the verdict is that config's as well: it is also recorded under its digest, as a copy
        (``built_for`` names ours), so a candidate that resolves to it is never built again.
        """
        now = time.time()
        self.append_record(
            JournalRecord(resolved.digest, self.fingerprint, outcome, label,
                          len(resolved.candidate), now, build=self.build_key)
        )
        conf = outcome.conf
        if conf is not None and outcome.verdict.is_final and conf.built_digest != resolved.digest:
            self.append_record(JournalRecord(conf.built_digest, self.fingerprint,
                                             dataclasses.replace(outcome, conf=None), label, -1, now,
                                             built_for=resolved.digest, build=self.build_key))

    def append_record(self, rec: JournalRecord) -> None:
        """Append one record, fsync it, and index it. Disk full: InfraError, journal intact."""
        line = (json.dumps(rec.to_json(), sort_keys=True) + "\n").encode()
        with self._lock:
            created = not self.path.exists()
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _os_error("cannot open the journal", self.path, exc) from exc
            try:
                size = os.fstat(fd).st_size
                if size != self._good_size:
                    # A torn tail (kill -9 during a write, or a failed write): cut it off so
                    # the new record starts on its own line.
                    os.ftruncate(fd, self._good_size)
                os.lseek(fd, self._good_size, os.SEEK_SET)
                try:
                    view = memoryview(line)
                    while view:
                        n = _write(fd, view)
                        view = view[n:]
                    _fsync(fd)
                except OSError as exc:
                    try:
                        os.ftruncate(fd, self._good_size)
                        os.fsync(fd)
                    except OSError:
                        pass
                    raise _os_error("cannot append to the journal", self.path, exc) from exc
                self._good_size += len(line)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path.parent)
            self.torn = False
            self._index(rec)

    # -- queries -----------------------------------------------------------------------------
    def records(self, fingerprint: Optional[str] = None, *, copies: bool = False) -> List[JournalRecord]:
        """The records of builds in order; only those of ``fingerprint`` when given.

        ``copies`` adds the copies under conf-built digests (see :meth:`append`): they are
        verdicts of a config, not builds, so counts of builds and verdicts leave them out.
        """
        with self._lock:
            return [r for r in self._records if (copies or not r.is_copy)
                    and (fingerprint is None or r.fingerprint == fingerprint)]

    def history(self, digest: str, fingerprint: Optional[str] = None) -> List[JournalRecord]:
        """Every record of one digest (current fingerprint by default), oldest first."""
        fp = self.fingerprint if fingerprint is None else fingerprint
        with self._lock:
            return list(self._by_key.get((digest, fp), []))

    def __len__(self) -> int:
        return len(self._records)


# -- the state directory -----------------------------------------------------------------------
class StateDir:
    """A session's state directory: identity, journal, best-so-far, run history, lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_fd: Optional[int] = None

    # paths
    @property
    def session_file(self) -> Path:
        return self.path / SESSION_FILE

    @property
    def journal_file(self) -> Path:
        return self.path / JOURNAL_FILE

    def file(self, name: str) -> Path:
        return self.path / name

    # lifecycle
    def prepare(self) -> None:
        """Create the directory and prove it is writable (UserError with the reason if not)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".probe{os.getpid()}"
            with open(probe, "w") as f:
                f.write("ok")
                f.flush()
                os.fsync(f.fileno())
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.ENOSPC:
                reason = "disk full"
            raise UserError(f"cannot write to the state directory {self.path}: {reason}",
                            hint="choose another --state") from exc

    def acquire(self) -> None:
        """Take the directory's lock; UserError if another run holds it."""
        try:
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot lock the state directory {self.path}: {exc.strerror}",
                            hint="choose another --state") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise UserError(f"another ltobisect is running on {self.path}",
                            hint="wait for it, or choose another --state") from exc
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    # session.json
    def exists(self) -> bool:
        return self.session_file.is_file()

    def read_session(self) -> dict:
        """The session's identity and settings; UserError when missing or unreadable."""
        try:
            data = json.loads(self.session_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.path} is not an ltobisect state directory (no {SESSION_FILE})",
                            hint="give the --state directory of a session") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {self.session_file}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{self.session_file} was written by another version of ltobisect")
        return data

    def write_session(self, data: dict) -> None:
        data = dict(data)
        data["format"] = FORMAT
        write_json_atomic(self.session_file, data)

    def claim(self, config: SessionConfig) -> Optional[dict]:
        """Check that this directory is free or holds the same session; return its data if any.

        A directory that holds another session (another bad config, tree, baseline...) is
        refused with a UserError, so two searches never mix their journals and artifacts.
        A non-empty directory that is not a state directory is refused as well.
        """
        ident = session_identity(config)
        if self.exists():
            data = self.read_session()
            if data.get("identity") != ident:
                theirs = data.get("identity", {}).get("bad_config", "?")
                raise UserError(
                    f"the state directory {self.path} belongs to another session "
                    f"(bad config {theirs})",
                    hint=f"run `ltobisect resume {self.path}`, or choose another --state",
                )
            return data
        if self.path.is_dir():
            stray = [p.name for p in self.path.iterdir() if not p.name.startswith(".")]
            if stray:
                raise UserError(
                    f"the state directory {self.path} is not empty and holds no session "
                    f"({', '.join(sorted(stray)[:3])}...)",
                    hint="choose a new or empty --state directory",
                )
        return None

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
            raise _os_error("cannot write", path, exc) from exc

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

    def write_result(self, data: dict) -> None:
        write_json_atomic(self.path / RESULT_FILE, data)

    def read_result(self) -> Optional[dict]:
        try:
            return json.loads((self.path / RESULT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def verdict_counts(records: Iterable[JournalRecord]) -> Dict[str, int]:
    """How many records gave each verdict (for the report)."""
    out: Dict[str, int] = {}
    for r in records:
        out[r.outcome.verdict.value] = out.get(r.outcome.verdict.value, 0) + 1
    return out


def flaky_digests(records: Iterable[JournalRecord]) -> Dict[str, List[str]]:
    """Digests whose final verdicts disagree, with the verdicts in the order they were seen."""
    seen: Dict[str, List[str]] = {}
    for r in records:
        if r.outcome.verdict is Verdict.INFRA_ERROR:
            continue
        seen.setdefault(r.digest, []).append(r.outcome.verdict.value)
    return {d: v for d, v in seen.items() if len(set(v)) > 1}

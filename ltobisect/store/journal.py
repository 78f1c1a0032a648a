"""The append-only journal: one fsync'd record per finished test, the cache and resume of a session.

A record is appended (and fsync'd) before its verdict is used by any decision, so killing the
process at any instant loses at most the builds that were running. The small durable-write
helpers (atomic replace, fsync of a directory) live here too; the state directory and its other
documents are :mod:`ltobisect.store.state`.

Journal records are keyed by digest *and* oracle fingerprint: a result obtained on another tree,
toolchain, make arguments or signature is never reused. A kernel build whose own conf built
another config than the one we wrote has its record carry ``conf`` (the built digest and the
differing settings) and leaves a second record, a copy with ``built_for``, under the digest of
the config really built. Both fields are optional: journals written before them load as they
always did. The last line of the journal may be torn
by a kill -9 in the middle of a write; it is ignored and cut off before the next append. A journal
damaged otherwise (lines that are no record) is kept beside it as ``journal.jsonl.damaged`` and
rewritten with the records that could be read; :attr:`Journal.damage` says what was lost.
"""
from __future__ import annotations

import errno
import json
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Protocol, Tuple

from ltobisect.errors import InfraError
from ltobisect.model import Change, Label, Outcome, Resolved, Verdict, ordered

FORMAT = 1
SESSION_FILE = "session.json"
JOURNAL_FILE = "journal.jsonl"
BEST_FILE = "best.json"
BEST_CONFIG = "best.config"
RUNS_FILE = "runs.jsonl"
RESULT_FILE = "result.json"
LOCK_FILE = ".lock"
#: The label of a verdict judged from another signature's finished build (not a build).
REJUDGED = Label.REJUDGED


#: The system calls the journal writes with (a seam for fault-injection tests: disk full).
_write = os.write
_fsync = os.fsync


# -- low-level durable writes ------------------------------------------------------------------
def write_error(what: str, path: Path, exc: OSError) -> InfraError:
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
        raise write_error("cannot write", path, exc) from exc
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


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


class Judge(Protocol):
    """What the journal reads of the oracle whose verdicts it records (an
    :class:`ltobisect.oracle.Oracle`)."""

    def fingerprint(self) -> str: ...

    def build_key(self) -> str: ...

    def rejudge(self, outcome: Outcome) -> Optional[Outcome]: ...


class Journal:
    """Append-only record of finished tests; implements :class:`ltobisect.problem.Record`.

    ``fingerprint`` is the identity of the oracle the current results come from (tree,
    toolchain, make arguments, signature). :meth:`lookup` only returns records with that
    fingerprint; the session points it at its oracle with :meth:`follow` once the signature is
    known, and at another oracle for a while with :meth:`following`.
    """

    def __init__(self, path: Path, fingerprint: str = "", *, repair: bool = True) -> None:
        """``repair=False`` reads only: a damaged journal is said, not set aside (a report)."""
        self.path = Path(path)
        self._repair = repair
        self.fingerprint = fingerprint
        self.build_key = ""
        self.rejudge: Optional[Callable[[Outcome], Optional[Outcome]]] = None
        self.torn = False  # a torn last line was found (and will be cut off)
        #: What a damaged journal lost, in words (empty: not damaged); see :meth:`_set_aside`.
        self.damage = ""
        self._lock = threading.Lock()
        self._records: List[JournalRecord] = []
        self._by_key: Dict[Tuple[str, str], List[JournalRecord]] = {}
        self._by_digest: Dict[str, List[JournalRecord]] = {}  # every fingerprint, for rejudge
        self._good_size = 0
        self._load()

    def follow(self, oracle: Judge, *, rejudge: bool = False) -> None:
        """Record and look up verdicts as ``oracle`` gives them: under its fingerprint, with its
        build key. With ``rejudge``, a record of the same build under another signature is
        judged again by ``oracle`` from its log (``--each-failure``: the searches build alike)."""
        self.fingerprint = oracle.fingerprint()
        self.build_key = oracle.build_key()
        if rejudge:
            self.rejudge = oracle.rejudge

    @contextmanager
    def following(self, oracle: Judge) -> Iterator[None]:
        """:meth:`follow` ``oracle`` for the ``with`` block, then the oracle before it again."""
        before = self.fingerprint, self.build_key, self.rejudge
        self.fingerprint, self.build_key, self.rejudge = oracle.fingerprint(), oracle.build_key(), None
        try:
            yield
        finally:
            self.fingerprint, self.build_key, self.rejudge = before

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise write_error("cannot read the journal", self.path, exc) from exc
        pos = 0
        bad_lines = 0
        foreign = False  # a line that cannot be the start of a record we wrote
        good: List[bytes] = []
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                self.torn = True  # killed in the middle of a write: ignore the fragment
                break
            line = data[pos:nl]
            try:
                rec = JournalRecord.from_json(json.loads(line)) if line.strip() else None
            except (ValueError, KeyError, TypeError, AttributeError):
                # Not a record: a torn write followed by later appends, or damage from
                # outside. Skip it rather than lose the records after it.
                rec = None
                bad_lines += 1
                foreign = foreign or not line.lstrip().startswith(b"{")
            if rec is not None:
                self._index(rec)
                good.append(line)
            pos = nl + 1
        self._good_size = pos
        tail = len(data) - pos
        # A kill -9 tears at most the last record, and what it leaves is the start of one.
        foreign = foreign or (tail > 0 and not data[pos:].lstrip().startswith(b"{"))
        if (bad_lines > 1 or foreign) and self._repair:
            self._set_aside(data, good, bad_lines, tail)
        elif bad_lines:
            self.torn = True  # one stray line: as a torn write, and said the same way

    def _set_aside(self, data: bytes, good: List[bytes], bad_lines: int, tail: int) -> None:
        """A damaged journal (more than a torn last write): keep the damaged file beside it,
        rewrite the journal with the records that could be read, and say what was lost in
        plain words (:attr:`damage`)."""
        aside = self.path.with_name(self.path.name + ".damaged")
        what = f"{bad_lines} unreadable line{'s' if bad_lines != 1 else ''}" if bad_lines else \
            f"{tail} bytes that are no record"
        kept = (f"{len(good)} record{'s' if len(good) != 1 else ''} could be read and are kept; "
                "the builds of the lost ones run again") if good else \
            "no record could be read, so every build runs again"
        try:
            aside.write_bytes(data)
        except OSError as exc:
            raise write_error("cannot keep a copy of the damaged journal", aside, exc) from exc
        write_atomic(self.path, b"".join(line + b"\n" for line in good).decode("utf-8", "replace"))
        self._good_size = self.path.stat().st_size
        self.torn = False
        self.damage = f"the journal {self.path} is damaged ({what}): {kept}; the damaged file " \
                      f"is kept as {aside.name}"

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
                                             replace(outcome, conf=None), label, -1, now,
                                             built_for=resolved.digest, build=self.build_key))

    def append_record(self, rec: JournalRecord) -> None:
        """Append one record, fsync it, and index it. Disk full: InfraError, journal intact."""
        line = (json.dumps(rec.to_json(), sort_keys=True) + "\n").encode()
        with self._lock:
            created = not self.path.exists()
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            except OSError as exc:
                raise write_error("cannot open the journal", self.path, exc) from exc
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
                    raise write_error("cannot append to the journal", self.path, exc) from exc
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

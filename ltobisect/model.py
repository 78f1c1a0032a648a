"""Value types shared by every layer: changes, candidates, resolved configs, verdicts, outcomes.

Everything here is immutable and free of I/O, so strategies, the journal and the report can pass
these values around without knowing where they came from.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import AbstractSet, FrozenSet, Iterable, Optional, Tuple

#: Kconfig symbol types as kconfiglib names them (lower case).
SYMBOL_TYPES = ("bool", "tristate", "int", "hex", "string")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, order=True)
class Change:
    """One symbol set to its bad-config value where that differs from the baseline.

    ``value`` and ``baseline_value`` are kconfiglib's string values: ``"y"``, ``"m"``, ``"n"``
    for bool and tristate, the literal for int and hex, the unquoted text for strings. A
    symbol absent from a config (not visible there) has the value ``"n"`` for bool/tristate
    and ``""`` for the others.
    """

    name: str  # without the CONFIG_ prefix
    value: str
    type: str = "bool"
    baseline_value: str = "n"

    def line(self, prefix: str = "CONFIG_") -> str:
        """The change as a `.config` / merge_config.sh fragment line."""
        if self.type in ("bool", "tristate") and self.value == "n":
            return f"# {prefix}{self.name} is not set"
        if self.type == "string":
            return f"{prefix}{self.name}={_quote(self.value)}"
        return f"{prefix}{self.name}={self.value}"

    @property
    def turns_off(self) -> bool:
        return self.type in ("bool", "tristate") and self.value == "n"

    def __str__(self) -> str:
        return self.line()


#: A candidate is a set of changes; the empty set is the baseline, all changes the bad config.
Candidate = FrozenSet[Change]


def candidate(changes: Iterable[Change] = ()) -> Candidate:
    return frozenset(changes)


def ordered(changes: AbstractSet[Change] | Iterable[Change]) -> Tuple[Change, ...]:
    """Changes in their canonical (name) order, for deterministic output."""
    return tuple(sorted(changes))


@dataclass(frozen=True)
class Ineffective:
    """A requested change that Kconfig did not apply, and why (one short phrase)."""

    change: Change
    actual: str  # the value the symbol ended up with
    reason: str  # e.g. "unmet dependency: PCI", "not visible", "choice: LTO_NONE selected"


@dataclass(frozen=True)
class Resolved:
    """A candidate applied to the baseline and settled by Kconfig (olddefconfig semantics)."""

    candidate: Candidate
    config_text: str  # the full resolved .config, as `make olddefconfig` writes it
    digest: str  # stable hash of the settings in config_text (header comments excluded)
    ineffective: Tuple[Ineffective, ...] = ()
    warnings: Tuple[str, ...] = ()

    @property
    def effective(self) -> Candidate:
        """The requested changes that did take effect."""
        dropped = {i.change for i in self.ineffective}
        return frozenset(c for c in self.candidate if c not in dropped)


class Verdict(enum.StrEnum):
    """What one test of a resolved config gave. Only REPRODUCES is interesting.

    The values are what users see (events, journal, summary.json, report).
    """

    REPRODUCES = "reproduces"  # the same failure as the original (same signature)
    PASSES = "passes"  # no failure
    OTHER_FAILURE = "other-failure"  # a failure with another signature: not ours
    TIMEOUT = "timeout"  # the test ran past its time limit
    OUT_OF_MEMORY = "out-of-memory"  # killed for memory (limit hit or OOM killer)
    INFRA_ERROR = "infra-error"  # our fault, not the config's: retried, never adopted

    @property
    def is_interesting(self) -> bool:
        return self is Verdict.REPRODUCES

    @property
    def is_final(self) -> bool:
        """Verdicts that may be cached; infra errors say nothing about the config."""
        return self is not Verdict.INFRA_ERROR


class SignatureKind(enum.StrEnum):
    """The class of a failure, as ``Signature.kind`` spells it."""

    COMPILE_ERROR = "compile-error"
    LINK_ERROR = "link-error"
    MODPOST = "modpost"
    OBJTOOL = "objtool"
    OBJTOOL_WARNING = "objtool-warning"
    KCONFIG = "kconfig"
    MAKE = "make"
    CRASH = "crash"
    KILLED = "killed"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    DURATION = "duration"
    REGEX = "regex"
    SCRIPT = "script"



class SessionStatus(enum.StrEnum):
    """How a session ended (``SessionResult.status``, summary.json's ``status``)."""

    MINIMIZED = "minimized"
    PARTIAL = "partial"
    NOT_REPRODUCED = "not-reproduced"
    BAD_INPUT = "bad-input"
    INFRA_ERROR = "infra-error"


class Phase(enum.StrEnum):
    """The steps of a session, in order, as the live view names them."""

    LOADING = "loading"
    CONFIRMING = "confirming"
    SEARCHING = "searching"
    VERIFYING = "verifying"
    REPORTING = "reporting"
    REDUCING = "reducing"  # ltobisect reduce: the reproducer beyond the config
    BISECTING = "bisecting"  # ltobisect bisect: the first bad commit


class Label(enum.StrEnum):
    """Why a test ran, where that is not a strategy's name (journal records, events).

    ``BAD_CONFIG`` is the bad config's first build (observed, judged by nothing yet);
    ``DERIVED`` its record under the tested signature (no build of its own); ``REJUDGED`` a
    record judged from another search's build log (no build either).
    """

    BAD_CONFIG = "bad config"
    DERIVED = "bad config (observed)"
    BASELINE = "baseline"
    VERIFY = "verify"
    RECHECK = "recheck"
    REJUDGED = "re-judged"
    LTO_MATRIX = "lto matrix"
    LLVM_MATRIX = "llvm matrix"
    LOG_GUESS = "log guess"

    @classmethod
    def not_builds(cls) -> frozenset:
        """Labels of records that stand for no build of their own."""
        return frozenset({cls.DERIVED, cls.REJUDGED})


@dataclass(frozen=True)
class Signature:
    """The normalized identity of a failure.

    ``kind`` names the class of failure (``compile-error``, ``link-error``, ``modpost``,
    ``objtool``, ``kconfig``, ``make``, ``killed``, ``timeout``, ``memory``, ``duration``,
    ``regex``, ``script``); ``tool`` the program that reported it (``clang``, ``ld.lld``...);
    ``message`` the normalized message; ``location`` the file or symbol it is about.
    For ``regex`` the pattern is in ``message``; for ``memory`` and ``duration`` the threshold
    (bytes, seconds) is in ``threshold``. ``line`` is the log line a maintainer greps for (the
    failure's first line, build directories removed), when known. ``basis`` is, for a regex,
    the failure of the line it picked in the log: what kind of failure it is chooses the make
    target, as for a failure found without a regex. Neither takes part in matching.
    """

    kind: str
    tool: str = ""
    message: str = ""
    location: str = ""
    threshold: Optional[float] = None
    line: str = ""
    basis: Optional["Signature"] = None

    def describe(self) -> str:
        """One line for people: ``ld.lld: error: undefined symbol: foo (link-error)``."""
        if self.kind == "memory" and self.threshold is not None:
            return f"peak memory above {self.threshold / 2**30:.1f} GiB"
        if self.kind == "duration" and self.threshold is not None:
            return f"build longer than {self.threshold:.0f} s"
        if self.kind == "regex":
            return f"{self.line} (log matches /{self.message}/)" if self.line else f"log matches /{self.message}/"
        where = f" [{self.location}]" if self.location and self.location not in self.message else ""
        if self.kind == "crash":
            return f"{self.words()}{where} ({self.kind})"
        head = f"{self.tool}: " if self.tool else ""
        return f"{head}{self.message}{where} ({self.kind})"

    def words(self) -> str:
        """A crash as LLVM's maintainers search for it: ``ld.lld crashed in regular LTO
        optimization: LLVM ERROR: Broken module found (...)``; other kinds as :meth:`describe`."""
        if self.kind != "crash":
            return self.describe()
        return f"{self.tool} {self.message}" if self.tool else self.message

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "tool": self.tool,
            "message": self.message,
            "location": self.location,
            "threshold": self.threshold,
            # Only when set: a signature without them keeps the JSON (and the fingerprint of
            # a session's oracle) it always had.
            **({"line": self.line} if self.line else {}),
            **({"basis": self.basis.to_json()} if self.basis is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Signature":
        basis = data.get("basis")
        return cls(
            kind=data["kind"],
            tool=data.get("tool", ""),
            message=data.get("message", ""),
            location=data.get("location", ""),
            threshold=data.get("threshold"),
            line=data.get("line", ""),
            basis=cls.from_json(basis) if basis else None,
        )


@dataclass(frozen=True)
class ConfDisagreement:
    """The build's own conf (kbuild's syncconfig) settled the config we wrote differently.

    ``built_digest`` is the digest of the config that was really built (the ``.config`` conf
    left in the O= directory); ``symbols`` the first differing settings, one line each,
    ``CONFIG_X: ours y, conf n``; ``total`` how many settings differ in all.
    """

    built_digest: str
    symbols: Tuple[str, ...] = ()
    total: int = 0

    def describe(self, limit: int = 20) -> str:
        """``CONFIG_X: ours y, conf n; ...`` (``and N more`` past ``limit``)."""
        shown = "; ".join(self.symbols[:limit])
        more = self.total - min(limit, len(self.symbols))
        return shown + (f"; and {more} more" if more > 0 else "")

    def to_json(self) -> dict:
        return {"built_digest": self.built_digest, "symbols": list(self.symbols), "total": self.total}

    @classmethod
    def from_json(cls, data: dict) -> "ConfDisagreement":
        symbols = tuple(data.get("symbols") or ())
        return cls(built_digest=data["built_digest"], symbols=symbols,
                   total=int(data.get("total", len(symbols))))


@dataclass(frozen=True)
class Outcome:
    """The result of testing one resolved config: the verdict and what was measured.

    ``conf`` is set when the build's own conf turned the config we wrote into another one
    (kernel builds only): the verdict then belongs to ``conf.built_digest`` as well.
    """

    verdict: Verdict
    signature: Optional[Signature] = None  # the failure seen (None when it passed)
    duration: float = 0.0  # seconds of wall time
    peak_rss: Optional[int] = None  # bytes, the build's process tree at its peak
    log_path: Optional[str] = None
    detail: str = ""  # one line for people: the first error, the reason of an infra error
    exit_code: Optional[int] = None
    conf: Optional[ConfDisagreement] = None

    def to_json(self) -> dict:
        data = {
            "verdict": self.verdict.value,
            "signature": self.signature.to_json() if self.signature else None,
            "duration": round(self.duration, 3),
            "peak_rss": self.peak_rss,
            "log_path": self.log_path,
            "detail": self.detail,
            "exit_code": self.exit_code,
        }
        if self.conf is not None:  # only then: records of agreeing builds stay as they were
            data["conf"] = self.conf.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Outcome":
        sig = data.get("signature")
        return cls(
            verdict=Verdict(data["verdict"]),
            signature=Signature.from_json(sig) if sig else None,
            duration=float(data.get("duration", 0.0)),
            peak_rss=data.get("peak_rss"),
            log_path=data.get("log_path"),
            detail=data.get("detail", ""),
            exit_code=data.get("exit_code"),
            conf=ConfDisagreement.from_json(data["conf"]) if data.get("conf") else None,
        )


@dataclass(frozen=True)
class Structure:
    """What strategies may know of the changes beyond their names.

    ``needs[c]``: the other changes (inside the change set) that ``c`` needs to take effect,
    transitively (its dependency closure, without ``c``). ``menu[c]``: its menu path, outermost
    first, e.g. ``("General setup", "Kernel compression mode")``. ``providers[line]``: for a
    setting line of the resolved bad config that the baseline lacks (``CONFIG_LOCKDEP=y``), the
    changes that can bring it about each on its own: the change to that symbol, the changes to
    the symbols that ``select`` it, and those to what it depends on when it takes its value by
    default, through any chain; when the bad config hides that symbol's prompt, the changes to
    the prompt's condition too (``EXPERT`` off gives ``TTY=y``). Such changes are alternatives: the line goes only when all of
    them do.
    """

    needs: dict = field(default_factory=dict)  # Change -> FrozenSet[Change]
    menu: dict = field(default_factory=dict)  # Change -> Tuple[str, ...]
    providers: dict = field(default_factory=dict)  # str (a .config line) -> FrozenSet[Change]

    def closure(self, changes: Iterable[Change]) -> Candidate:
        out = set(changes)
        for c in list(out):
            out |= self.needs.get(c, frozenset())
        return frozenset(out)

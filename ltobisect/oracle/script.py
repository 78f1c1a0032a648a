"""ScriptOracle: the user's interestingness script decides."""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Optional

from ..build import (build_env, run_process)
from ..errors import InfraError
from ..inputs import check_script
from ..model import Outcome, Resolved, Signature, SignatureKind, Verdict
from .common import Shared, infra_outcome, new_log, write_if_changed
from .spec import CANNOT_TEST, OracleDefaults


class ScriptOracle(OracleDefaults):
    """The user's interestingness script decides.

    The script gets the resolved ``.config`` path as ``argv[1]`` (also in ``$LTOBISECT_CONFIG``),
    runs with the slot's worker directory ``state_dir/workers/<slot>/`` as cwd, TMPDIR and HOME
    inside it, in its own process group, under the same timeout and memory limit as builds.

    Exit status, as ``git bisect run`` reads it: 0 = ``REPRODUCES``; 125 = cannot test this
    config, which we record as ``OTHER_FAILURE`` with signature ``script: cannot test (exit 125)``
    (a final verdict about the config, never interesting, cached: a skip is deterministic, so it
    is not an infrastructure error and is not retried); anything else = ``PASSES`` (the exit
    status is in ``detail``). A timeout gives ``TIMEOUT``, the memory limit ``OUT_OF_MEMORY``, a
    signal we did not send or :meth:`close` ``INFRA_ERROR``. :meth:`observe` is :meth:`test`:
    the script is its own signature.
    """

    def __init__(self, script: Path, state_dir: Path, *, timeout: Optional[float] = None,
                 mem_limit: Optional[int] = None) -> None:
        self.script = check_script(Path(script))
        self.state_dir = Path(state_dir)
        self.timeout = timeout
        self.mem_limit = mem_limit
        self.signature: Optional[Signature] = Signature(kind=SignatureKind.SCRIPT, tool=self.script.name,
                                                        message=f"{self.script.name} exits 0")
        self._shared = Shared()

    def fingerprint(self) -> str:
        """Hash of the script's path and content."""
        try:
            body = self.script.read_bytes()
        except OSError as exc:
            raise InfraError(f"cannot read test script {self.script}: {exc}") from exc
        data = {"oracle": "script", "path": str(self.script), "sha256": hashlib.sha256(body).hexdigest()}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]

    def with_signature(self, sig: Signature) -> "ScriptOracle":
        """A copy carrying ``sig`` (for reports; the script still decides)."""
        other = copy.copy(self)
        other.signature = sig
        return other

    def with_timeout(self, seconds: Optional[float]) -> "ScriptOracle":
        """A copy with another per-test wall-clock limit."""
        other = copy.copy(self)
        other.timeout = seconds
        return other

    def worker_dir(self, slot: int) -> Path:
        return self.state_dir / "workers" / str(slot)

    def observe(self, resolved: Resolved, slot: int) -> Outcome:
        """Same as :meth:`test`."""
        return self.test(resolved, slot)

    def test(self, resolved: Resolved, slot: int) -> Outcome:
        """Run the script on the resolved config."""
        if self._shared.groups.closed:
            return infra_outcome("the oracle is closed")
        with self._shared.slot_lock(slot):
            try:
                work = self.worker_dir(slot)
                work.mkdir(parents=True, exist_ok=True)
                for sub in ("tmp", "home"):
                    (work / sub).mkdir(exist_ok=True)
                config = work / ".config"
                write_if_changed(config, resolved.config_text)
                log = new_log(self.state_dir / "logs", resolved.digest)
                env = build_env(None, work, {"LTOBISECT_CONFIG": str(config.resolve()),
                                             "LTOBISECT_WORKER": str(work.resolve())})
                result = run_process([str(self.script), str(config.resolve())], cwd=work, env=env,
                                     timeout=self.timeout, mem_limit=self.mem_limit, log_path=log,
                                     groups=self._shared.groups.tagged(slot))
            except InfraError as exc:
                return infra_outcome(str(exc))
            except OSError as exc:
                return infra_outcome(f"{exc.__class__.__name__}: {exc}")
        common = dict(duration=result.duration, peak_rss=result.peak_rss, log_path=str(result.log_path),
                      exit_code=result.exit_code)
        if result.timed_out:
            tsig = Signature(kind=SignatureKind.TIMEOUT, message=f"no result within {self.timeout:.0f} s")
            return Outcome(verdict=Verdict.TIMEOUT, signature=tsig, detail=tsig.message, **common)
        if result.oom:
            msig = Signature(kind=SignatureKind.MEMORY, threshold=float(self.mem_limit) if self.mem_limit else None)
            return Outcome(verdict=Verdict.OUT_OF_MEMORY, signature=msig, detail="killed at the memory limit", **common)
        if result.killed_by_us:
            return infra_outcome("interrupted (the oracle was closed)", result)
        if result.signal is not None:
            return infra_outcome(f"the script was killed by signal {result.signal}, which we did not send", result)
        if result.exit_code == 0:
            return Outcome(verdict=Verdict.REPRODUCES, signature=self.signature, detail="script exited 0", **common)
        if result.exit_code == CANNOT_TEST:
            skip = Signature(kind=SignatureKind.SCRIPT, tool=self.script.name, message=f"cannot test (exit {CANNOT_TEST})")
            return Outcome(verdict=Verdict.OTHER_FAILURE, signature=skip, detail=skip.describe(), **common)
        return Outcome(verdict=Verdict.PASSES, detail=f"script exited {result.exit_code}", **common)

    def close(self) -> None:
        """Kill running scripts (process groups); later tests give INFRA_ERROR."""
        self._shared.groups.kill_all(close=True)

    def cancel(self, slot: int) -> None:
        """Kill the build running in ``slot`` (a build started ahead that is no longer wanted);
        its outcome is not a verdict. Later builds run as usual."""
        self._shared.groups.kill_tagged(slot)

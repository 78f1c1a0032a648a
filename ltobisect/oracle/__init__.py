"""Oracles: turn a resolved config into a verdict.

:class:`KernelOracle` builds the config (``build.run_make`` in the slot's persistent worker
directory) and judges the log with a failure signature: ``REPRODUCES`` only when the log shows
the same signature; any other failure is ``OTHER_FAILURE`` and is never counted as reproducing.
:class:`ScriptOracle` runs the user's interestingness script instead.

Verdicts (``model.Verdict``), first rule that applies:

1. ``INFRA_ERROR``, our side: the sandbox could not be set up, the log could not be written, the
   disk or quota is full, the build was interrupted by :meth:`close` (Ctrl-C), or make died of
   a signal we did not send. Never cached; the executor retries it. Oracles never retry.
2. ``REPRODUCES``: the log (and measurements) match the signature, even if other errors are in
   the log too (``make -k``). A duration signature matches a build killed after its threshold;
   a memory signature matches a build killed above its threshold (both stop the build early).
3. ``TIMEOUT``: killed at the wall-clock limit. ``OUT_OF_MEMORY``: killed at our memory limit,
   or a tool in the build was killed by SIGKILL (the OOM killer) and nothing else failed first.
4. ``PASSES``: make exited 0 (warnings do not count unless they are the signature).
5. ``OTHER_FAILURE``: any other failure; ``outcome.signature`` is its primary signature.

After a kernel build, the ``.config`` kbuild's own conf left in the O= directory is compared
with the one we wrote (:mod:`ltobisect.confcheck`); when conf built another config, the outcome
says so in ``outcome.conf`` (its digest and the differing settings). The script oracle runs no
conf and never sets it.

Worker layout, per slot: ``state_dir/workers/<slot>/`` holds ``out/`` (the persistent O=
directory), ``tmp/`` (TMPDIR) and ``home/`` (HOME). Logs: ``state_dir/logs/<digest>-<n>.log``.
ccache: ``spec.ccache_dir`` or the user's (``config.user_ccache_dir``). One build at a time per slot (a lock): two
builds in one O= directory corrupt it.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .guard import TreeGuard
from .kernel import KernelOracle, is_kbuild, targets_for
from .script import ScriptOracle
from .spec import CANNOT_TEST, Oracle, OracleDefaults, OracleSpec

__all__ = ["CANNOT_TEST", "KernelOracle", "Oracle", "OracleDefaults", "OracleSpec", "ScriptOracle", "TreeGuard",
           "guarded", "is_kbuild", "make_oracle", "targets_for"]


def make_oracle(spec: OracleSpec) -> "Oracle":
    """The oracle ``spec`` describes: the user's script, or a build of the tree."""
    if spec.script is not None:
        return ScriptOracle(spec.script, spec.work_dir, timeout=spec.timeout, mem_limit=spec.mem_limit)
    if spec.build is None:
        raise UserError("no tree given", hint="give --tree, the Kconfig tree the config is for")
    thresholds = dict(memory_threshold=spec.memory_threshold,
                      duration_threshold=spec.duration_threshold) if spec.signature is None else {}
    oracle = KernelOracle(spec.build, spec.work_dir, signature=spec.signature, timeout=spec.timeout,
                          mem_limit=spec.mem_limit, workers=spec.workers,
                          timeout_derived=spec.timeout_derived, **thresholds)
    if spec.targets is not None:
        oracle = oracle.with_targets(spec.targets)
    return oracle


def guarded(oracle: "Oracle", spec: OracleSpec) -> "Oracle":
    """``oracle``, turning a build of a tree that vanished during the run into an infrastructure
    error (see :class:`TreeGuard`)."""
    if spec.build is None:
        return oracle
    return TreeGuard(oracle, Path(spec.build.tree), spec.build.kconfig_file)

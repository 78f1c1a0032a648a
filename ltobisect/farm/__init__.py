"""Builds on a Dask cluster: the executor for build farms (``--scheduler ADDRESS``).

The only package that imports Dask (the ``dask`` extra). It implements the executor contract of
:mod:`ltobisect.executor` with the builds running on Dask workers, possibly on other machines:

- **What travels.** Each build is one task: the :class:`~ltobisect.oracle.OracleSpec` (plain,
  picklable values) and the resolved ``.config`` text. The worker makes the same oracle with
  :func:`~ltobisect.oracle.make_oracle`; its verdict, signature, timings and peak memory come
  back with the build log (compressed), which the client writes into its own ``logs/``. The
  client journals each outcome on its own thread before the next decision, as with local
  workers, so its state directory alone is enough for ``report``, ``resume`` and
  ``reproduce.sh``.
- **Warm workers.** A worker keeps persistent build directories outside Dask's purged local
  directory: under ``$LTOBISECT_FARM_DIR`` (default ``~/.cache/ltobisect/farm``), one per tree
  and toolchain, each claimed by one build at a time with a lock file, so two worker processes
  on one machine never share an O= directory, and a restarted worker finds its objects again.
  ccache is ``$LTOBISECT_FARM_DIR/ccache`` unless ``CCACHE_DIR`` is set on the worker.
- **The same tree.** The tree is found on the worker at the client's path, or through
  ``$LTOBISECT_TREE_MAP`` (``CLIENT_PATH=WORKER_PATH[:...]``). A worker whose tree is missing or
  differs (the top Makefile's hash) or whose compiler and linker versions differ from the
  client's refuses the build with an infrastructure error that names it; the build goes to
  another worker and that one gets no more builds of this session.
- **Cancel means kill.** Dask never aborts a running task, so each build watches a
  ``distributed.Event`` of its own; setting it (a stop, Ctrl-C, an abandoned batch) kills the
  build's whole process group on the worker within a second.
- **Faults.** A worker that dies mid-build costs that build only: Dask runs the task again on
  another worker, and a build that cannot finish anywhere is an infrastructure error, retried
  with backoff and never taken for a verdict.
- **Memory.** ``build_memory`` makes each build a request for that much of the ``MEM`` resource
  (workers started with ``--resources "MEM=64e9"``); when no worker of the cluster has enough,
  that is bad input before the first build, not a hang.
"""
from __future__ import annotations

try:  # the extra: without it, one line says how to install it
    import distributed
except ImportError as exc:
    raise ImportError("the build farm needs Dask: pip install 'ltobisect[dask]'") from exc
del distributed

from ltobisect.farm.client import CONNECT_TIMEOUT, MEMORY_RESOURCE, FarmExecutor, connect, farm_pool
from ltobisect.farm.worker import CANCEL_POLL, WorkerRefused, build_task, farm_root, tree_on_worker

__all__ = ["CANCEL_POLL", "CONNECT_TIMEOUT", "MEMORY_RESOURCE", "FarmExecutor", "WorkerRefused",
           "build_task", "connect", "farm_pool", "farm_root", "tree_on_worker"]

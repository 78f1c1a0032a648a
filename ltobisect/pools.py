"""Where the builds run: the local pool of this machine, or the Dask build farm.

One choice for every command that builds (a session, ``ltobisect bisect``): without a scheduler
the local pool (:func:`ltobisect.executor.local_pool`), else the farm at that address
(:func:`ltobisect.farm.farm_pool`). Dask is an optional extra, imported only here and only when a
scheduler is named; without it the refusal is one line that says how to install it.
"""
from __future__ import annotations

from typing import Optional

from ltobisect.config import FarmAccess, RetryPolicy
from ltobisect.errors import UserError
from ltobisect.events import NullReporter, Reporter
from ltobisect.executor import ExecutorFactory, OracleFactory, local_pool
from ltobisect.farmcheck import check_farm
from ltobisect.oracle import make_oracle


def pool_for(scheduler: Optional[str], workers: int, retry: RetryPolicy = RetryPolicy(),
             reporter: Reporter = NullReporter(), *, build_memory: Optional[int] = None,
             make: OracleFactory = make_oracle, access: FarmAccess = FarmAccess()) -> ExecutorFactory:
    """The executor factory for ``workers`` builds at once, here or on the farm at ``scheduler``
    (reached as ``access`` says, checked by :func:`ltobisect.farmcheck.check_farm`)."""
    if scheduler is None:
        return local_pool(workers, retry, reporter, make)
    try:
        from ltobisect import farm
    except ImportError as exc:
        raise UserError(f"--scheduler {scheduler}: {exc}") from None
    check_farm(scheduler, access)
    return farm.farm_pool(scheduler, workers, retry, reporter, build_memory=build_memory, make=make,
                          access=access)

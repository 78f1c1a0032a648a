"""The build farm's address and how it is reached, checked before anything is written.

Dask's ``tcp://`` is unauthenticated: anyone who reaches the scheduler can run code on every
worker. So a farm is reached by ``tls://`` (the CA, the client's certificate and key: options,
or Dask's own ``distributed.comm.tls`` configuration), by ``local:N`` (worker processes here), or
by ``tcp://`` on this machine's loopback; a plain ``tcp://`` farm elsewhere only with
``--insecure-farm``. Nothing here imports Dask: the refusal comes before it is needed.
"""
from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any, Optional, Tuple

from ltobisect.config import FarmAccess
from ltobisect.errors import UserError

_TLS_OPTIONS = ("--tls-ca", "--tls-cert", "--tls-key")


def farm_access(args: Any) -> FarmAccess:
    """The farm options as given (each TLS file checked readable), before the address is."""
    files = []
    for option in _TLS_OPTIONS:
        value = getattr(args, option[2:].replace("-", "_"), None)
        if value is not None:
            path = Path(value).expanduser()
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise UserError(f"{option} {value}: {exc.strerror or exc}",
                                "give a PEM file this user can read") from None
            value = path.resolve()
        files.append(value)
    return FarmAccess(*files, insecure=bool(getattr(args, "insecure_farm", False)))


def _scheme_and_host(address: str) -> Tuple[str, str]:
    """``tls://sched.example.org:8786`` -> (tls, sched.example.org); no scheme is Dask's tcp."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    hostport = rest.split("/", 1)[0]
    if hostport.startswith("["):  # [::1]:8786
        host = hostport[1:].split("]", 1)[0]
    else:
        host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    return scheme.lower(), host


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's loopback (a name that does not
    resolve here is not)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in found)


def check_farm(scheduler: Optional[str], access: FarmAccess) -> None:
    """The farm's address and how it is reached, before anything is written: ``local:N``,
    ``tls://`` (with the TLS files, or Dask's configuration), or ``tcp://`` on this machine;
    a plain ``tcp://`` farm elsewhere only with ``--insecure-farm``."""
    given = [o for o, f in zip(_TLS_OPTIONS, access.tls_files) if f is not None]
    if scheduler is None or scheduler.startswith("local:"):
        if given:
            raise UserError(f"{given[0]} is for a tls:// scheduler", "give --scheduler tls://HOST:PORT")
        return
    scheme, host = _scheme_and_host(scheduler)
    if scheme not in ("tcp", "tls"):
        raise UserError(f"--scheduler {scheduler}: ltobisect reaches a farm by tls:// or tcp://",
                        "for example --scheduler tls://sched.example.org:8786")
    if scheme == "tls":
        if given and len(given) < 3:
            missing = [o for o in _TLS_OPTIONS if o not in given]
            raise UserError(f"--scheduler {scheduler}: {', '.join(missing)} missing (a tls:// farm "
                            "needs the CA, the client's certificate and its key)",
                            "give all three, or none to use Dask's distributed.comm.tls configuration")
        return
    if given:
        raise UserError(f"{given[0]} is for a tls:// scheduler, not {scheduler}",
                        f"give --scheduler tls://{scheduler.partition('://')[2] or scheduler}")
    if not is_loopback(host) and not access.insecure:
        raise UserError(f"--scheduler {scheduler}: a plain tcp:// farm off this machine is "
                        "unauthenticated: anyone who reaches it can run code on every worker",
                        "use tls:// with --tls-ca, --tls-cert and --tls-key, or give "
                        "--insecure-farm if that network is yours alone")


"""The failing link for LLVM's maintainers: ``ld.lld --reproduce`` of it, replayed alone.

:func:`lld_reproduce` runs the session's reproduce.sh in a clean output directory with
``LLD_REPRODUCE`` set, so that ld.lld writes the inputs of the failing link (objects, bitcode,
archives, linker script, ``response.txt``) into one tarball; lld writes it for a link that
crashes too. :func:`relink_alone` unpacks that tarball in a clean directory and runs
``ld.lld @response.txt`` there, as a maintainer will, judging the output by the session's
signature (:func:`ltobisect.logs.signature.replays`): the report says whether the tarball alone shows
the failure.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Optional

from ltobisect import process
from ltobisect.logs import signature as sg
from ltobisect.model import Signature

#: The file of an ``ld.lld --reproduce`` tarball that holds the link's arguments.
RESPONSE = "response.txt"


def lld_reproduce(script: Path, work: Path, tarball: Path, limit: float, stop: threading.Event,
                  env: Optional[Dict[str, str]] = None, keep: bool = False) -> Dict[str, Any]:
    """Run reproduce.sh in a clean output directory with LLD_REPRODUCE set; lld's tarball.

    lld (ELF) honours the LLD_REPRODUCE environment variable like ``--reproduce=``: every link
    writes its inputs to that tarball, even a link that fails. The failing link is the last one
    make runs, so the file left is the one an LLVM developer needs to replay the link without
    the kernel. Running the reproducer also proves the report's commands work. ``limit`` bounds
    its wall time; setting ``stop`` kills it. ``env`` is its environment (default: ours); the
    session gives it the environment of the search's builds with ``work/lld-reproduce/0`` as
    the sandbox, so that the search's warm ccache answers its compiles. ``keep``: leave the
    build directory (``info["build"]``) for the caller, who removes it.
    """
    out = work / "lld-reproduce"
    shutil.rmtree(out, ignore_errors=True)
    for sub in ("tmp", "home"):  # TMPDIR and HOME of build.build_env(sandbox_root=out/0)
        (out / "0" / sub).mkdir(parents=True)
    try:
        tarball.unlink()
    except FileNotFoundError:
        pass
    env = dict(env if env is not None else os.environ, LLD_REPRODUCE=str(tarball))
    said = out.parent / "lld-reproduce.out"
    # <work>/lld-reproduce/0/out lies as deep below the work directory as the workers'
    # <work>/workers/<slot>/out, so with CCACHE_BASEDIR the compile commands are the same
    # relative ones and the search's ccache answers them.
    build = out / "0" / "out"
    try:
        with open(said, "wb") as sink:
            done = process.run(["sh", str(script), "-o", str(build)], env=env, stdout=sink,
                               timeout=limit, stop=stop)
    except OSError as exc:
        return {"made": False, "reason": f"cannot run reproduce.sh: {exc}"}
    if done.killed_by_us:
        return {"made": False, "reason": "reproduce.sh did not finish in time"}
    try:
        output = said.read_text(errors="replace")
        said.unlink()
    except OSError:
        output = ""
    returncode = os.waitstatus_to_exitcode(done.status)
    reproduced = returncode == 0
    info: Dict[str, Any] = {"reproduce_sh_exit": returncode,
                            "reproduce_sh_output": output[-2000:]}
    if tarball.is_file() and reproduced:
        info.update(made=True, path=str(tarball))
    else:
        info.update(made=False, reason="ld.lld wrote no tarball" if reproduced else
                    "reproduce.sh could not run (exit 2)" if returncode == 2 else
                    "reproduce.sh did not reproduce the failure")
    if keep and info["made"]:
        info["build"] = str(build)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return info


def safe_members(tar: tarfile.TarFile) -> Optional[str]:
    """The tarball's one top directory, when every member is a plain file or directory below
    it (what lld writes); ``None`` for anything else (links, absolute or ``..`` paths)."""
    top = None
    for m in tar.getmembers():
        parts = PurePosixPath(m.name).parts
        if not parts or m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            return None
        if top is None:
            top = parts[0]
        elif parts[0] != top:
            return None
    return top


def relink_alone(tarball: Path, linker: str, sig: Signature, work: Path, limit: float,
                 stop: threading.Event) -> Dict[str, Any]:
    """Unpack ``tarball`` under ``work/relink`` and run ``linker @response.txt`` in it.

    The result: ``relinks`` (the link alone shows ``sig``), ``relink_said`` (what it showed, in
    words), ``relink_command`` (what a maintainer types after unpacking). The unpacked copy is
    removed afterwards; ``limit`` bounds the link's wall time, ``stop`` kills it.
    """
    out = work / "relink"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    command = f"{linker} @{RESPONSE}"
    try:
        try:
            with tarfile.open(tarball) as tar:
                top = safe_members(tar)
                if top is None:
                    return {"relinks": False, "relink_said": "the tarball holds more than lld writes"}
                tar.extractall(out)
        except (OSError, tarfile.TarError) as exc:
            return {"relinks": False, "relink_said": f"cannot unpack the tarball: {exc}"}
        root = out / top
        if not (root / RESPONSE).is_file():
            return {"relinks": False, "relink_said": f"the tarball has no {RESPONSE}"}
        log = out / "relink.log"
        try:
            with open(log, "wb") as sink:
                done = process.run([linker, f"@{RESPONSE}"], cwd=root, stdout=sink, timeout=limit,
                                   stop=stop)
        except OSError as exc:
            return {"relinks": False, "relink_said": f"cannot run {linker}: {exc}"}
        if done.killed_by_us:
            return {"relinks": False, "relink_said": "the link did not finish in time"}
        text = log.read_text(errors="replace")
        status = os.waitstatus_to_exitcode(done.status)
        found = sg.extract(text, roots=[str(root)])
        if sg.replays(sig, text, roots=[str(root)]):
            said = found.describe() if found is not None else sig.describe()
            return {"relinks": True, "relink_said": said, "relink_command": f"cd {top} && {command}"}
        said = (found.describe() if found is not None else
                "links without error" if status == 0 else f"exit status {status}, no error recognized")
        return {"relinks": False, "relink_said": said, "relink_command": f"cd {top} && {command}"}
    finally:
        shutil.rmtree(out, ignore_errors=True)

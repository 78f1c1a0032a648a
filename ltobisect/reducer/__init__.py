"""The reproducer beyond the config: a reduced source or link for the toolchain's maintainers.

A minimal config is what a kernel maintainer needs; a compiler or linker bug needs one file or
one link. From a minimized session, ``ltobisect reduce`` (or ``--reduce`` after a search)
builds the minimal config once more with what the reduction needs and reduces the failure's
reproducer, judged by the session's own signature at every step, so it cannot slip to another
failure:

- :mod:`.compile`: the failing compile's exact command, its preprocessed source;
  :mod:`.source`: those steps, C-Vise and the attachments;
- :mod:`.link`: ``ld.lld --reproduce`` tarballs read, links run, the earlier link found;
  :mod:`.linking`: those steps, ddmin over the inputs, ``llvm-link`` and ``llvm-reduce``;
- :mod:`.run`: which reduction, its limits, the rerun of the attachments alone, the outcome in
  result.json (steps journaled in ``reduce/``, attachments in ``reduced/``);
- :mod:`.common`: the state on disk, the tools, a watched run of a reducer.
"""

"""Jobs: the only places that read the store, call a stage and write back.

::

    jobs.scan     corpus files -> extract (stage)  -> store: documents, citations, links
    jobs.check    store: due links -> check (stage) -> verdict (pure) -> store: history
    jobs.archive  store: the queue  -> archive (stage: look-ups, SPN2) -> store: snapshots
    jobs.report   store: report rows -> report (stage: pages)  -> files, store: report time

The CLI and the daemon (through ``linkwatch.cycle``) call jobs; stages never import the
store (an import contract in ``pyproject.toml`` keeps it so, checked by ``scripts/check``).
"""

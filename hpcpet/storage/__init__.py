"""Storage: the only code that knows the HDF5 layout (docs/format.md).

Modules: ``layout`` (paths and names), ``files`` (opening, atomic publishing),
``header``, ``rows`` (one result's rows on disk), ``segments`` (immutable
checkpoint files), ``guard`` (one writer per file), ``snapshot`` (a consistent
view of a study), ``writer`` (the only writer), ``reader`` (``hpcpet.load``),
``status``, ``merge``, ``pypet_import``, ``format1`` (reading round-1 files).

Nothing here imports the engine, the backends, the environment or the CLI.
"""

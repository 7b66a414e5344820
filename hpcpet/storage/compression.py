"""Compression of result columns: one spec string -> the h5py filter keywords.

Specs: ``none``, ``gzip[:LEVEL]`` (0-9, default 4), ``lzf``, ``zstd[:LEVEL]`` (1-22, default 3),
``blosc[:CODEC[:LEVEL]]`` (CODEC lz4, lz4hc, zstd, zlib, blosclz; default zstd level 5, with byte
shuffle). gzip and lzf are built into h5py; zstd and blosc come from ``hdf5plugin`` (the
``compression`` extra), which a plain-h5py reader also imports to read such a file.
"""
from __future__ import annotations

from ..errors import HpcpetError

_PLUGIN = ("zstd", "blosc")


def parse(spec: str | None) -> dict:
    """The ``create_dataset`` keywords for ``spec`` (``{}`` for none); a one-line error if invalid."""
    if spec is None or spec in ("", "none"):
        return {}
    name, _, rest = str(spec).partition(":")
    args = rest.split(":") if rest else []
    try:
        if name == "gzip" and len(args) <= 1:
            level = int(args[0]) if args else 4
            if not 0 <= level <= 9:
                raise ValueError
            return {"compression": "gzip", "compression_opts": level, "shuffle": True}
        if name == "lzf" and not args:
            return {"compression": "lzf", "shuffle": True}
        if name in _PLUGIN:
            plugin = _hdf5plugin(spec)
            if name == "zstd" and len(args) <= 1:
                level = int(args[0]) if args else 3
                if not 1 <= level <= 22:
                    raise ValueError
                return dict(plugin.Zstd(clevel=level))
            if name == "blosc" and len(args) <= 2:
                cname = args[0] if args else "zstd"
                level = int(args[1]) if len(args) > 1 else 5
                if cname not in ("lz4", "lz4hc", "zstd", "zlib", "blosclz") or not 0 <= level <= 9:
                    raise ValueError
                return dict(plugin.Blosc(cname=cname, clevel=level, shuffle=plugin.Blosc.SHUFFLE))
    except ValueError:
        pass
    raise HpcpetError(f"unknown compression {spec!r}; use none, gzip[:0-9], lzf, zstd[:1-22] or "
                      "blosc[:lz4|lz4hc|zstd|zlib|blosclz[:0-9]]")


def _hdf5plugin(spec: str):
    try:
        import hdf5plugin
    except ImportError:
        raise HpcpetError(f"compression {spec!r} needs the hdf5plugin package: "
                          "pip install hdf5plugin (or hpcpet[compression])") from None
    return hdf5plugin


def enable_readers() -> None:
    """Make the zstd/blosc filters available to HDF5 if hdf5plugin is installed (for reading)."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass

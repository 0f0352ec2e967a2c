"""Where hf-bioner keeps things on disk: the cache (converted models, downloaded corpora)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$HF_BIONER_CACHE``, else ``$XDG_CACHE_HOME/hf_bioner``, else ``~/.cache/hf_bioner``."""
    if os.environ.get("HF_BIONER_CACHE"):
        return Path(os.environ["HF_BIONER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "hf_bioner"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The corpora folder: the argument, else ``$HF_BIONER_DATA``, else the cache's ``corpora``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("HF_BIONER_DATA"):
        return Path(os.environ["HF_BIONER_DATA"]).expanduser()
    return cache_dir() / "corpora"

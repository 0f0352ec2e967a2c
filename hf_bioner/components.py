"""The parts saved beside a generator, found and loaded: its selector (``selector/``,
:mod:`hf_bioner.selector`) and its type arbiter (``arbiter/``, :mod:`hf_bioner.arbiter`), from
the model's folder or, for a model loaded from the Hub, from its repository (downloaded).

The pipeline calls :func:`load_selector` and :func:`load_arbiter`; this module imports the
selector's and the arbiter's models, and nothing of the pipeline.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hf_bioner.arbiter import ARBITER_CONFIG, ARBITER_DIR, TypeArbiter
from hf_bioner.selector import SELECTOR_CONFIG, SELECTOR_DIR, EntitySelector

logger = logging.getLogger(__name__)


def load_selector(model, selector="auto"):
    """The selector to use: ``"auto"`` = the one saved beside the model's files, if any."""
    return _load_component(model, selector, EntitySelector, SELECTOR_DIR, SELECTOR_CONFIG)


def load_arbiter(model, arbiter="auto"):
    """The type arbiter to use: ``"auto"`` = the one saved beside the model's files, if any."""
    return _load_component(model, arbiter, TypeArbiter, ARBITER_DIR, ARBITER_CONFIG)


def _load_component(model, value, cls, name: str, config_file: str):
    """A part saved beside a model (selector, arbiter): ``value`` None or False = none, an
    instance of ``cls`` as it is, ``"auto"`` = ``name/`` of the model's folder or Hub
    repository if it has one, anything else = a folder to load."""
    if value is None or value is False:
        return None
    if isinstance(value, cls):
        return value
    if value == "auto":
        folder = getattr(model, "hf_bioner_folder", None) or getattr(model, "name_or_path", "")
        value = _component_folder(folder, name, config_file) if folder else None
        if value is None:
            return None
    return cls.load(value)


def _component_folder(location: str, name: str, config_file: str) -> Path | None:
    """``name/`` of a model folder, or of a Hub repository (downloaded); None if absent."""
    if Path(location).is_dir():
        folder = Path(location) / name
        return folder if (folder / config_file).exists() else None
    try:
        from huggingface_hub import snapshot_download

        root = snapshot_download(location, allow_patterns=[f"{name}/*"])
    except Exception as err:  # offline, private, not a repo: tag without it
        logger.warning("no %s loaded from %s (%s)", name, location, type(err).__name__)
        return None
    folder = Path(root) / name
    return folder if (folder / config_file).exists() else None

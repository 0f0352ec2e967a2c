"""Register ``pipeline("bio-ner")`` with transformers without importing transformers early.

``import hf_bioner`` must stay fast (the CLI imports it for every command), but importing
``transformers.pipelines`` takes seconds. So registration happens when it is needed: at once
if ``transformers.pipelines`` is already imported, otherwise right after it gets imported
(an import hook that wraps that one module's loader).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

_TARGET = "transformers.pipelines"


def _register() -> None:
    module = sys.modules.get("hf_bioner.pipeline")
    if module is not None and not hasattr(module, "register"):
        return  # hf_bioner.pipeline is being imported; it registers itself at its end
    from hf_bioner.pipeline import register

    register()


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of ``transformers.pipelines``."""

    def find_spec(self, name, path=None, target=None):
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register()

        spec.loader.exec_module = exec_then_register
        return spec


def install() -> None:
    if _TARGET in sys.modules:
        _register()
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())

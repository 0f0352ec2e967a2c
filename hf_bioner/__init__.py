"""hf-bioner: biomedical named entity recognition with large language models.

The public API is small: corpora (:func:`load_corpus`), symbolic tagging
(:func:`encode` / :func:`decode`), and the errors bad input raises (:class:`BioNerInputError`).
Heavy libraries (torch, transformers, datasets) are imported only where they are needed.
"""

from hf_bioner import _registration
from hf_bioner.schema import BioNerInputError

__version__ = "0.1.0"

_registration.install()  # pipeline("bio-ner") once transformers.pipelines is imported

__all__ = ["BioNerInputError", "__version__", "decode", "encode", "load_corpus"]


def __getattr__(name: str):
    """Import the public functions on first use, so ``import hf_bioner`` stays fast."""
    if name == "load_corpus":
        from hf_bioner.corpora import load_corpus

        return load_corpus
    if name in ("encode", "decode"):
        from hf_bioner import tagging

        return getattr(tagging, name)
    raise AttributeError(f"module 'hf_bioner' has no attribute {name!r}")

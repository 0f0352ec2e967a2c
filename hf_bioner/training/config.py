"""What one training run is: :class:`TrainConfig`, checked when it is made and saved into the
output folder (``training_summary.json``), so a run can be rebuilt from its folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hf_bioner import paths
from hf_bioner.corpora import corpus_spec
from hf_bioner.device import cuda_available, train_batch_size
from hf_bioner.prompts import MIX_STRATEGIES, check_prompt_style
from hf_bioner.schema import BioNerInputError
from hf_bioner.tagging import SCHEMES


@dataclass
class TrainConfig:
    """Everything about one training run (saved into the output folder)."""

    output_dir: str
    base: str = "smollm2-135m"
    corpora: list[str] = field(default_factory=lambda: ["ncbi_disease"])
    scheme: str = "paper"
    prompt_style: str = "full"  # "short": type names only (see hf_bioner.prompts)
    data_dir: str | None = None
    # data mix
    mix: str = "temperature"
    temperature: float = 2.0
    cap: int | None = None
    max_length: int = 512
    # optimisation
    epochs: float = 1.0
    max_steps: int = -1
    max_minutes: float | None = None  # stop after this much training time (then evaluate)
    learning_rate: float = 2e-4
    batch_size: int | None = None  # None: 8 on a CPU, 32 on a GPU (hf_bioner.device)
    grad_accum: int = 1
    warmup_ratio: float = 0.03
    seed: int = 0
    # adapter
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    # continue training this LoRA adapter (a trained model folder) instead of a fresh one:
    # a second pass at a lower learning rate starts where the first ended; the adapter's own
    # rank and targets are kept, so lora_r/lora_alpha/target_modules do not apply
    init_adapter: str | None = None
    # full fine-tuning (lora=False): the input embeddings (and a head tied to them) stay
    # frozen unless asked; for Gemma 3 they are 168M of its 270M weights
    train_embeddings: bool = False
    # the loss's softmax over the "full" vocabulary or only the tokens the training
    # "completions" use (hf_bioner.training.sft; CPU loss only, the fused GPU head is always full)
    loss_vocabulary: str = "full"
    # device (None = pick per device, see module docstring)
    bf16: bool | None = None
    padding_free: bool | None = None
    group_by_length: bool = True
    gradient_checkpointing: bool | None = None
    fused_lm_head: bool | None = None
    dtype: str | None = None
    device_map: str | None = None
    load_in_4bit: bool = False
    use_kernels: bool = False  # transformers' Hub kernels (looked up on the Hub: off offline)
    # evaluation and checkpoints
    eval_size: int = 64
    eval_steps: int = 200
    eval_batch_size: int = 16
    save_steps: int = 200
    logging_steps: int = 10
    checkpoint_dir: str | None = None
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.corpora, str):
            self.corpora = [c.strip() for c in self.corpora.split(",") if c.strip()]
        if not self.corpora:
            raise BioNerInputError("no corpora given")
        for name in self.corpora:
            corpus_spec(name, "train")
        if self.scheme not in SCHEMES:
            raise BioNerInputError(f"unknown scheme {self.scheme!r}; valid: {', '.join(SCHEMES)}")
        if self.mix not in MIX_STRATEGIES:
            raise BioNerInputError(f"unknown mix {self.mix!r}; valid: {', '.join(MIX_STRATEGIES)}")
        check_prompt_style(self.prompt_style)
        if self.batch_size is None:
            self.batch_size = train_batch_size(cuda_available())
        if self.init_adapter is not None:
            if not self.lora:
                raise BioNerInputError("init_adapter continues a LoRA adapter: drop --full")
            if not (Path(self.init_adapter) / "adapter_config.json").is_file():
                raise BioNerInputError(
                    f"init_adapter {self.init_adapter!r}: no adapter_config.json in that folder"
                )
        if self.loss_vocabulary not in ("full", "completions"):
            raise BioNerInputError(
                f"unknown loss vocabulary {self.loss_vocabulary!r}; valid: full, completions"
            )

    @property
    def run_name(self) -> str:
        return Path(self.output_dir).resolve().name

    def checkpoints(self) -> Path:
        return Path(self.checkpoint_dir or paths.cache_dir() / "checkpoints" / self.run_name)

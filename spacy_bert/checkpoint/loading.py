"""Strict loading of Hugging Face checkpoints into our model classes.

Rules (the allow-list):
- A tensor with the wrong shape is an error (E108) that lists every one of them.
- A missing encoder tensor is an error (E109); a missing task head (`cls.*`, `classifier.*`,
  `qa_outputs.*`) or pooler is initialised fresh and announced in one warning (W102).
- An unknown tensor is an error (E110), except task heads and the pooler that the target class
  does not use (e.g. `cls.*` when loading a pretraining checkpoint into `BertModel`), which are
  dropped and announced (W101), and the `position_ids`/`token_type_ids` buffers, dropped silently.
- A tokenizer vocabulary larger than `vocab_size` is an error (E111).
Nothing is half-loaded: every check runs before the first tensor is copied.
"""
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

import torch

from ..errors import Errors, Warnings
from ..modeling import BertConfig, BertModel, BertPreTrainedModel
from . import keys
from .files import read_config_dict, read_state_dict, vocab_file_sizes
from .resolve import resolve_checkpoint_dir

ModelT = TypeVar("ModelT", bound=BertPreTrainedModel)


@dataclass
class LoadReport:
    """What loading did, by parameter name."""

    loaded: List[str] = field(default_factory=list)
    fresh: List[str] = field(default_factory=list)  # missing heads/pooler, initialised anew
    dropped: List[str] = field(default_factory=list)  # unused heads/pooler of the checkpoint
    missing: List[str] = field(default_factory=list)  # errors
    unexpected: List[str] = field(default_factory=list)  # errors
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)  # errors


def read_config(directory: Union[str, os.PathLike], **overrides: Any) -> BertConfig:
    """`config.json` of a checkpoint directory as a `BertConfig` (with overrides applied)."""
    return BertConfig.from_dict(read_config_dict(Path(directory)), **overrides)


def check_vocab_fits(directory: Path, config: BertConfig) -> None:
    """Refuse a tokenizer vocabulary with ids the embedding matrix does not have (E111)."""
    for size in vocab_file_sizes(directory):
        if size > config.vocab_size:
            raise ValueError(Errors.E111.format(path=directory, vocab=size, config=config.vocab_size, last=config.vocab_size - 1))


def match_state_dict(model: torch.nn.Module, tensors: Dict[str, torch.Tensor]) -> Tuple[LoadReport, Dict[str, torch.Tensor]]:
    """Match checkpoint tensors to the model's parameters, without changing the model.

    Returns:
        (the report, the tensors to load by our parameter name).
    """
    has_prefix = isinstance(getattr(model, keys.BASE_PREFIX[:-1], None), BertModel)
    # named_parameters() lists a tied parameter once, under its first (canonical) name.
    params = dict(model.named_parameters())
    all_names = set(model.state_dict().keys())  # also the second names of tied parameters
    report = LoadReport()
    mismatched_names = set()
    to_load: Dict[str, torch.Tensor] = {}
    for checkpoint_name, tensor in tensors.items():
        name = keys.to_model_name(checkpoint_name, has_prefix)
        if keys.is_dropped_buffer(name):
            continue  # a buffer we rebuild
        if name in to_load and checkpoint_name not in keys.ALIASES:
            continue  # the second name of a tensor we already have
        # (An alias wins: Hugging Face's forward uses `cls.predictions.decoder.bias`, which
        # differs from `cls.predictions.bias` in untied checkpoints.)
        if name not in params:
            if name in all_names:
                continue  # e.g. cls.predictions.decoder.weight of a tied decoder
            if keys.is_head(name) or keys.is_pooler(name):
                report.dropped.append(name)
            else:
                report.unexpected.append(checkpoint_name)
            continue
        expected = tuple(params[name].shape)
        if tuple(tensor.shape) != expected:
            report.mismatched.append((checkpoint_name, tuple(tensor.shape), expected))
            mismatched_names.add(name)
            continue
        to_load[name] = tensor
    for name in params:
        if name in to_load or name in mismatched_names:
            continue
        if keys.is_head(name) or keys.is_pooler(name):
            report.fresh.append(name)
        else:
            report.missing.append(name)
    report.loaded = sorted(to_load)
    return report, to_load


def _details(items: List[str]) -> str:
    return "\n".join(f"  - {item}" for item in items)


def apply_state_dict(model: BertPreTrainedModel, tensors: Dict[str, torch.Tensor], source: str) -> LoadReport:
    """Strictly load checkpoint tensors into `model` (see the module docstring for the rules)."""
    report, to_load = match_state_dict(model, tensors)
    name = type(model).__name__
    if report.mismatched:
        details = _details([f"{n}: checkpoint {tuple(got)}, model {tuple(want)}" for n, got, want in report.mismatched])
        raise ValueError(Errors.E108.format(path=source, model=name, count=len(report.mismatched), details=details))
    if report.missing:
        raise ValueError(Errors.E109.format(path=source, model=name, count=len(report.missing), details=_details(report.missing)))
    if report.unexpected:
        raise ValueError(Errors.E110.format(path=source, model=name, count=len(report.unexpected), details=_details(report.unexpected)))
    with torch.no_grad():
        params = dict(model.named_parameters())
        for param_name, tensor in to_load.items():
            params[param_name].copy_(tensor.to(params[param_name].dtype))
    if report.dropped:
        warnings.warn(
            Warnings.W101.format(model=name, path=source, count=len(report.dropped), names=", ".join(report.dropped)),
            stacklevel=4,
        )
    if report.fresh:
        warnings.warn(
            Warnings.W102.format(
                model=name,
                path=source,
                count=len(report.fresh),
                modules=keys.head_modules(report.fresh),
                names=", ".join(report.fresh),
            ),
            stacklevel=4,
        )
    return report


def load_pretrained(
    cls: Type[ModelT],
    name_or_path: Union[str, os.PathLike],
    *,
    config: Optional[BertConfig] = None,
    torch_dtype: Optional[torch.dtype] = None,
    dtype: Optional[torch.dtype] = None,
    add_pooling_layer: Optional[bool] = None,
    **config_overrides: Any,
) -> ModelT:
    """Build `cls` from a checkpoint directory and load its weights strictly.

    Args:
        cls: A `BertPreTrainedModel` subclass.
        name_or_path: Local checkpoint directory (or hub id, when `huggingface_hub` is online).
        config (Optional[BertConfig]): Use this config instead of the directory's `config.json`.
        torch_dtype / dtype (Optional[torch.dtype]): Cast the loaded model to this dtype.
        add_pooling_layer (Optional[bool]): For `BertModel`: build the pooler (default True).
        **config_overrides: Fields replacing those of `config.json` (e.g. `num_labels=5`).

    Returns:
        The model in eval mode, as Hugging Face returns it.
    """
    directory = resolve_checkpoint_dir(name_or_path)
    if config is None:
        config = read_config(directory, **config_overrides)
    elif config_overrides:
        config = BertConfig.from_dict(config.to_dict(), **config_overrides)
    check_vocab_fits(directory, config)
    tensors = read_state_dict(directory)
    model_kwargs = {} if add_pooling_layer is None else {"add_pooling_layer": add_pooling_layer}
    model = cls(config, **model_kwargs)
    apply_state_dict(model, tensors, str(directory))
    target_dtype = dtype if dtype is not None else torch_dtype
    if target_dtype is not None:
        model = model.to(target_dtype)
    return model.eval()

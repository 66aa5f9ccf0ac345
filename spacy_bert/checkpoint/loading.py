"""Strict loading of Hugging Face checkpoints into our model classes.

Rules (the allow-list):
- A tensor with the wrong shape is an error (E108) that lists every one of them.
- A missing encoder tensor is an error (E109); a missing task head (`cls.*`, `classifier.*`,
  `qa_outputs.*`) or pooler is initialised fresh and announced in one warning (W102).
- An unknown tensor is an error (E110), except task heads and the pooler that the target class
  does not use (e.g. `cls.*` when loading a pretraining checkpoint into `BertModel`), which are
  dropped and announced (W101), and the `position_ids`/`token_type_ids` buffers, dropped silently.
- A tokenizer vocabulary larger than `vocab_size` is an error (E111).
- A config.json that implies a model or label head far bigger than the weights is refused before
  the model is built (E133, E134; see preflight.py).
- An integer or bool tensor for a float parameter is an error (E135); float tensors are cast to
  the parameter's dtype, with a warning (W130) when the checkpoint's dtype is not fp32/bf16/fp16.
- NaN or infinite values in the weights are announced with the tensor names (W131).
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
from .files import read_config_dict, vocab_file_sizes
from .layout import read_layout
from .preflight import check_config_fits_weights
from ..resolve import resolve_checkpoint_dir

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


#: Float dtypes checkpoints are published in; any other float dtype is cast with a warning.
USUAL_FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def check_tensor_values(model: torch.nn.Module, to_load: Dict[str, torch.Tensor], source: str) -> None:
    """Dtypes and values of the tensors about to be copied into `model` (by parameter name).

    Raises E135 for integer/bool tensors where the parameter is a float (a cast would silently
    turn them into weights); warns W130 for unusual float dtypes and W131 for NaN/inf values.
    """
    params = dict(model.named_parameters())
    not_float, unusual, not_finite = [], [], []
    for name, tensor in to_load.items():
        if params[name].is_floating_point() and not tensor.is_floating_point():
            not_float.append(f"{name}: {str(tensor.dtype).removeprefix('torch.')}")
            continue
        if tensor.dtype not in USUAL_FLOAT_DTYPES:
            unusual.append(f"{name}: {str(tensor.dtype).removeprefix('torch.')}")
        if not bool(torch.isfinite(tensor).all()):
            not_finite.append(name)
    if not_float:
        raise ValueError(Errors.E135.format(path=source, count=len(not_float), details=_details(not_float)))
    if unusual:
        target = str(next(iter(params.values())).dtype).removeprefix("torch.")
        warnings.warn(Warnings.W130.format(path=source, count=len(unusual), target=target, names=", ".join(unusual[:10])), stacklevel=5)
    if not_finite:
        warnings.warn(Warnings.W131.format(path=source, count=len(not_finite), names=", ".join(not_finite[:20])), stacklevel=5)


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
    check_tensor_values(model, to_load, source)
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
    raw_config = read_config_dict(directory) if config is None else config.to_dict()
    # Shapes first (safetensors headers, no weights loaded): a config that asks for a model far
    # bigger than its weights is refused before anything is allocated.
    layout, load_tensors = read_layout(directory)
    check_config_fits_weights(raw_config, config_overrides, layout, str(directory))
    if config is None or config_overrides:
        config = BertConfig.from_dict(raw_config, **config_overrides)
    check_vocab_fits(directory, config)
    tensors = load_tensors()
    model_kwargs = {} if add_pooling_layer is None else {"add_pooling_layer": add_pooling_layer}
    model = cls(config, **model_kwargs)
    apply_state_dict(model, tensors, str(directory))
    target_dtype = dtype if dtype is not None else torch_dtype
    if target_dtype is not None:
        model = model.to(target_dtype)
    return model.eval()

"""Strict loading of Hugging Face checkpoints into our model classes: the one model builder.

`build_model` is the only place a model is built from checkpoint weights; `load_pretrained`
(a directory or hub id; `BertPreTrainedModel.from_pretrained`, `layers/shim/loading.load_encoder`,
the task and MLM components) and the shim's `from_bytes` (safetensors bytes) call it. The
model is built on the `meta` device (no memory, no random draws), checked against the
checkpoint's layout, allocated once in its final dtype, and filled tensor by tensor from the
files (`stream.py`), so loading holds one model plus one group of tensors, never two models.

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
Nothing is half-loaded: every check that needs only names, shapes and dtypes runs before the
first tensor is read, and a model is returned only when every tensor is in place.
"""
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type, TypeVar, Union

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import Errors, Warnings
from ..modeling import BertConfig, BertModel, BertPreTrainedModel
from ..modeling.dtypes import parse_float_dtype
from . import keys
from .files import read_config_dict, vocab_file_sizes
from .layout import Layout
from .preflight import check_config_fits_weights
from ..resolve import resolve_checkpoint_dir
from .stream import Weights, directory_weights, tensor_weights, torch_dtype

ModelT = TypeVar("ModelT", bound=BertPreTrainedModel)
#: `dtype` of `load_pretrained`: a torch float dtype, its name, "auto" (the dtype config.json
#: records, as in Hugging Face), or None (float32).
DtypeArg = Union[None, str, torch.dtype]
#: Float dtypes checkpoints are published in; any other float dtype is cast with a warning.
USUAL_FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclass
class LoadReport:
    """What loading did, by parameter name."""

    loaded: List[str] = field(default_factory=list)
    fresh: List[str] = field(default_factory=list)  # missing heads/pooler, initialised anew
    dropped: List[str] = field(default_factory=list)  # unused heads/pooler of the checkpoint
    missing: List[str] = field(default_factory=list)  # errors
    unexpected: List[str] = field(default_factory=list)  # errors
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)  # errors
    not_finite: List[str] = field(default_factory=list)  # loaded, with NaN/inf values (W131)


def read_config(directory: Union[str, os.PathLike], **overrides: Any) -> BertConfig:
    """`config.json` of a checkpoint directory as a `BertConfig` (with overrides applied)."""
    return BertConfig.from_dict(read_config_dict(Path(directory)), **overrides)


def check_vocab_fits(directory: Path, config: BertConfig) -> None:
    """Refuse a tokenizer vocabulary with ids the embedding matrix does not have (E111)."""
    for size in vocab_file_sizes(directory):
        if size > config.vocab_size:
            raise ValueError(Errors.E111.format(path=directory, vocab=size, config=config.vocab_size, last=config.vocab_size - 1))


def match_layout(model: nn.Module, layout: Layout) -> Tuple[LoadReport, Dict[str, str]]:
    """Match checkpoint tensors (names and shapes only) to the model's parameters.

    Works on a model on the `meta` device. Returns (the report, our parameter name -> the
    checkpoint name to copy into it).
    """
    has_prefix = isinstance(getattr(model, keys.BASE_PREFIX[:-1], None), BertModel)
    # named_parameters() lists a tied parameter once, under its first (canonical) name.
    params = dict(model.named_parameters())
    all_names = set(model.state_dict().keys())  # also the second names of tied parameters
    report = LoadReport()
    mismatched_names = set()
    plan: Dict[str, str] = {}
    for checkpoint_name, info in layout.items():
        name = keys.to_model_name(checkpoint_name, has_prefix)
        if keys.is_dropped_buffer(name):
            continue  # a buffer we rebuild
        if name in plan and checkpoint_name not in keys.ALIASES:
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
        if tuple(info.shape) != expected:
            report.mismatched.append((checkpoint_name, tuple(info.shape), expected))
            mismatched_names.add(name)
            continue
        plan[name] = checkpoint_name
    for name in params:
        if name in plan or name in mismatched_names:
            continue
        if keys.is_head(name) or keys.is_pooler(name):
            report.fresh.append(name)
        else:
            report.missing.append(name)
    report.loaded = sorted(plan)
    return report, plan


def _details(items: List[str]) -> str:
    return "\n".join(f"  - {item}" for item in items)


def _check(model: nn.Module, weights: Weights) -> Tuple[LoadReport, Dict[str, str]]:
    """Everything that needs no tensor data: names (E109, E110), shapes (E108), dtypes (E135, W130)."""
    report, plan = match_layout(model, weights.layout)
    name, source = type(model).__name__, weights.source
    if report.mismatched:
        details = _details([f"{n}: checkpoint {tuple(got)}, model {tuple(want)}" for n, got, want in report.mismatched])
        raise ValueError(Errors.E108.format(path=source, model=name, count=len(report.mismatched), details=details))
    if report.missing:
        raise ValueError(Errors.E109.format(path=source, model=name, count=len(report.missing), details=_details(report.missing)))
    if report.unexpected:
        raise ValueError(Errors.E110.format(path=source, model=name, count=len(report.unexpected), details=_details(report.unexpected)))
    params = dict(model.named_parameters())
    not_float, unusual = [], []
    for param_name, checkpoint_name in plan.items():
        info = weights.layout[checkpoint_name]
        dtype = torch_dtype(info)
        dtype_name = str(dtype).removeprefix("torch.") if dtype is not None else info.dtype
        if params[param_name].is_floating_point() and (dtype is None or not dtype.is_floating_point):
            not_float.append(f"{param_name}: {dtype_name}")
        elif dtype not in USUAL_FLOAT_DTYPES:
            unusual.append(f"{param_name}: {dtype_name}")
    if not_float:
        raise ValueError(Errors.E135.format(path=source, count=len(not_float), details=_details(not_float)))
    if unusual:
        target = str(next(iter(params.values())).dtype).removeprefix("torch.")
        warnings.warn(Warnings.W130.format(path=source, count=len(unusual), target=target, names=", ".join(unusual[:10])), stacklevel=5)
    return report, plan


def _all_finite(tensor: torch.Tensor) -> bool:
    """No NaN or inf in `tensor`. One reduction pass: `isfinite(t).all()` would allocate a
    bool mask and an `abs` copy, more than the tensor itself at the peak of loading."""
    if tensor.numel() == 0 or not tensor.is_floating_point():
        return True
    low, high = torch.aminmax(tensor)  # NaN propagates into both; inf shows in one
    return bool(torch.isfinite(low) & torch.isfinite(high))


def _copy(model: nn.Module, weights: Weights, plan: Dict[str, str], report: LoadReport) -> None:
    """Copy the planned tensors into the model's parameters, one at a time (cast to their dtype)."""
    params = dict(model.named_parameters())
    by_checkpoint_name = {checkpoint_name: name for name, checkpoint_name in plan.items()}
    targets = {checkpoint_name: params[name].detach() for checkpoint_name, name in by_checkpoint_name.items()}
    with torch.no_grad():
        for checkpoint_name, values in weights.fill(targets):
            if not _all_finite(values):
                report.not_finite.append(by_checkpoint_name[checkpoint_name])


def _announce(model: nn.Module, report: LoadReport, source: str) -> None:
    """W131 (NaN/inf), W101 (dropped heads), W102 (fresh heads), in that order."""
    name = type(model).__name__
    if report.not_finite:
        names = sorted(report.not_finite)
        warnings.warn(Warnings.W131.format(path=source, count=len(names), names=", ".join(names[:20])), stacklevel=5)
    if report.dropped:
        warnings.warn(
            Warnings.W101.format(model=name, path=source, count=len(report.dropped), names=", ".join(report.dropped)),
            stacklevel=5,
        )
    if report.fresh:
        warnings.warn(
            Warnings.W102.format(
                model=name, path=source, count=len(report.fresh), modules=keys.head_modules(report.fresh), names=", ".join(report.fresh)
            ),
            stacklevel=5,
        )


def apply_state_dict(model: BertPreTrainedModel, tensors: Mapping[str, torch.Tensor], source: str) -> LoadReport:
    """Strictly load checkpoint tensors (by checkpoint name) into an existing `model` (see the
    module docstring for the rules); parameters the checkpoint lacks keep their values."""
    weights = tensor_weights(tensors, source)
    report, plan = _check(model, weights)
    _copy(model, weights, plan, report)
    _announce(model, report, source)
    return report


class _SkipInit(TorchFunctionMode):
    """Inside: `torch.nn.init.*` and in-place random fills do nothing. Building on `meta` needs
    no values, and torch runs `normal_` on `meta` through its Python reference implementation,
    whose first use imports sympy (seconds). A function mode is per thread: a model built at
    the same time in another thread is initialised normally."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init" or func in (torch.Tensor.normal_, torch.Tensor.uniform_):
            return args[0] if args else kwargs.get("tensor")
        return func(*args, **kwargs)


def _materialize(model: nn.Module, dtype: torch.dtype) -> None:
    """Give every `meta` parameter uninitialised CPU storage in `dtype` (floats; others keep
    theirs), keeping tied parameters tied (one storage, every module that shares it)."""
    new: Dict[int, nn.Parameter] = {}
    for module in model.modules():
        for attr, param in list(module._parameters.items()):
            if param is None:
                continue
            if id(param) not in new:
                target = dtype if param.is_floating_point() else param.dtype
                new[id(param)] = nn.Parameter(torch.empty(param.shape, dtype=target), requires_grad=param.requires_grad)
            module._parameters[attr] = new[id(param)]
    leftover = [name for name, t in model.state_dict().items() if t.is_meta]
    if leftover:  # a buffer: our classes have none; a new one must be rebuilt here
        raise RuntimeError(f"{type(model).__name__} has meta tensors after loading: {leftover}")


def _init_fresh(model: BertPreTrainedModel, fresh: List[str]) -> None:
    """Hugging Face's initialisation for the parameters the checkpoint did not have.

    `_init_weights` initialises a whole module; the loaded parameters of a module that also
    has fresh ones are put back after it.
    """
    params = dict(model.named_parameters())
    todo = {id(params[name]) for name in fresh}
    with torch.no_grad():
        # Parents come before children, so a parameter shared with a child (the MLM head's
        # `bias`, also `decoder.bias`) is initialised by its owner, and the child is skipped.
        for module in model.modules():
            own = [p for p in module._parameters.values() if p is not None]
            if not any(id(p) in todo for p in own):
                continue
            kept = [(p, p.detach().clone()) for p in own if id(p) not in todo]
            model._init_weights(module)
            for param, value in kept:
                param.copy_(value)
            todo -= {id(p) for p in own}


def resolve_dtype(dtype: DtypeArg, config: Mapping[str, Any]) -> torch.dtype:
    """The dtype to build in: `dtype` itself, float32 for None, the config's `dtype` (or the
    older `torch_dtype`) for "auto" (float32 when it records none). E040 for anything else."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return parse_float_dtype(str(dtype))
    if dtype == "auto":
        saved = config.get("dtype", config.get("torch_dtype"))
        return torch.float32 if saved is None else parse_float_dtype(saved)
    return parse_float_dtype(dtype)


def build_model(
    cls: Type[ModelT],
    config: BertConfig,
    weights: Weights,
    *,
    dtype: torch.dtype = torch.float32,
    full_init: bool = False,
    **model_kwargs: Any,
) -> ModelT:
    """The one function that builds a model from checkpoint weights.

    Args:
        cls: A `BertPreTrainedModel` subclass.
        config (BertConfig): Its configuration.
        weights (Weights): The checkpoint's tensors (`stream.directory_weights`, `bytes_weights`).
        dtype (torch.dtype): Float parameters are allocated in it, and tensors cast on copy.
        full_init (bool): Build the model for real, every parameter initialised as `cls(config)`
            does, before the weights are copied in (same memory, more time): torch's global
            random stream then advances exactly as building the class does, for callers whose
            seeded runs must reproduce that. Default: built on `meta`; only the parameters the
            checkpoint lacks are initialised.
        **model_kwargs: Passed to `cls` (e.g. `add_pooling_layer=False` for `BertModel`).

    Returns:
        The model in eval mode on the CPU, as Hugging Face returns it.
    """
    if full_init:
        model = cls(config, **model_kwargs).to(dtype)
        report, plan = _check(model, weights)
    else:
        with torch.device("meta"), _SkipInit():
            model = cls(config, **model_kwargs)
        report, plan = _check(model, weights)
        _materialize(model, dtype)
    _copy(model, weights, plan, report)
    if report.fresh and not full_init:
        _init_fresh(model, report.fresh)
    _announce(model, report, weights.source)
    return model.eval()


def load_pretrained(
    cls: Type[ModelT],
    name_or_path: Union[str, os.PathLike],
    *,
    config: Optional[BertConfig] = None,
    torch_dtype: DtypeArg = None,
    dtype: DtypeArg = None,
    add_pooling_layer: Optional[bool] = None,
    full_init: bool = False,
    **config_overrides: Any,
) -> ModelT:
    """Build `cls` from a checkpoint directory and load its weights strictly (`build_model`).

    Args:
        cls: A `BertPreTrainedModel` subclass.
        name_or_path: Local checkpoint directory (or hub id, when `huggingface_hub` is online).
        config (Optional[BertConfig]): Use this config instead of the directory's `config.json`.
        torch_dtype / dtype: The dtype of the model (see `resolve_dtype`; default float32).
        add_pooling_layer (Optional[bool]): For `BertModel`: build the pooler (default True).
        full_init (bool): See `build_model`.
        **config_overrides: Fields replacing those of `config.json` (e.g. `num_labels=5`).

    Returns:
        The model in eval mode, as Hugging Face returns it.
    """
    directory = resolve_checkpoint_dir(name_or_path)
    raw_config = read_config_dict(directory) if config is None else config.to_dict()
    # Shapes first (headers only, no weights read): a config that asks for a model far bigger
    # than its weights is refused before anything is allocated.
    weights = directory_weights(directory)
    check_config_fits_weights(raw_config, config_overrides, weights.layout, str(directory))
    if config is None or config_overrides:
        config = BertConfig.from_dict(raw_config, **config_overrides)
    check_vocab_fits(directory, config)
    target = resolve_dtype(dtype if dtype is not None else torch_dtype, raw_config)
    model_kwargs = {} if add_pooling_layer is None else {"add_pooling_layer": add_pooling_layer}
    return build_model(cls, config, weights, dtype=target, full_init=full_init, **model_kwargs)

"""Issue 16 without a GPU: the device-dependent decisions of `BertShim`, checked on the CPU by
faking the model's device.

`BertShim` decides autocast and the grad scaler from `self.device` at first use (layers/shim/bert_shim.py,
"lazy AMP"). These tests replace that property (monkeypatch on the class) so the decision sees
"cuda", "meta" or "cpu" while the weights stay on the CPU, and replace thinc's
`PyTorchGradScaler.to_` (which would move the scale tensors to a CUDA device this torch build
lacks) by a recorder. What a real GPU adds (kernels, memory, speed) is `bench/gpu_proof.py`'s job.
"""
import contextlib
import warnings

import pytest
import torch
from thinc.shims import PyTorchGradScaler
from thinc.shims.pytorch import ArgsKwargs

from spacy_bert.layers.shim.bert_shim import BertShim

CUDA = torch.device("cuda", 0)


@pytest.fixture
def fake_device(monkeypatch):
    """Set `box["device"]` to the device every BertShim reports; records scaler moves."""
    box = {"device": torch.device("cpu"), "moves": []}
    monkeypatch.setattr(BertShim, "device", property(lambda self: box["device"]))
    monkeypatch.setattr(PyTorchGradScaler, "to_", lambda scaler, device: box["moves"].append((scaler, torch.device(device))))
    return box


def loaded_shim(tiny_bert_dir, **kwargs) -> BertShim:
    shim = BertShim(**kwargs)
    shim.load_checkpoint(str(tiny_bert_dir))
    return shim


@pytest.mark.parametrize("device,on", [(torch.device("cpu"), False), (torch.device("meta"), False), (CUDA, True)])
def test_autocast_and_scaler_follow_the_device_type(tiny_bert_dir, fake_device, device, on):
    shim = loaded_shim(tiny_bert_dir, mixed_precision=True, grad_scaler_config={"init_scale": 1024.0})
    fake_device["device"] = device
    assert shim.mixed_precision is on
    assert shim._grad_scaler._enabled is on
    assert float(shim._grad_scaler._scale[0]) == 1024.0  # the config reaches the scaler on every device
    assert fake_device["moves"][-1] == (shim._grad_scaler, device)  # and it lives where the model is
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.autocast("cuda") without CUDA warns and disables itself
        context = shim._autocast()
    if on:
        assert isinstance(context, torch.autocast) and context.device == "cuda"
    else:
        assert isinstance(context, contextlib.nullcontext)


def test_decision_waits_for_first_use_and_follows_later_moves(tiny_bert_dir, fake_device):
    """Built and loaded on the CPU (as `spacy.load` does), then moved by `require_gpu`: AMP on.
    Moved back: off again. Nothing is decided before the first use."""
    shim = loaded_shim(tiny_bert_dir, mixed_precision=True)
    assert shim._precision_device is None and shim._grad_scaler._enabled is False
    assert shim.mixed_precision is False  # first use on the CPU
    fake_device["device"] = CUDA
    assert shim.mixed_precision is True and shim._grad_scaler._enabled is True
    fake_device["device"] = torch.device("cpu")
    assert shim.mixed_precision is False and shim._grad_scaler._enabled is False


@pytest.mark.parametrize("mixed,config,autocast,scaler", [
    (True, {}, True, True),  # the configs' mixed_precision = true: both
    (True, {"enabled": False}, True, False),  # autocast without loss scaling (bf16 users)
    (False, {"enabled": True}, False, True),  # a scaler asked for explicitly
    (False, {}, False, False),  # the default: neither
])
def test_scaler_config_on_cuda_and_never_on_cpu(tiny_bert_dir, fake_device, mixed, config, autocast, scaler):
    shim = loaded_shim(tiny_bert_dir, mixed_precision=mixed, grad_scaler_config=config)
    fake_device["device"] = CUDA
    assert (shim.mixed_precision, shim._grad_scaler._enabled) == (autocast, scaler)
    fake_device["device"] = torch.device("cpu")
    assert (shim.mixed_precision, shim._grad_scaler._enabled) == (False, False)


def test_a_given_scaler_is_used_as_given(tiny_bert_dir, fake_device):
    given = PyTorchGradScaler(enabled=True, init_scale=8.0)
    shim = loaded_shim(tiny_bert_dir, mixed_precision=True, grad_scaler=given)
    for device in (torch.device("cpu"), CUDA):
        fake_device["device"] = device
        shim._decide_precision()
        assert shim._grad_scaler is given and given._enabled is True


def test_training_step_on_cuda_uses_autocast_and_the_scaler(tiny_bert_dir, fake_device, monkeypatch):
    """`begin_update` (thinc's training path: `torch.autocast("cuda", enabled=...)`, then the
    scaler around backward) gets the decision: autocast enabled and the gradients scaled and
    unscaled by the enabled scaler. The arithmetic runs on the CPU weights; autocast and the
    scaling are recorded, not performed (thinc's enabled scaler needs a GPU)."""
    calls, scaled = [], []
    monkeypatch.setattr(torch, "autocast", lambda device_type, enabled=True, **kw: calls.append((device_type, enabled)) or contextlib.nullcontext())
    # thinc's enabled scaler refuses to run without a GPU: record which scaler backward uses.
    monkeypatch.setattr(PyTorchGradScaler, "scale", lambda self, tensors, inplace=False: scaled.append(self._enabled) or tensors)
    monkeypatch.setattr(PyTorchGradScaler, "unscale", lambda self, tensors: False)
    monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: False)
    shim = loaded_shim(tiny_bert_dir, mixed_precision=True, grad_scaler_config={"init_scale": 4.0})
    ids = torch.randint(1000, 2000, (2, 6))
    for device, on in ((torch.device("cpu"), False), (CUDA, True)):
        fake_device["device"] = device
        output, backprop = shim.begin_update(ArgsKwargs(args=(), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)}))
        hidden = output.last_hidden_state
        backprop(ArgsKwargs(args=([hidden],), kwargs={"grad_tensors": [torch.ones_like(hidden)]}))
        assert calls[-1] == ("cuda", on) and scaled[-1] is on
        grads = [p.grad for p in shim.model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        shim.model.zero_grad()


@pytest.mark.parametrize("precision", ["float16", "auto", "bfloat16", "float32"])
def test_cpu_prediction_never_takes_a_cuda_path(tiny_bert_dir, precision):
    """mixed_precision on and any half precision, on a CPU model: no autocast, no CUDA tensor,
    CUDA never initialised; float16 (a GPU precision) predicts in fp32."""
    shim = loaded_shim(tiny_bert_dir, mixed_precision=True, grad_scaler_config={"enabled": True}, precision=precision)
    ids = torch.randint(1000, 2000, (2, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W660 / W661
        output = shim.predict(ArgsKwargs(args=(), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)}))
        used = shim.precision_used
    assert used in ("float32", "int8", "bfloat16")
    if precision == "float16":
        assert used == "float32" and shim.prediction_model() is shim.model
    assert shim.mixed_precision is False and shim._grad_scaler._enabled is False
    assert isinstance(shim._autocast(), contextlib.nullcontext)
    assert output.last_hidden_state.device.type == "cpu" and output.last_hidden_state.dtype == torch.float32
    assert all(t.device.type == "cpu" for t in shim.prediction_model().state_dict().values())
    if not torch.cuda.is_available():
        assert not torch.cuda.is_initialized()

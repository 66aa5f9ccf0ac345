"""One encoder-settings object; the stride warning on a capped window; threads; AMP and the
grad scaler decided at first use; CUDA in a forked worker is a coded error."""
import warnings

import numpy as np
import pytest
import torch

from spacy_bert.layers.shim import bert_shim as shim_module
from spacy_bert.layers.encoder import BertEncoder, effective_window, encoder_settings, ensure_loaded
from spacy_bert.layers.settings import DEFAULT_SETTINGS, THREADS_ENV, EncoderSettings, resolve_threads
from spacy_bert.layers.shim.bert_shim import BertShim, check_not_forked_on_cuda
from spacy_bert.pipeline.settings import validate_encoder_settings


def test_defaults_live_in_one_place():
    assert (DEFAULT_SETTINGS.window, DEFAULT_SETTINGS.stride, DEFAULT_SETTINGS.max_batch_items) == (512, 128, 2048)
    import spacy

    nlp = spacy.blank("en")
    for factory in ("bert", "bert_ner", "bert_textcat"):
        config = nlp.get_factory_meta(factory).default_config
        assert (config["window"], config["stride"], config["max_batch_items"]) == (512, 128, 2048)
    assert BertEncoder().attrs["settings"].window == DEFAULT_SETTINGS.window


@pytest.mark.parametrize(
    "field,value", [("window", 2), ("stride", -1), ("stride", 510), ("max_batch_items", 0), ("n_threads", 0)]
)
def test_validate_names_component_field_and_value(field, value):
    with pytest.raises(ValueError, match="E354|'my_bert' component's") as error:
        EncoderSettings(**{field: value}).validate("my_bert")
    assert field in str(error.value) and repr(value) in str(error.value) and "my_bert" in str(error.value)
    if field != "n_threads":
        # The components' helper is the same check.
        kwargs = {**dict(window=512, stride=128, max_batch_items=2048), field: value}
        with pytest.raises(ValueError, match=field):
            validate_encoder_settings("my_bert", **kwargs)


def test_one_check_for_every_caller_in_the_users_names():
    """The window planner, the batch planner, the components and bert_qa (its own names, three
    special tokens per window) all raise the same E354 from `EncoderSettings.validate`."""
    import spacy

    from spacy_bert.layers.stages.batching import plan_batches
    from spacy_bert.layers.settings import SettingNames
    from spacy_bert.layers.stages.windows import plan_windows
    from tests.error_codes import raises_code

    qa_names = SettingNames(window="max_seq_len", stride="doc_stride")
    with raises_code("E354", match=r"doc_stride=17 does not fit max_seq_len=20 \(the 'qa' component\).*0 <= doc_stride <= 16"):
        EncoderSettings(window=20, stride=17).validate("qa", qa_names, specials=3)
    assert EncoderSettings(window=20, stride=16).validate("qa", qa_names, specials=3).stride == 16
    with raises_code("E354", match=r"max_seq_len=3 is too small.*at least 4"):
        EncoderSettings(window=3, stride=0).validate("qa", qa_names, specials=3)
    with raises_code("E354", match="stride=6 does not fit window=8"):
        plan_windows([5], window=8, stride=6)
    with raises_code("E354", match=r"max_batch_items=0 is not a piece budget.*int >= 1"):
        plan_batches([3], max_batch_items=0)
    with raises_code("E354", match=r"max_batch_items='2048' is not a piece budget"):
        EncoderSettings(max_batch_items="2048").validate("x")
    with raises_code("E354", match=r"doc_stride=18 does not fit max_seq_len=20 \(the 'bert_qa' component\)"):
        spacy.blank("en").add_pipe("bert_qa", config={"max_seq_len": 20, "doc_stride": 18})
    with raises_code("E354", match=r"window=2 is too small \(the 'bert_ner' component\)"):
        spacy.blank("en").add_pipe("bert_ner", config={"window": 2})


def test_capped_window_keeps_a_stride_that_fits_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert EncoderSettings(window=512, stride=16).fit_to(64) == EncoderSettings(window=64, stride=16)
        assert EncoderSettings(window=64, stride=16).fit_to(512) == EncoderSettings(window=64, stride=16)


def test_stride_that_no_longer_fits_a_capped_window_warns():
    with pytest.warns(UserWarning, match="W370|no longer fits") as record:
        fitted = EncoderSettings(window=512, stride=128).fit_to(64, name="my_bert")
    assert (fitted.window, fitted.stride) == (64, 15)
    message = str(record[0].message)
    assert "my_bert" in message and "stride=128" in message and "stride=15" in message
    with pytest.warns(UserWarning, match="W370|no longer fits"):
        assert effective_window(512, 128, 64) == (64, 15)


def test_encoder_model_warns_for_its_loaded_bert(tiny_bert_dir):
    model = BertEncoder(checkpoint=str(tiny_bert_dir))  # defaults 512 / 128, the model has 64 positions
    shim = ensure_loaded(model)
    with pytest.warns(UserWarning, match="W370|no longer fits"):
        settings = encoder_settings(model, shim)
    assert (settings.window, settings.stride) == (64, 15)


def test_thread_setting_is_applied_when_the_model_is_set(tiny_bert_dir, monkeypatch):
    before = torch.get_num_threads()
    target = 2 if before != 2 else 1
    try:
        monkeypatch.setenv(THREADS_ENV, str(target))
        assert resolve_threads(None) == target and resolve_threads(3) == 3
        ensure_loaded(BertEncoder(checkpoint=str(tiny_bert_dir)))
        assert torch.get_num_threads() == target
        # An explicit setting wins over the environment.
        torch.set_num_threads(before)
        ensure_loaded(BertEncoder(checkpoint=str(tiny_bert_dir), n_threads=target))
        monkeypatch.delenv(THREADS_ENV)
        assert torch.get_num_threads() == target
        torch.set_num_threads(before)
        ensure_loaded(BertEncoder(checkpoint=str(tiny_bert_dir)))  # unset: torch's choice is kept
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("value", ["zero", "0", "-2"])
def test_bad_thread_environment_is_a_coded_error(monkeypatch, value):
    monkeypatch.setenv(THREADS_ENV, value)
    with pytest.raises(ValueError, match="E370|not a positive integer"):
        resolve_threads(None)


def test_cuda_model_in_a_forked_worker_is_a_coded_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: True)
    with pytest.raises(RuntimeError, match="E373|forked worker process"):
        check_not_forked_on_cuda(torch.device("cuda", 0))
    check_not_forked_on_cuda(torch.device("cpu"))  # CPU workers are fine
    monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: False)
    check_not_forked_on_cuda(torch.device("cuda", 0))


def test_mixed_precision_is_decided_at_first_use(tiny_bert_dir):
    shim = BertShim(mixed_precision=True, grad_scaler_config={"init_scale": 1024.0})
    shim.load_checkpoint(str(tiny_bert_dir))
    # On the CPU: fp32, scaler off (one config serves --gpu-id 0 and -1).
    assert shim.mixed_precision is False and shim._grad_scaler._enabled is False
    if torch.cuda.is_available():  # the GPU path: require_gpu() after loading still gets AMP
        shim.to_device("gpu", 0)
        assert shim.mixed_precision is True and shim._grad_scaler._enabled is True


def test_int32_piece_ids_and_offsets(tiny_bert_dir):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 64, "stride": 16})
    nlp.initialize()
    doc = nlp("Piece ids and offsets are int32.")
    assert doc._.bert.piece_ids.dtype == np.int32 and doc._.bert.piece_offsets.dtype == np.int32


def test_pooling_is_checked_by_one_function():
    """The `bert` component's and the architecture's `pooling` go through `check_pooling` (E352)."""
    import spacy

    from spacy_bert.layers.stages.pooling import POOLING_MODES, check_pooling
    from tests.error_codes import raises_code

    assert [check_pooling(mode) for mode in POOLING_MODES] == ["mean", "first", "last", "max"]
    with raises_code("E352", match="'median'.*mean, first, last, max"):
        spacy.blank("en").add_pipe("bert", config={"pooling": "median"})
    with raises_code("E352", match="'median'"):
        BertEncoder(pooling="median")

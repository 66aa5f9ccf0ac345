"""The pieces of `bench/gpu_proof.py` (the prepared GPU proof of issue 16) that decide its
verdict, on the CPU: step timing and loss trend, the numpy-only check of Docs, the CPU vs GPU
comparison, the run configs, the step recorder inside spaCy's own training loop, and the
committed data. The whole script's CPU smoke run (`--device cpu --size tiny`) takes minutes, so
it is run by hand (bench/README.md), not here.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch


REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


proof = _load("gpu_proof")
hooks = _load("gpu_proof_hooks")


# -- timing and loss ----------------------------------------------------------------------------
def test_step_summary_leaves_out_warmup_and_evaluation_steps():
    # steps 0..10, 0.1 s each, except step 0 (warm-up + evaluation), step 5 (evaluation: 2 s)
    starts, t = [], 0.0
    for step in range(11):
        starts.append(t)
        t += 2.0 if step in (0, 5) else 0.1
    losses = [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 2.0, 1.0, 1.0, 0.5]
    record = {"steps": [{"step": s, "start": starts[s], "loss": losses[s]} for s in range(11)], "end": t + 5.0,
              "peak_memory": 3 * 2**20, "shims": [{"component": "bert", "device": "cuda:0", "mixed_precision": True, "grad_scaler": True}]}
    summary = proof.step_summary(record, eval_frequency=5, warmup=1)
    assert summary["timed_steps"] == 8  # 11 steps - step 0 - step 5 - step 10 (the final evaluation)
    assert summary["steps_per_s"] == pytest.approx(10.0)
    assert summary["loss_first"] == pytest.approx(7.5) and summary["loss_last"] == pytest.approx(0.75)
    assert summary["loss_down"] is True and summary["peak_memory_mib"] == 3.0
    flat = dict(record, steps=[dict(s, loss=1.0) for s in record["steps"]])
    assert proof.step_summary(flat, eval_frequency=5)["loss_down"] is False
    # a summed loss that grows only because the batches grow is not a rising loss
    growing = dict(record, steps=[dict(s, loss=float(s["step"] + 1), words=s["step"] + 1) for s in record["steps"]])
    assert proof.step_summary(growing, eval_frequency=5)["loss_first"] == pytest.approx(1.0)
    assert proof.step_summary(growing, eval_frequency=5)["loss_down"] is False


def test_step_summary_of_an_empty_record():
    summary = proof.step_summary({"steps": [], "end": 1.0}, eval_frequency=5)
    assert summary["steps_per_s"] is None and summary["loss_down"] is None


# -- Docs carry numpy -----------------------------------------------------------------------------
def test_numpy_problems_find_torch_tensors_anywhere():
    from spacy_bert.pipeline.doc_data import BertDocData

    ok = {"a": np.zeros(3), "b": [1, 2.0, "x"], "c": (np.int32(1),)}
    assert proof.numpy_problems(ok) == []
    assert proof.numpy_problems({"a": [{"b": torch.zeros(2)}]}) == ["doc['a'][0]['b']: torch.Tensor"]
    data = BertDocData(piece_ids=np.zeros(2, np.int32), piece_offsets=np.zeros((2, 2), np.int32), lengths=np.ones(2, np.int32),
                       piece_indices=np.arange(2, dtype=np.int32), last_hidden_state=torch.zeros(2, 4), pooler_output=np.zeros(4),
                       n_windows=1)
    assert proof.numpy_problems(data, "doc._.bert") == ["doc._.bert['last_hidden_state']: torch.Tensor"]


def test_doc_problems_look_at_tensor_cats_and_user_data():
    import spacy

    doc = spacy.blank("en")("A short text")
    doc.tensor = np.zeros((3, 4), dtype="float32")
    doc.cats = {"POS": 0.5}
    assert proof.doc_problems(doc) == []
    doc.user_data["leak"] = torch.ones(1)
    assert proof.doc_problems(doc) == ["doc.user_data['leak']: torch.Tensor"]


# -- CPU vs GPU predictions -----------------------------------------------------------------------
def test_compare_predictions():
    gpu = [{"ents": [[0, 5, "person"]], "cats": {"POS": 0.7001}}]
    same = proof.compare_predictions(gpu, [{"ents": [[0, 5, "person"]], "cats": {"POS": 0.7}}])
    assert same["identical_labels"] and same["max_abs_diff"] == pytest.approx(1e-4)
    other_label = proof.compare_predictions(gpu, [{"ents": [[0, 5, "location"]], "cats": {"POS": 0.7001}}])
    assert not other_label["identical_labels"] and "person" in other_label["mismatches"][0]
    fewer = proof.compare_predictions(gpu, [{"ents": [], "cats": {"POS": 0.7001}}])
    assert not fewer["identical_labels"]
    assert not proof.compare_predictions(gpu, gpu + gpu)["identical_labels"]


# -- the runs' configs ----------------------------------------------------------------------------
@pytest.mark.parametrize("task_name", list(proof.TASKS))
@pytest.mark.parametrize("mixed", [False, True])
def test_run_configs_set_every_mixed_precision_and_the_recorder(tmp_path, task_name, mixed):
    from confection import Config

    task = proof.TASKS[task_name]
    path = proof.write_config(task, tmp_path / "ckpt", (tmp_path / "train", tmp_path / "dev"), 12, 12, mixed, tmp_path / "c.cfg")
    config = Config().from_disk(path, interpolate=False)
    flags = []

    def collect(node):
        if isinstance(node, dict):
            flags.extend(v for k, v in node.items() if k == "mixed_precision")
            for child in node.values():
                collect(child)

    collect(config["components"])
    assert flags and all(flag is mixed for flag in flags)
    assert config["training"]["max_steps"] == 12 and config["training"]["eval_frequency"] == 12
    assert config["training"]["before_update"] == {"@callbacks": "spacy-bert-bench.step_recorder.v1"}
    assert config["paths"]["checkpoint"] == str(tmp_path / "ckpt")
    assert task.score in config["training"]["score_weights"]


def test_a_config_without_mixed_precision_is_refused(tmp_path, monkeypatch):
    task = proof.Task("x", "ner.cfg", "ents_f", "bert_ner")
    monkeypatch.setattr(proof, "set_all", lambda node, key, value: 0)
    with pytest.raises(ValueError, match="no mixed_precision"):
        proof.write_config(task, tmp_path, (tmp_path, tmp_path), 2, 2, True, tmp_path / "c.cfg")


# -- the step recorder inside spaCy's training loop ------------------------------------------------
def test_step_recorder_in_spacys_training_loop(tmp_path, tiny_bert_dir):
    import spacy
    from spacy.training import Example
    from spacy.training.loop import train_while_improving

    nlp = spacy.blank("en")
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(tiny_bert_dir), "window": 32, "stride": 8})
    texts = [("good film", "POS"), ("bad film", "NEG"), ("great", "POS"), ("awful", "NEG")]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {"POS": float(c == "POS"), "NEG": float(c == "NEG")}}) for t, c in texts]
    optimizer = nlp.initialize(lambda: examples)
    recorder = hooks.StepRecorder(str(tmp_path / "steps.json"))
    batches = ((0, examples) for _ in range(4))
    loop = train_while_improving(nlp, optimizer, batches, evaluate=lambda: (0.0, {}), dropout=0.0, eval_frequency=2,
                                 accumulate_gradient=1, patience=0, max_steps=3, exclude=[], annotating_components=[],
                                 before_update=recorder.before_update)
    for _ in loop:
        pass
    recorder.write()
    record = json.loads((tmp_path / "steps.json").read_text())
    assert [s["step"] for s in record["steps"]] == [0, 1, 2, 3]
    assert all(s["loss"] is not None and s["loss"] > 0 for s in record["steps"])
    assert all(s["words"] == 6 for s in record["steps"])  # good film, bad film, great, awful
    assert record["shims"] == [{"component": "bert_textcat", "device": "cpu", "mixed_precision": False, "grad_scaler": False}]
    assert proof.step_summary(record, eval_frequency=2, warmup=0)["timed_steps"] == 2  # steps 1 and 3


def test_the_recorder_is_one_per_process(tmp_path, monkeypatch):
    monkeypatch.setenv(hooks.RECORD_ENV, str(tmp_path / "r.json"))
    monkeypatch.setattr(hooks, "_RECORDERS", {})
    monkeypatch.setattr(hooks.atexit, "register", lambda fn: None)
    assert hooks.make_step_recorder().__self__ is hooks.make_step_recorder().__self__
    monkeypatch.delenv(hooks.RECORD_ENV)
    hooks.make_step_recorder()(None, {"step": 0})  # no path: records nothing, fails nothing


# -- committed inputs ------------------------------------------------------------------------------
def test_committed_data_and_random_checkpoint(tmp_path):
    from spacy_bert.modeling import BertModel

    corpora = proof.make_corpora(tmp_path)
    assert set(corpora) == set(proof.TASKS)
    assert all(path.is_file() for pair in corpora.values() for path in pair)
    checkpoint = proof.make_checkpoint("tiny", tmp_path / "ckpt")
    model = BertModel.from_pretrained(checkpoint)
    assert model.config.vocab_size == 30522 and model.config.hidden_size == proof.SIZES["tiny"]["hidden_size"]
    texts = proof.check_texts(10)
    assert len(texts) == 10 and len(set(texts[:3])) == 3


def test_task_docs_give_questions_and_masks():
    import spacy

    from spacy_bert.pipeline import qa  # noqa: F401  (doc._.questions)

    nlp = spacy.blank("en")
    qa_docs = proof.task_docs(nlp, "bert_qa", 2)
    assert len(qa_docs) == 2 and all(doc._.questions and doc._.questions[0]["question"] for doc in qa_docs)
    assert all("[MASK]" in doc.text for doc in proof.task_docs(nlp, "mlm", 3))

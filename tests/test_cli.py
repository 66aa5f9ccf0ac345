"""`spacy bert ...` / `python -m spacy_bert ...`: the command list, `init-config` (configs/ are
what it writes; each task's config passes `spacy debug config` and trains), and the learning-rate
schedule tied to `training.max_steps`."""
import itertools
import json
import re
import sys
from itertools import islice
from pathlib import Path

import pytest
from thinc.api import Config, registry

import spacy_bert.pipeline  # noqa: F401  registers spacy-bert.warmup_linear.v1 (entry points may be stale)
from spacy_bert.cli.init_config import (
    DEFAULT_CHECKPOINT,
    TASK_NAMES,
    TASKS,
    check_checkpoint,
    head_note,
    render_config,
    task_spec,
)
from spacy_bert.corpora import read_goemotions, read_sst2, write_textcat_docbin
from spacy_bert.corpora.text import read_text_lines, write_text_lines
from tests.background import Step, job, results
from tests.paths import XQUAD
from tests.pipeline.spacy_cli import ONE_THREAD_ENV, REPO, wnut_slice

COMMANDS = ["convert-conll", "convert-sst2", "convert-trec", "convert-goemotions", "split-text", "export",
            "init-config", "similarity", "annotate", "fetch-assets", "evaluate-qa", "serve"]


# -- the command group -------------------------------------------------------------------------
PREFIXES = {"spacy bert": ["-m", "spacy", "bert"], "spacy_bert": ["-m", "spacy_bert"]}


def python_step(*args, check=True) -> Step:
    """`python *args` in the repository, torch on one thread: a background step."""
    import os

    return Step([sys.executable, *args], cwd=REPO, env={**os.environ, **ONE_THREAD_ENV}, check=check)


def spacy_step(*args) -> Step:
    return python_step("-m", "spacy", *args)


@job("cli-help")
def help_job(request) -> list:
    return [python_step(*prefix, "--help") for prefix in PREFIXES.values()]


@job("cli-main-alias")
def main_alias_job(request) -> list:
    return [python_step(*prefix, "init-config", "-", "--task", "textcat") for prefix in PREFIXES.values()]


@pytest.mark.background("cli-help")
@pytest.mark.parametrize("prefix", list(PREFIXES))
def test_help_lists_every_command(prefix):
    out = results("cli-help")[list(PREFIXES).index(prefix)].stdout
    for command in COMMANDS:
        assert re.search(rf"\b{command}\b", out), (command, out)


@pytest.mark.background("cli-main-alias")
def test_main_alias_runs_the_same_command():
    spacy_out, alias_out = (done.stdout for done in results("cli-main-alias"))
    assert spacy_out == alias_out == render_config("textcat")


# -- the schedule ------------------------------------------------------------------------------
def schedule(**kwargs):
    return list(islice(registry.schedules.get("spacy-bert.warmup_linear.v1")(**kwargs), kwargs["total_steps"] + 2))


def test_schedule_warms_up_then_decays_to_zero_at_total_steps():
    rates = schedule(initial_rate=1.0, total_steps=20, warmup_ratio=0.1)
    assert rates[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])  # the first step already learns
    assert all(a > b for a, b in zip(rates[2:20], rates[3:20]))
    assert rates[20:] == [0.0, 0.0]
    assert schedule(initial_rate=2.0, total_steps=5, warmup_ratio=0.0)[:2] == pytest.approx([2.0, 1.6])


@pytest.mark.parametrize("kwargs,code", [
    (dict(initial_rate=1e-4, total_steps=0), "E500"),
    (dict(initial_rate=1e-4, total_steps=10, warmup_ratio=1.0), "E501"),
    (dict(initial_rate=-1.0, total_steps=10), "E502"),
])
def test_schedule_rejects_bad_settings(kwargs, code):
    with pytest.raises(ValueError, match=code):
        registry.schedules.get("spacy-bert.warmup_linear.v1")(**kwargs)


@pytest.mark.parametrize("name", sorted({task.filename for task in TASKS.values()}))
def test_configs_tie_the_schedule_to_max_steps(name):
    config = Config().from_disk(REPO / "configs" / name, overrides={"training.max_steps": 20})
    rate = config["training"]["optimizer"]["learn_rate"]
    assert rate["@schedules"] == "spacy-bert.warmup_linear.v1"
    assert rate["total_steps"] == 20


@job("cli-short-run")
def short_run_job(request) -> list:
    tmp_path = request.getfixturevalue("tmp_path_factory").mktemp("short-run")
    train, dev = wnut_slice(tmp_path)
    return [spacy_step("train", str(REPO / "configs" / "ner.cfg"), "--output", str(tmp_path / "out"),
                       "--paths.train", str(train), "--paths.dev", str(dev),
                       "--paths.checkpoint", str(request.getfixturevalue("tiny_bert_dir")),
                       "--training.max_steps", "20", "--training.eval_frequency", "10", "--gpu-id", "-1")]


@pytest.mark.background("cli-short-run")
def test_short_run_learns_from_the_first_step():
    """`spacy train configs/ner.cfg --training.max_steps 20` starts at a learning rate above 0
    (it printed 0.0 with fixed 200/2000 warm-up/decay steps) and its loss moves."""
    (done,) = results("cli-short-run")
    out = done.stdout
    initial = float(re.search(r"Initial learn rate: ([0-9.e-]+)", out).group(1))
    assert initial == pytest.approx(1e-4 / 3)  # 2 warm-up steps: 1/3 of the peak on step 0
    losses = [float(m) for m in re.findall(r"^\s*\d+\s+(?:10|20)\s+([0-9.]+)", out, re.M)]
    assert len(losses) == 2 and losses[0] > 0, out


# -- init-config -------------------------------------------------------------------------------
def init_config_writes_job(task):
    """`spacy bert init-config` with the default (packaged) checkpoint: a background job."""

    @job(f"init-config-writes:{task}")
    def make(request) -> list:
        written = request.getfixturevalue("tmp_path_factory").mktemp(f"init-config-{task}") / "configs" / task_spec(task)[1].filename
        return [spacy_step("bert", "init-config", str(written), "--task", task)]


for _task in TASK_NAMES:
    init_config_writes_job(_task)


@pytest.mark.parametrize("task", [pytest.param(task, marks=pytest.mark.background(f"init-config-writes:{task}"))
                                  for task in TASK_NAMES])
def test_configs_dir_is_what_init_config_writes(task):
    filename = task_spec(task)[1].filename  # fill-mask writes the pretrain config
    expected = (REPO / "configs" / filename).read_text(encoding="utf-8")
    assert render_config(task) == expected
    # and through the command, with the default (packaged) checkpoint checked on the way
    (done,) = results(f"init-config-writes:{task}")
    written = Path(done.step.argv[done.step.argv.index("init-config") + 1])
    assert written.read_text(encoding="utf-8") == expected.replace("configs/", f"{written.parent.parent}/configs/")


@pytest.mark.parametrize("task,block", [("ner", "bert_ner"), ("ner-listener", "bert"), ("qa", "bert_qa"), ("pretrain", "bert_fill_mask")])
def test_config_template_repeats_no_component_default(task, block, monkeypatch):
    """The component blocks come from the factories' default_config (DEFAULT_SETTINGS for the
    window settings), not from numbers written again in the template: other defaults, other text."""
    from spacy_bert.cli import init_config

    real = init_config.factory_defaults
    odd = {"window": 97, "stride": 13, "max_batch_items": 777, "max_seq_len": 99, "doc_stride": 11, "top_k": 3}

    def other_defaults(factory):
        return {key: odd.get(key, value) for key, value in real(factory).items()}

    monkeypatch.setattr(init_config, "factory_defaults", other_defaults)
    settings = Config().from_str(render_config(task), interpolate=False)["components"][block]
    expected = other_defaults(block)
    overrides = dict(task_spec(task)[1].settings) if block != "bert" else {}
    for key, value in settings.items():
        if key in expected and key not in overrides and key != "checkpoint":
            assert value == expected[key], key
    assert {"window", "max_seq_len"} & set(settings) and set(odd) & set(settings) - set(overrides)


def test_gpu_config_uses_mixed_precision_and_larger_batches():
    cpu = Config().from_str(render_config("ner"), interpolate=False)
    gpu = Config().from_str(render_config("ner", gpu=True), interpolate=False)
    assert cpu["components"]["bert_ner"]["model"]["tok2vec"]["mixed_precision"] is False
    assert gpu["components"]["bert_ner"]["model"]["tok2vec"]["mixed_precision"] is True
    assert gpu["training"]["batcher"]["size"] > cpu["training"]["batcher"]["size"]
    listener = Config().from_str(render_config("ner-listener", gpu=True), interpolate=False)
    assert listener["components"]["bert"]["model"]["mixed_precision"] is True
    for task, component in (("qa", "bert_qa"), ("pretrain", "bert_fill_mask")):
        cpu = Config().from_str(render_config(task), interpolate=False)
        gpu = Config().from_str(render_config(task, gpu=True), interpolate=False)
        assert cpu["components"][component]["model"]["mixed_precision"] is False
        assert gpu["components"][component]["model"]["mixed_precision"] is True
        assert gpu["training"]["batcher"]["size"] > cpu["training"]["batcher"]["size"]


@pytest.mark.parametrize("task,rate,decay,warmup", [
    ("qa", 3e-5, 0.0, 0.1),  # run_qa.py: lr 3e-5, no weight decay, 10 % warm-up
    ("pretrain", 1e-4, 0.01, 0.1),  # BERT's pretraining peak rate, run_mlm.py's decay
])
def test_qa_and_pretrain_use_the_hugging_face_recipe(task, rate, decay, warmup):
    config = Config().from_str(render_config(task), interpolate=False)
    optimizer = config["training"]["optimizer"]
    assert optimizer["@optimizers"] == "spacy-bert.AdamW.v1"
    assert optimizer["weight_decay"] == decay and optimizer["max_grad_norm"] == 1.0
    assert optimizer["learn_rate"]["initial_rate"] == rate
    assert optimizer["learn_rate"]["warmup_ratio"] == warmup
    assert optimizer["learn_rate"]["total_steps"] == "${training.max_steps}"
    if task == "qa":  # 12-32 features a step: paragraphs of ~5 questions
        assert config["training"]["batcher"]["@batchers"] == "spacy.batch_by_sequence.v1"
        assert 12 <= 5 * config["training"]["batcher"]["size"] <= 32
        assert config["corpora"]["train"]["@readers"] == "spacy-bert.SquadCorpus.v1"
    else:  # streamed raw text
        assert config["training"]["max_epochs"] == -1
        assert config["corpora"]["train"]["@readers"] == "spacy.PlainTextCorpus.v1"


def test_fill_mask_is_the_pretrain_task():
    assert render_config("fill-mask") == render_config("pretrain")
    assert render_config("fill-mask", gpu=True) == render_config("pretrain", gpu=True)


def test_head_note_accepts_the_heads_a_component_keeps():
    pretrain = TASKS["pretrain"]
    assert head_note(pretrain, {"architectures": ["BertForPreTraining"]}) is None
    assert head_note(pretrain, {"architectures": ["BertForMaskedLM"]}) is None
    assert head_note(pretrain, {"architectures": ["BertModel"]}) is None
    assert "W500" in head_note(pretrain, {"architectures": ["BertForQuestionAnswering"]})
    assert head_note(TASKS["qa"], {"architectures": ["BertForQuestionAnswering"]}) is None
    assert "BertForQuestionAnswering" in head_note(TASKS["qa"], {"architectures": ["BertForMaskedLM"]})


def test_checkpoint_is_read_and_checked(tmp_path, tiny_bert_dir):
    assert check_checkpoint(DEFAULT_CHECKPOINT)["hidden_size"] == 384  # offline: the packaged copy
    assert check_checkpoint(str(tiny_bert_dir))["hidden_size"] == 32
    with pytest.raises(ValueError, match="E503"):
        check_checkpoint(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="E504"):
        check_checkpoint(str(tmp_path / "empty"))
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="E505.*gpt2"):
        check_checkpoint(str(tmp_path / "gpt"))
    with pytest.raises(ValueError, match="E506"):
        render_config("qa-nope")


@job("cli-init-config-fails")
def init_config_fails_job(request) -> list:
    tmp_path = request.getfixturevalue("tmp_path_factory").mktemp("init-config-fails")
    return [python_step("-m", "spacy", "bert", "init-config", str(tmp_path / "x.cfg"),
                        "--checkpoint", str(tmp_path / "nowhere"), check=False)]


@pytest.mark.background("cli-init-config-fails")
def test_init_config_command_fails_clearly():
    (result,) = results("cli-init-config-fails")
    written = Path(result.step.argv[result.step.argv.index("init-config") + 1])
    assert result.returncode == 1
    assert "E503" in result.stdout + result.stderr and "nowhere" in result.stdout + result.stderr
    assert not written.exists()


def _corpus(task, data_dir, tmp_path):
    if task in ("ner", "ner-listener"):
        return wnut_slice(tmp_path)
    if task == "qa":  # SQuAD JSON read directly; a few articles keep the run short
        slices = []
        for name, articles in (("train", 2), ("dev", 1)):
            data = json.loads((XQUAD / f"{name}.json").read_text(encoding="utf-8"))
            data["data"] = data["data"][:articles]
            slices.append(tmp_path / f"{name}.json")
            slices[-1].write_text(json.dumps(data), encoding="utf-8")
        return tuple(slices)
    if task == "pretrain":
        lines = read_text_lines(data_dir / "wikitext2" / "valid.txt", limit=24)
        train, dev = tmp_path / "train.txt", tmp_path / "dev.txt"
        write_text_lines(lines[:20], train)
        write_text_lines(lines[20:], dev)
        return train, dev
    if task == "textcat":
        records = list(islice(read_sst2(data_dir / "sst2" / "dev.tsv"), 40))
    else:
        goemotions = data_dir / "goemotions"
        records = list(islice(read_goemotions(goemotions / "dev.tsv", goemotions / "labels.txt"), 40))
    train, dev = tmp_path / "train.spacy", tmp_path / "dev.spacy"
    write_textcat_docbin(records[:30], train)
    write_textcat_docbin(records[30:], dev)
    return train, dev


def init_config_trains_job(task):
    """init-config on the tiny checkpoint and a slice of the task's data, `spacy debug config`,
    then 3 training steps: a background job (tests/background.py) per task."""

    @job(f"init-config-trains:{task}")
    def make(request) -> list:
        tmp_path = request.getfixturevalue("tmp_path_factory").mktemp(f"init-config-{task}")
        train, dev = _corpus(task, request.getfixturevalue("data_dir"), tmp_path)
        config = tmp_path / "config.cfg"
        return [
            spacy_step("bert", "init-config", str(config), "--task", task, "--checkpoint",
                       str(request.getfixturevalue("tiny_bert_dir")), "--train", str(train), "--dev", str(dev)),
            spacy_step("debug", "config", str(config)),
            spacy_step("train", str(config), "--output", str(tmp_path / "out"), "--training.max_steps", "3",
                       "--training.eval_frequency", "3", "--gpu-id", "-1"),
        ]


for _task in TASKS:
    init_config_trains_job(_task)


@pytest.mark.slow
@pytest.mark.parametrize("task", [pytest.param(task, marks=pytest.mark.background(f"init-config-trains:{task}"))
                                  for task in TASKS])
def test_init_config_gives_a_config_that_debug_config_accepts_and_trains(task, tiny_bert_dir):
    made, checked, trained = results(f"init-config-trains:{task}")
    config = Path(made.step.argv[made.step.argv.index("init-config") + 1])
    assert Config().from_disk(config, interpolate=False)["paths"]["checkpoint"] == str(tiny_bert_dir)
    assert "Config is valid" in checked.stdout
    assert "Saved pipeline to output directory" in trained.stdout
    assert (config.parent / "out" / "model-best" / "config.cfg").is_file()


def test_listed_steps_are_the_tasks():
    assert list(TASKS) == ["ner", "ner-listener", "textcat", "textcat-multilabel", "qa", "pretrain"]
    assert list(TASK_NAMES) == [*TASKS, "fill-mask"]
    assert list(itertools.chain.from_iterable(t.pipeline for t in TASKS.values())) == [
        "bert_ner", "bert", "ner", "bert_textcat", "bert_textcat", "bert_qa", "bert_fill_mask"]
    with pytest.raises(ValueError, match="E506.*fill-mask"):
        task_spec("mlm")


# -- GPU request without CuPy / CUDA --------------------------------------------------------------
@pytest.mark.parametrize("argv,gpu", [
    (["train", "c.cfg", "--gpu-id", "0"], 0),
    (["train", "c.cfg", "--gpu-id=1"], 1),
    (["evaluate", "m", "d", "-g", "0"], 0),
    (["train", "c.cfg", "--gpu-id", "-1"], -1),
    (["train", "c.cfg"], None),
    (["bert", "init-config", "x", "-g", "0"], None),  # not a spaCy command with --gpu-id
    (["train", "c.cfg", "--gpu-id", "x"], None),  # spaCy reports this one itself
])
def test_gpu_request_is_read_from_the_command_line(argv, gpu):
    from spacy_bert.cli.gpu import requested_gpu

    assert requested_gpu(argv) == gpu


@job("cli-gpu-without-cupy")
def gpu_without_cupy_job(request) -> list:
    from thinc.util import has_cupy_gpu

    if has_cupy_gpu:  # the test skips
        return []
    return [python_step("-m", "spacy", "train", str(REPO / "configs" / "ner.cfg"), "--gpu-id", "0",
                        "--paths.train", "x", "--paths.dev", "y", check=False)]


@pytest.mark.background("cli-gpu-without-cupy")
def test_gpu_run_without_cupy_gives_a_coded_message():
    from thinc.util import has_cupy_gpu

    if has_cupy_gpu:
        pytest.skip("this machine can use a GPU")
    (result,) = results("cli-gpu-without-cupy")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1
    assert ("[E520]" in output and 'pip install "spacy-bert[cuda12x]"' in output) or "[E521]" in output
    assert "Traceback" not in output


# -- split-text (the pretrain workflow's data step) ------------------------------------------------
def _split_text(*args):
    from typer.testing import CliRunner

    from spacy_bert.cli import bert_cli

    return CliRunner().invoke(bert_cli, ["split-text", *map(str, args)])


def test_split_text_drops_blank_lines_and_holds_out_a_seeded_share(tmp_path):
    source = tmp_path / "in.txt"
    # a byte-order mark, blank and whitespace-only lines, a WikiText-style heading
    source.write_text("\ufeff a b \n\n = H = \n c\n\n d e\n  \n f\n", encoding="utf-8")
    assert read_text_lines(source) == ["a b", "= H =", "c", "d e", "f"]
    assert read_text_lines(source, limit=2) == ["a b", "= H ="]
    result = _split_text(source, tmp_path / "train.txt", "--held-out", "0.4", "--held-out-output", tmp_path / "dev.txt")
    assert result.exit_code == 0, result.output
    kept = (tmp_path / "train.txt").read_text(encoding="utf-8").splitlines()
    held = (tmp_path / "dev.txt").read_text(encoding="utf-8").splitlines()
    assert len(kept) == 3 and len(held) == 2
    assert sorted(kept + held) == sorted(["a b", "= H =", "c", "d e", "f"])  # nothing lost, nothing twice
    again = _split_text(source, tmp_path / "t2.txt", "--held-out", "0.4", "--held-out-output", tmp_path / "d2.txt")
    assert again.exit_code == 0 and (tmp_path / "d2.txt").read_text() == (tmp_path / "dev.txt").read_text()
    whole = _split_text(source, tmp_path / "all.txt", "--limit", "4")
    assert whole.exit_code == 0 and (tmp_path / "all.txt").read_text(encoding="utf-8") == "a b\n= H =\nc\nd e\n"


def test_split_text_fails_clearly(tmp_path):
    (tmp_path / "blank.txt").write_text("\n  \n\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "two.txt").write_text("a\nb\n", encoding="utf-8")
    cases = [
        ((tmp_path / "missing.txt", tmp_path / "o.txt"), "E530"),
        ((tmp_path / "latin1.txt", tmp_path / "o.txt"), "E530"),
        ((tmp_path / "blank.txt", tmp_path / "o.txt"), "E531"),
        ((tmp_path / "two.txt", tmp_path / "o.txt", "--held-out", "1.5", "--held-out-output", tmp_path / "d.txt"), "E532"),
        ((tmp_path / "two.txt", tmp_path / "o.txt", "--held-out", "0.1", "--held-out-output", tmp_path / "d.txt"), "E532"),
        ((tmp_path / "two.txt", tmp_path / "o.txt", "--held-out", "0.5"), "E512"),
    ]
    for args, code in cases:
        result = _split_text(*args)
        # a usage error stays on result.exception under CliRunner; the others print
        shown = " ".join(f"{result.output} {result.exception or ''}".split())
        assert result.exit_code != 0 and code in shown, (args, shown)
        assert not (tmp_path / "o.txt").exists()


# -- `spacy project assets` offline: the message --------------------------------------------------
def test_project_assets_failure_names_each_datasets_var(tmp_path):
    from spacy_bert.cli.project_assets import failure_message, is_project_assets

    assert is_project_assets(["project", "assets", "."]) and not is_project_assets(["project", "run", "ner"])
    assert not is_project_assets(["train", "assets"])
    (tmp_path / "project.yml").write_text(
        "vars:\n  a_base: http://x\nassets:\n"
        "  - dest: assets/a/1.txt\n    url: ${vars.a_base}/1.txt\n"
        "  - dest: assets/a/2.txt\n    url: ${vars.a_base}/2.txt\n"
        "  - dest: assets/b.txt\n    url: http://y/b.txt\n", encoding="utf-8")
    text = failure_message(tmp_path, [("assets/a/1.txt", "p1"), ("assets/a/2.txt", "p2"), ("assets/b.txt", "p3")])
    assert text.startswith("[E533]") and "3 asset(s): p1; p2; p3" in text
    assert "--vars.a_base DIR (for assets/a/1.txt, assets/a/2.txt)" in text
    assert "place assets/b.txt yourself" in text


def test_fetch_assets_takes_other_url_vars(tmp_path):
    """assets-trec passes --var trec_file=...: a mirror may name the file differently."""
    from typer.testing import CliRunner

    from spacy_bert.cli import bert_cli

    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "copy.txt").write_text("data\n", encoding="utf-8")
    (tmp_path / "project.yml").write_text(
        "vars:\n  d_base: http://x\n  d_file: source.txt\nassets:\n"
        "  - dest: assets/d.txt\n    url: ${vars.d_base}/${vars.d_file}\n", encoding="utf-8")
    args = ["fetch-assets", str(tmp_path), "assets/d.txt", "--base-var", "d_base", "--base", str(tmp_path / "mirror")]
    bad = CliRunner().invoke(bert_cli, [*args, "--var", "d_file"])
    assert bad.exit_code == 1 and "E534" in " ".join(bad.output.split())
    missing = CliRunner().invoke(bert_cli, args)  # source.txt is not in the mirror
    assert missing.exit_code == 1 and "E510" in bad.output + missing.output
    good = CliRunner().invoke(bert_cli, [*args, "--var", "d_file=copy.txt"])
    assert good.exit_code == 0, good.output
    assert (tmp_path / "assets" / "d.txt").read_text(encoding="utf-8") == "data\n"

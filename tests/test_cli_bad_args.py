"""Every `spacy bert` command answers bad arguments with one coded line and exit status 1, never
a traceback (issue 22, item 6).

The table runs each command in-process through typer's CliRunner (a few rows also run as real
subprocesses through `python -m spacy bert` and `python -m spacy_bert`). A row passes when the
command exits with status 1 through SystemExit (an uncaught exception would also give status 1
under CliRunner, so that is checked apart), prints exactly one line with a code, that code is
the expected one, and no "Traceback" appears.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from thinc.api import Config
from typer.testing import CliRunner

import spacy_bert.pipeline  # noqa: F401  (registers the factories)
from spacy_bert.cli import bert_cli
from tests.pipeline.spacy_cli import ONE_THREAD_ENV, REPO

#: every command of the group: the table must cover each (checked below)
COMMANDS = {"convert-conll", "convert-sst2", "convert-trec", "convert-goemotions", "split-text", "export",
            "init-config", "similarity", "annotate", "fetch-assets", "evaluate-qa", "calibrate-qa", "serve"}

LONG_CONTEXT = " ".join(["Mira Holt built the old stone bridge over the river in the north of the town."] * 6)


def squad(context: str, question: str) -> dict:
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": question, "answers": [{"text": "Mira Holt", "answer_start": 0}]}]}]}]}


@pytest.fixture(scope="module")
def places(tmp_path_factory, tiny_bert_dir):
    """Name -> path of the files, folders and tiny saved pipelines the rows refer to."""
    w = tmp_path_factory.mktemp("bad-args")
    (w / "dir").mkdir()
    (w / "file").write_text("x\n", encoding="utf-8")
    (w / "ok.conll").write_text("Alice\tB-PER\nsays\tO\n", encoding="utf-8")
    (w / "mixed.conll").write_text("Alice\tB-PER\nin\tO\nParis\tLOC\n", encoding="utf-8")
    (w / "spaced.conll").write_text("in\tO\nNew York\tB-LOC\n", encoding="utf-8")
    (w / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (w / "texts.txt").write_text("Alice lives in Paris.\nBob too.\n", encoding="utf-8")
    (w / "blank.txt").write_text("\n  \n", encoding="utf-8")
    (w / "sst2.tsv").write_text("1\tgood film\n", encoding="utf-8")
    (w / "trec.txt").write_text("4 Where is Paris ?\n3 Who is Bob ?\n", encoding="latin-1")
    (w / "go.tsv").write_text("nice\t0\tid1\n", encoding="utf-8")
    (w / "labels.txt").write_text("joy\n", encoding="utf-8")
    (w / "gone.tsv").write_text("nice\t0\tid1\n", encoding="utf-8")  # no labels.txt problem: its own
    (w / "not.json").write_text("not json", encoding="utf-8")
    (w / "nodata.json").write_text('{"data": 1}', encoding="utf-8")
    (w / "squad.json").write_text(json.dumps(squad(LONG_CONTEXT, "Who built the bridge?")), encoding="utf-8")
    long_question = "Who was the person that built the old stone bridge over the river in the north?"
    (w / "long_q.json").write_text(json.dumps(squad(LONG_CONTEXT, long_question)), encoding="utf-8")
    (w / "project").mkdir()
    (w / "project" / "project.yml").write_text(
        "vars:\n  d_base: http://x\nassets:\n  - dest: assets/d.txt\n    url: ${vars.d_base}/d.txt\n", encoding="utf-8")
    (w / "badyaml").mkdir()
    (w / "badyaml" / "project.yml").write_text("assets: [\n", encoding="utf-8")
    (w / "badschema").mkdir()
    (w / "badschema" / "project.yml").write_text("assets: 5\n", encoding="utf-8")
    (w / "gpt").mkdir()
    (w / "gpt" / "config.json").write_text('{"model_type": "gpt2"}', encoding="utf-8")
    (w / "badjson").mkdir()
    (w / "badjson" / "config.json").write_text("{nope", encoding="utf-8")
    (w / "noweights").mkdir()
    for name in ("config.json", "vocab.txt"):
        (w / "noweights" / name).write_bytes((tiny_bert_dir / name).read_bytes())
    pipelines = {
        "ner": ("bert_ner", {}),
        "qa": ("bert_qa", {}),
        "qa_stride": ("bert_qa", {}),  # saved, then given max_seq_len = 20, doc_stride = 18 below
        "qa_pair": ("bert_qa", {"max_seq_len": 30, "doc_stride": 20}),  # E372 with a long question
    }
    for name, (factory, settings) in pipelines.items():
        nlp = spacy.blank("en")
        nlp.add_pipe(factory, config={"checkpoint": str(tiny_bert_dir), **settings})
        if factory == "bert_ner":
            from spacy.training import Example

            doc = nlp.make_doc("Alice lives in Paris")
            nlp.initialize(lambda: [Example.from_dict(doc, {"entities": [(0, 5, "PER"), (15, 20, "LOC")]})])
        else:
            nlp.initialize()
        nlp.to_disk(w / name)
    # A saved pipeline whose config no longer fits (add_pipe would refuse it already): the
    # load, i.e. the command, reports it in the user's names.
    config = Config().from_disk(w / "qa_stride" / "config.cfg", interpolate=False)
    config["components"]["bert_qa"].update({"max_seq_len": 20, "doc_stride": 18})
    config.to_disk(w / "qa_stride" / "config.cfg")
    return {"W": str(w), "T": str(tiny_bert_dir)}


def row(code, *args, must=(), must_not=()):
    """One bad command line ({W}: the fixture's folder, {T}: the tiny checkpoint), its code, and
    texts its message must (not) hold."""
    return pytest.param(list(args), code, tuple(must), tuple(must_not), id=f"{args[0]}-{code}-" + "-".join(
        re.sub(r"[^A-Za-z0-9.]+", "_", a.replace("{W}/", "")) for a in args[1:])[:60])


ROWS = [
    # -- convert-conll
    row("E770", "convert-conll", "{W}/missing.conll", "{W}/o.spacy", must=["missing.conll does not exist"]),
    row("E770", "convert-conll", "{W}/dir", "{W}/o.spacy", must=["is a directory"]),
    row("E772", "convert-conll", "{W}/latin1.txt", "{W}/o.spacy", must=["latin1.txt:1"]),
    row("E771", "convert-conll", "{W}/ok.conll", "{W}/dir", must=["it is a directory"]),
    row("E771", "convert-conll", "{W}/ok.conll", "{W}/file/o.spacy", must=["is a file, not a directory"]),
    row("E771", "convert-conll", "{W}/ok.conll", "/proc/spacy-bert-none/o.spacy"),  # cannot be made, even as root
    row("E774", "convert-conll", "{W}/ok.conll", "{W}/o.spacy", "--limit", "-1", must=["--limit -1"]),
    row("E780", "convert-conll", "{W}/mixed.conll", "{W}/o.spacy", must=["mixed.conll:3"]),
    row("E782", "convert-conll", "{W}/spaced.conll", "{W}/o.spacy", must=["spaced.conll:2"]),
    # -- convert-sst2
    row("E770", "convert-sst2", "{W}/missing.tsv", "{W}/o.spacy"),
    row("E770", "convert-sst2", "{W}/dir", "{W}/o.spacy"),
    row("E772", "convert-sst2", "{W}/latin1.txt", "{W}/o.spacy", must=["latin1.txt:1"]),
    row("E775", "convert-sst2", "{W}/texts.txt", "{W}/o.spacy", must=["texts.txt:1"]),
    row("E771", "convert-sst2", "{W}/sst2.tsv", "{W}/dir"),
    row("E774", "convert-sst2", "{W}/sst2.tsv", "{W}/o.spacy", "--limit", "-5"),
    # -- convert-trec
    row("E770", "convert-trec", "{W}/missing.txt", "{W}/o.spacy"),
    row("E512", "convert-trec", "{W}/trec.txt", "{W}/o.spacy", "--held-out", "0.5"),
    row("E532", "convert-trec", "{W}/trec.txt", "{W}/o.spacy", "--held-out", "1.5", "--held-out-output", "{W}/d.spacy"),
    row("E775", "convert-trec", "{W}/texts.txt", "{W}/o.spacy", must=["texts.txt:1"]),
    row("E771", "convert-trec", "{W}/trec.txt", "{W}/o.spacy", "--held-out", "0.5", "--held-out-output", "{W}/dir",
        must=["--held-out-output"]),
    # -- convert-goemotions
    row("E770", "convert-goemotions", "{W}/missing.tsv", "{W}/o.spacy"),
    row("E770", "convert-goemotions", "{W}/go.tsv", "{W}/o.spacy", "--labels", "{W}/nolabels.txt", must=["--labels"]),
    row("E772", "convert-goemotions", "{W}/latin1.txt", "{W}/o.spacy", "--labels", "{W}/labels.txt"),
    row("E771", "convert-goemotions", "{W}/go.tsv", "{W}/file/o.spacy", "--labels", "{W}/labels.txt"),
    row("E775", "convert-goemotions", "{W}/texts.txt", "{W}/o.spacy", "--labels", "{W}/labels.txt"),
    # -- split-text
    row("E530", "split-text", "{W}/missing.txt", "{W}/o.txt"),
    row("E530", "split-text", "{W}/latin1.txt", "{W}/o.txt"),
    row("E531", "split-text", "{W}/blank.txt", "{W}/o.txt"),
    row("E771", "split-text", "{W}/texts.txt", "{W}/dir"),
    row("E771", "split-text", "{W}/texts.txt", "{W}/o.txt", "--held-out", "0.5", "--held-out-output", "{W}/file/d.txt"),
    row("E532", "split-text", "{W}/texts.txt", "{W}/o.txt", "--held-out", "0", "--held-out-output", "{W}/d.txt"),
    row("E774", "split-text", "{W}/texts.txt", "{W}/o.txt", "--limit", "-1"),
    # -- export
    row("E776", "export", "{W}/missing", "bert_ner", "{W}/out", must=["cannot load the pipeline"]),
    row("E776", "export", "{W}/file", "bert_ner", "{W}/out"),
    row("E363", "export", "{W}/ner", "nope", "{W}/out"),
    row("E771", "export", "{W}/ner", "bert_ner", "{W}/file", must=["it is a file, not a directory"]),
    row("E771", "export", "{W}/ner", "bert_ner", "/proc/version/out"),
    # -- init-config
    row("E771", "init-config", "{W}/dir"),
    row("E771", "init-config", "{W}/file/x.cfg"),
    row("E506", "init-config", "{W}/x.cfg", "--task", "nope"),
    row("E503", "init-config", "{W}/x.cfg", "--checkpoint", "{W}/missing"),
    row("E505", "init-config", "{W}/x.cfg", "--checkpoint", "{W}/gpt"),
    # -- similarity
    row("E777", "similarity", "a", "b", "--model", "{W}/missing", must=["does not exist"]),
    row("E777", "similarity", "a", "b", "--model", "{W}/file", must=["is a file"]),
    row("E777", "similarity", "a", "b", "--model", "{W}/ner", must=["no config.json"]),
    row("E777", "similarity", "a", "b", "--model", "{W}/gpt", must=["model_type 'gpt2'"]),
    row("E777", "similarity", "a", "b", "--model", "{W}/badjson", must=["JSON"]),
    row("E777", "similarity", "a", "b", "--model", "{W}/noweights", must=["E102"]),
    # -- annotate: print mode
    row("E770", "annotate", "{W}/ner", "--file", "{W}/missing.txt"),
    row("E772", "annotate", "{W}/ner", "--file", "{W}/latin1.txt", must=["latin1.txt:1"]),
    row("E770", "annotate", "{W}/ner", "--file", "{W}/dir"),
    row("E706", "annotate", "{W}/ner", "hello", "--precision", "int4"),
    row("E706", "annotate", "{W}/ner", "--file", "{W}/texts.txt", "--precision", "fp8"),
    row("E776", "annotate", "{W}/missing", "hello"),
    row("E771", "annotate", "{W}/ner", "hello", "--html", "{W}/dir"),
    row("E771", "annotate", "{W}/ner", "hello", "--html", "{W}/file/page.html"),
    row("E713", "annotate", "{W}/ner"),
    # -- annotate: corpus mode
    row("E711", "annotate", "{W}/ner", "{W}/texts.txt", "{W}/file"),
    row("E706", "annotate", "{W}/ner", "{W}/texts.txt", "{W}/out", "--precision", "int4"),
    row("E706", "annotate", "{W}/ner", "{W}/texts.txt", "{W}/out", "--workers", "0"),
    row("E706", "annotate", "{W}/ner", "{W}/texts.txt", "{W}/out", "--engine", "spark"),
    row("E706", "annotate", "{W}/ner", "{W}/texts.txt", "{W}/out", "--format", "xml"),
    row("E700", "annotate", "{W}/ner", "{W}/missing.txt", "{W}/out"),
    row("E710", "annotate", "{W}/missing", "{W}/texts.txt", "{W}/out"),
    # -- fetch-assets
    row("E778", "fetch-assets", "{W}/missing", "assets/d.txt", "--base-var", "d_base"),
    row("E778", "fetch-assets", "{W}/dir", "assets/d.txt", "--base-var", "d_base"),
    row("E511", "fetch-assets", "{W}/project", "assets/nope.txt", "--base-var", "d_base"),
    row("E784", "fetch-assets", "{W}/badyaml", "assets/d.txt", "--base-var", "d_base", must=["project.yml", "line 2"]),
    row("E784", "fetch-assets", "{W}/badschema", "assets/d.txt", "--base-var", "d_base", must=["valid list"]),
    row("E534", "fetch-assets", "{W}/project", "assets/d.txt", "--base-var", "d_base", "--var", "novalue"),
    # -- evaluate-qa
    row("E776", "evaluate-qa", "{W}/missing", "{W}/squad.json"),
    row("E770", "evaluate-qa", "{W}/qa", "{W}/missing.json"),
    row("E608", "evaluate-qa", "{W}/qa", "{W}/not.json"),
    row("E608", "evaluate-qa", "{W}/qa", "{W}/nodata.json"),
    row("E608", "evaluate-qa", "{W}/qa", "{W}/latin1.txt"),
    row("E611", "evaluate-qa", "{W}/ner", "{W}/squad.json", must=["Cannot evaluate", "no bert_qa component"],
        must_not=["export"]),
    row("E611", "evaluate-qa", "{W}/qa", "{W}/squad.json", "--component", "nope", must=["'nope'"], must_not=["export"]),
    row("E771", "evaluate-qa", "{W}/qa", "{W}/squad.json", "--output", "{W}/dir"),
    # the user configured max_seq_len / doc_stride: the message speaks of them, not window / stride
    row("E354", "evaluate-qa", "{W}/qa_stride", "{W}/squad.json", must=["doc_stride=18", "max_seq_len=20"],
        must_not=["window=", " stride="]),
    row("E372", "evaluate-qa", "{W}/qa_pair", "{W}/long_q.json", must=["doc_stride=20", "max_seq_len=30"],
        must_not=["window=", " stride="]),
    # -- serve (options are checked before anything is loaded or bound)
    row("E814", "serve", "{W}/qa", "--workers", "0", must=["--workers"]),
    row("E814", "serve", "{W}/qa", "--port", "70000", must=["--port"]),
    row("E814", "serve", "{W}/qa", "--precision", "fp8", must=["--precision"]),
    row("E814", "serve", "{W}/qa", "--engine", "k8s", must=["--engine"]),
    row("E710", "serve", "{W}/missing"),
    # -- calibrate-qa
    row("E776", "calibrate-qa", "{W}/missing", "{W}/squad.json"),
    row("E770", "calibrate-qa", "{W}/qa", "{W}/missing.json"),
    row("E608", "calibrate-qa", "{W}/qa", "{W}/not.json"),
    row("E611", "calibrate-qa", "{W}/ner", "{W}/squad.json", must=["no bert_qa component"]),
    row("E874", "calibrate-qa", "{W}/qa", "{W}/squad.json", "--holdout", "1.5"),
    row("E771", "calibrate-qa", "{W}/qa", "{W}/squad.json", "--output", "{W}/file"),
]


def fill(args, places):
    return [a.format(**places) for a in args]


def coded_lines(text):
    return [line for line in text.splitlines() if re.search(r"\[[EW]\d{3}\]", line)]


def test_the_table_covers_every_command():
    registered = {command.name for command in bert_cli.registered_commands}
    assert registered == COMMANDS
    counts = {name: sum(1 for p in ROWS if p.values[0][0] == name) for name in COMMANDS}
    assert min(counts.values()) >= 2, counts
    assert len(ROWS) >= 60


@pytest.mark.parametrize("args,code,must,must_not", ROWS)
def test_bad_arguments_give_one_coded_line(places, args, code, must, must_not):
    result = CliRunner().invoke(bert_cli, fill(args, places))
    output = result.output
    assert isinstance(result.exception, SystemExit), (result.exception, output)  # not a raised error
    assert result.exit_code == 1, output
    assert "Traceback" not in output
    lines = coded_lines(output)
    assert len(lines) == 1, output
    assert f"[{code}]" in lines[0], lines[0]
    for text in must:
        assert text in lines[0], (text, lines[0])
    for text in must_not:
        assert text not in lines[0], (text, lines[0])


@pytest.mark.parametrize("prefix,args,code", [
    (["-m", "spacy", "bert"], ["convert-conll", "{W}/missing.conll", "{W}/o.spacy"], "E770"),
    (["-m", "spacy_bert"], ["convert-conll", "{W}/dir", "{W}/o.spacy"], "E770"),
    (["-m", "spacy", "bert"], ["annotate", "{W}/ner", "--file", "{W}/latin1.txt"], "E772"),
    (["-m", "spacy_bert"], ["export", "{W}/ner", "bert_ner", "{W}/file"], "E771"),
    (["-m", "spacy_bert"], ["similarity", "x", "--model", "{W}/missing"], "E777"),
])
def test_bad_arguments_in_a_subprocess(places, prefix, args, code):
    result = subprocess.run([sys.executable, *prefix, *fill(args, places)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, **ONE_THREAD_ENV, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = coded_lines(result.stdout)
    assert len(lines) == 1 and f"[{code}]" in lines[0], result.stdout + result.stderr


def test_unwritable_output_directory(places, monkeypatch):
    """The permission check (root passes os.access, so it is simulated here)."""
    import types

    import spacy_bert.cli._checks as checks

    # only the checks' view of os (click checks its own path arguments with the real one)
    monkeypatch.setattr(checks, "os", types.SimpleNamespace(access=lambda *args: False, W_OK=os.W_OK, X_OK=os.X_OK))
    for args in (["convert-conll", "{W}/ok.conll", "{W}/ro/o.spacy"], ["export", "{W}/ner", "bert_ner", "{W}/ro/out"],
                 ["init-config", "{W}/ro.cfg"]):
        result = CliRunner().invoke(bert_cli, fill(args, places))
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        lines = coded_lines(result.output)
        assert len(lines) == 1 and "[E771]" in lines[0] and "permission denied" in lines[0], result.output


def test_a_bug_keeps_its_traceback(places, monkeypatch):
    """Only the errors a user causes become one line; an internal error is not hidden."""
    import spacy_bert.corpora as corpora

    for error in (TypeError("internal bug"), ValueError("uncoded internal bug"), KeyError("bug")):
        def broken(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(corpora, "convert_conll", broken)
        result = CliRunner().invoke(bert_cli, fill(["convert-conll", "{W}/ok.conll", "{W}/o.spacy"], places))
        assert result.exception is error, result.output
        assert not coded_lines(result.output)


def test_usage_errors_stay_click_usage_errors(places):
    """A value of the wrong type is click's to report (status 2 and the usage line), also without
    a traceback."""
    result = CliRunner().invoke(bert_cli, fill(["convert-conll", "{W}/ok.conll", "{W}/o.spacy", "--limit", "many"], places))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--limit'" in " ".join(result.output.split())


def test_good_arguments_still_work(places):
    """The wrapper passes a command's success through (a quick one per kind of path check)."""
    w = Path(places["W"])
    result = CliRunner().invoke(bert_cli, ["convert-conll", str(w / "ok.conll"), str(w / "new" / "dir" / "o.spacy")])
    assert result.exit_code == 0, result.output
    assert (w / "new" / "dir" / "o.spacy").is_file()
    result = CliRunner().invoke(bert_cli, ["annotate", str(w / "ner"), "--file", str(w / "texts.txt"), "--html", str(w / "page" / "p.html")])
    assert result.exit_code == 0, result.output
    assert "Alice lives in Paris." in result.output and (w / "page" / "p.html").is_file()

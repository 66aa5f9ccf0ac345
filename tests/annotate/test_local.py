"""`annotate_corpus` in this process and on the local process pool: the shards hold what a plain
`nlp.pipe` finds, every id once and in order; re-runs skip finished shards; a deleted, truncated
or half-written shard is redone; a killed worker's shard is redone; a failing record is reported
with its id; bad options are coded errors."""
import io
import json
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_bert.annotate import annotate_corpus
from spacy_bert.annotate import pipelines as pipelines_module
from spacy_bert.annotate.progress import Progress
from spacy_bert.annotate.shard import CRASH_ENV, ShardResult
from tests.annotate.conftest import SHARD_SIZE, TEXTS, reference_jsonl, shard_jsonl
from tests.error_codes import raises_code

N_SHARDS = -(-len(TEXTS) // SHARD_SIZE)


def run(pipeline, corpus_path, out, **kwargs):
    kwargs.setdefault("shard_size", SHARD_SIZE)
    kwargs.setdefault("fmt", "jsonl")
    return annotate_corpus(str(pipeline), str(corpus_path), str(out), progress_stream=io.StringIO(), **kwargs)


def ids_of(out):
    return [json.loads(line)["id"] for line in shard_jsonl(out).decode().splitlines()]


def mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in Path(out).iterdir()}


def test_in_process_matches_plain_pipe_and_reruns_skip(tmp_path, corpus, tiny_pipeline_dir, monkeypatch):
    path, ids, reference = corpus
    out = tmp_path / "out"
    summary = run(tiny_pipeline_dir, path, out)
    assert (summary.shards, summary.records, summary.annotated, summary.errors) == (N_SHARDS, len(TEXTS), len(TEXTS), 0)
    assert shard_jsonl(out) == reference  # byte-identical to nlp.pipe
    assert ids_of(out) == ids  # every id once, in input order
    assert any(json.loads(line)["entities"] for line in reference.decode().splitlines())  # the test sees entities
    # the DocBins hold the annotated Docs with their ids
    nlp = spacy.load(tiny_pipeline_dir)
    docs = [d for p in sorted(out.glob("*.spacy")) for d in DocBin().from_disk(p).get_docs(nlp.vocab)]
    plain = list(nlp.pipe(TEXTS, batch_size=SHARD_SIZE))
    assert [d.user_data["id"] for d in docs] == ids
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs] == [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in plain]
    assert [d.cats for d in docs] == [d.cats for d in plain]

    # re-run: every shard skipped, nothing loaded, no file touched
    before = mtimes(out)
    monkeypatch.setattr(pipelines_module, "load_pipeline", lambda *a, **k: pytest.fail("a finished shard was recomputed"))
    again = run(tiny_pipeline_dir, path, out)
    assert again.skipped_shards == N_SHARDS and all(r.skipped for r in again.results)
    assert mtimes(out) == before
    monkeypatch.undo()

    # delete one output, truncate another, leave a half-written temp file for a third
    (out / "corpus.jsonl-00001.spacy").unlink()
    truncated = out / "corpus.jsonl-00003.jsonl"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    (out / "corpus.jsonl-00004.spacy").unlink()
    (out / ".corpus.jsonl-00004.spacy.tmp-1-deadbeef").write_bytes(b"half a docbin")
    before = mtimes(out)
    redo = run(tiny_pipeline_dir, path, out)
    assert [r.name for r in redo.results if not r.skipped] == ["corpus.jsonl-00001", "corpus.jsonl-00003", "corpus.jsonl-00004"]
    after = mtimes(out)
    for name in ("corpus.jsonl-00000", "corpus.jsonl-00002"):
        for suffix in (".spacy", ".jsonl", ".manifest.json"):
            assert after[name + suffix] == before[name + suffix]
    assert not list(out.glob(".*tmp-*"))  # the stale temporary file is gone, never taken as done
    assert shard_jsonl(out) == reference

    # other settings (here the output format) are not the same run: the shards are redone
    assert run(tiny_pipeline_dir, path, out, fmt="spacy").skipped_shards == 0
    # another --shard-size: other shard names; the old shards are left alone, with a warning
    with pytest.warns(UserWarning, match=r"W702.*4 shard\(s\)"):
        resharded = run(tiny_pipeline_dir, path, out, fmt="spacy", shard_size=25)
    assert resharded.shards == 1 and (out / "corpus.jsonl-00004.manifest.json").exists()


def test_local_pool_with_a_killed_worker(tmp_path, corpus, tiny_pipeline_dir, raising_pipeline, monkeypatch):
    path, ids, reference = corpus
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(CRASH_ENV, f"corpus.jsonl-00002:{marker}")
    out = tmp_path / "out"
    summary = run(tiny_pipeline_dir, path, out, engine="local", workers=2)
    assert marker.exists()  # the worker running shard 2 did die (SIGKILL, after writing a temp file)
    assert summary.records == summary.annotated == len(TEXTS) and summary.skipped_shards == 0
    assert shard_jsonl(out) == reference
    assert ids_of(out) == ids
    assert not list(out.glob(".*tmp-*"))
    # a worker that cannot load the pipeline: its error, once (not E709 after retries); one
    # record, so the pool starts one process
    monkeypatch.delenv(CRASH_ENV)
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"text": "Alice"}) + "\n")
    with pytest.raises(ValueError, match=r"E002.*annotate_test_raiser"):
        run(raising_pipeline, one, tmp_path / "cannot-load", engine="local", workers=2)


def test_precision_is_applied_after_load(tmp_path, corpus, tiny_pipeline_dir):
    from spacy_bert.pipeline import set_precision

    path, ids, _ = corpus
    nlp = spacy.load(tiny_pipeline_dir)
    set_precision(nlp, "int8")
    metas = [None if i % 7 == 3 else {"i": i} for i in range(len(TEXTS))]
    int8_reference = reference_jsonl(nlp, TEXTS, ids, metas)
    assert int8_reference != corpus[2]  # int8 changes the scores, so the test can tell
    summary = run(tiny_pipeline_dir, path, tmp_path / "int8", precision="int8")
    assert shard_jsonl(tmp_path / "int8") == int8_reference
    manifest = json.loads((tmp_path / "int8" / "corpus.jsonl-00000.manifest.json").read_text())
    assert manifest["settings"]["precision"] == "int8" and summary.annotated == len(TEXTS)


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_failing_records_reported_with_their_id(tmp_path, raising_pipeline):
    rows = [{"text": t, "id": f"r{i}"} for i, t in enumerate(TEXTS[:8])]
    rows[5]["text"] = "Alice said EXPLODE twice."
    only_marker = write_rows(tmp_path / "marker.jsonl", rows)
    with raises_code("E708", match=r"'r5'.*marker\.jsonl-00001.*EXPLODE"):
        run(raising_pipeline, only_marker, tmp_path / "fail")
    assert not list((tmp_path / "fail").glob("*-00001.*"))  # nothing of the failed shard written

    rows[2]["text"] = 12345  # not a string
    both = write_rows(tmp_path / "both.jsonl", rows)
    with raises_code("E708", match=r"'r2'.*both\.jsonl-00000.*E715"):
        run(raising_pipeline, both, tmp_path / "fail2")

    out = tmp_path / "skip"
    with pytest.warns(UserWarning, match="W700"):
        summary = run(raising_pipeline, both, out, on_error="skip")
    assert (summary.records, summary.annotated, summary.errors) == (8, 6, 2)
    errors = [json.loads(line) for p in sorted(out.glob("*.errors.jsonl")) for line in p.read_text().splitlines()]
    assert [e["id"] for e in errors] == ["r2", "r5"]
    assert "E715" in errors[0]["error"] and "EXPLODE" in errors[1]["error"] and errors[1]["source"].endswith("both.jsonl:6")
    assert ids_of(out) == [f"r{i}" for i in range(8) if i not in (2, 5)]
    assert sorted(summary.error_files) == sorted(str(p) for p in out.glob("*.errors.jsonl"))
    # a re-run skips the shards, errors files included (they are in the manifests)
    assert run(raising_pipeline, both, out, on_error="skip").skipped_shards == 2


def test_bad_options_are_coded_errors(tmp_path, corpus, tiny_pipeline_dir, monkeypatch):
    path = corpus[0]
    for option, value in [("engine", "spark"), ("fmt", "csv"), ("on_error", "ignore"), ("workers", 0), ("precision", "fp8")]:
        with raises_code("E706", match=value if isinstance(value, str) else "--workers"):
            run(tiny_pipeline_dir, path, tmp_path / "o", **{option: value})
    (tmp_path / "file").write_text("")
    with raises_code("E711"):
        run(tiny_pipeline_dir, path, tmp_path / "file")
    with raises_code("E710", match="no-such-pipeline"):
        run(tmp_path / "no-such-pipeline", path, tmp_path / "o")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with raises_code("E707", match=r"spacy-bert\[ray\]", exception=ImportError):
        run(tiny_pipeline_dir, path, tmp_path / "o", engine="ray")


def test_cli_corpus_and_print_modes(tmp_path, corpus, tiny_pipeline_dir, capsys):
    from spacy_bert.__main__ import main

    path, ids, reference = corpus
    out = tmp_path / "cli"
    main(["annotate", str(tiny_pipeline_dir), str(path), str(out), "--format", "jsonl", "--shard-size", str(SHARD_SIZE)])
    assert shard_jsonl(out) == reference
    assert f"{len(TEXTS)} records in {N_SHARDS} shards" in capsys.readouterr().out
    # two texts with --print: the print mode (without it they would be INPUT and OUTPUT_DIR)
    main(["annotate", str(tiny_pipeline_dir), "Alice Smith lives in Paris", "Hello", "--print", "--precision", "float32"])
    printed = capsys.readouterr().out
    assert "Alice Smith lives in Paris" in printed and "cats:" in printed
    with pytest.raises(SystemExit):
        main(["annotate", str(tiny_pipeline_dir)])
    assert "E713" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["annotate", str(tiny_pipeline_dir), str(tmp_path / "missing.jsonl"), str(out)])
    assert "E700" in capsys.readouterr().out


def test_progress_lines():
    clock = iter([0.0, 5.0, 20.0, 30.0, 31.0]).__next__
    stream = io.StringIO()
    progress = Progress(30, 3, stream, every=10.0, clock=clock)
    progress.update(ShardResult("a", 10, annotated=10))  # t=5: first line
    progress.update(ShardResult("b", 10, skipped=True))  # t=20
    progress.update(ShardResult("c", 10, annotated=9, errors=1))  # t=30: last shard, always logged
    lines = stream.getvalue().splitlines()
    assert lines[0] == "annotate: 10/30 records (33%), 1/3 shards, 2.0 records/s, ETA 0:10"
    assert lines[-1].startswith("annotate: 30/30 records (100%), 3/3 shards, 0.7 records/s")
    assert "\r" not in stream.getvalue()
    assert progress.summary() == ("30 records in 3 shards: 2 shards annotated, 1 already done (skipped); 19 records "
                                  "written, 1 failed; 0:31 at 0.6 records/s")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    bar = Progress(10, 1, tty, clock=iter([0.0, 2.0, 3.0]).__next__)
    bar.update(ShardResult("a", 10, annotated=10))
    assert tty.getvalue().startswith("\rannotate: 10/10 records") and "\n" not in tty.getvalue()

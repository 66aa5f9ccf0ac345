"""`annotate_corpus(engine="ray")` on a local Ray instance: the shards hold what a plain
`nlp.pipe` finds, every id once; an actor that dies mid-shard is replaced and its shard redone;
a failing record is reported with its id from inside an actor (the errors file of
--on-error skip is the shard function's, tested in test_local.py).

Ray stays on this machine: 127.0.0.1 only, no dashboard, usage statistics off, a temporary home
and temp directory. Ray is a test dependency (the `test` extra): without it these tests fail,
they are not skipped. One Ray session serves the module."""
import io
import json
import shutil
import tempfile

import pytest

from spacy_bert.annotate import annotate_corpus
from spacy_bert.annotate.engines import connect_ray
from spacy_bert.annotate.shard import CRASH_ENV
from tests.annotate.conftest import SHARD_SIZE, TEXTS, shard_jsonl
from tests.error_codes import raises_code


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    import ray  # a test dependency: ImportError here is a failure, not a skip

    home = tmp_path_factory.mktemp("ray-home")
    # short: Ray's unix socket paths live under it and may not exceed ~107 characters
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("HOME", str(home))
        # Ray >= 2.5x turns token auth on for a new local cluster by writing RAY_AUTH_MODE=token
        # into os.environ, which outlives this HOME (and its token): pin the mode for this
        # throwaway cluster on 127.0.0.1, so the Ray tests pass in any order in one process.
        patch.setenv("RAY_AUTH_MODE", "disabled")
        # the local instance `annotate --engine ray` starts (no dashboard, LOCAL_RAY_SYSTEM_CONFIG)
        assert connect_ray(None, num_cpus=2, _node_ip_address="127.0.0.1", _temp_dir=temp_dir)
        try:
            yield ray
        finally:
            ray.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)


def run(pipeline, corpus_path, out, **kwargs):
    return annotate_corpus(str(pipeline), str(corpus_path), str(out), engine="ray", workers=2, shard_size=SHARD_SIZE,
                           fmt="jsonl", progress_stream=io.StringIO(), **kwargs)


def ids_of(out):
    return [json.loads(line)["id"] for line in shard_jsonl(out).decode().splitlines()]


def test_ray_actors_match_plain_pipe_with_a_dead_actor(ray_session, tmp_path, corpus, tiny_pipeline_dir, monkeypatch):
    path, ids, reference = corpus
    marker = tmp_path / "actor-died"
    monkeypatch.setenv(CRASH_ENV, f"corpus.jsonl-00001:{marker}")
    out = tmp_path / "out"
    summary = run(tiny_pipeline_dir, path, out)
    assert marker.exists()  # the actor running shard 1 died (SIGKILL after writing a temp file)
    assert summary.records == summary.annotated == len(TEXTS) and summary.errors == 0
    assert shard_jsonl(out) == reference  # byte-identical to nlp.pipe
    assert ids_of(out) == ids  # every id once, in input order
    assert not list(out.glob(".*tmp-*"))
    assert run(tiny_pipeline_dir, path, out).skipped_shards == summary.shards  # nothing redone


def test_local_ray_workers_run_at_normal_priority(ray_session):
    """Ray starts its workers at nice 15; on the instance `connect_ray` starts they run at the
    driver's priority (0), like `--engine local` workers, so other work at nice 0 on the
    machine does not take their cores first."""
    import os

    @ray_session.remote(num_cpus=1)
    def niceness():
        return os.nice(0)

    assert ray_session.get(niceness.remote()) == os.nice(0) == 0


def test_ray_actor_holds_two_shards_and_dies_with_both(ray_session, tmp_path, corpus, tiny_pipeline_dir, monkeypatch):
    """Each actor holds two shards (engines.IN_FLIGHT): the first actor gets shards 0 and 1, the
    second shard 2. That first actor dies in shard 0 with shard 1 queued behind it: both go
    again, and every record is still written exactly once."""
    from spacy_bert.annotate import engines

    assert engines.IN_FLIGHT == 2
    path, ids, reference = corpus
    out = tmp_path / "plain"
    summary = run(tiny_pipeline_dir, path, out)
    workers = [result.worker for result in summary.results]
    assert workers[0] == workers[1] != workers[2]  # shards 0 and 1 went to the same actor
    assert shard_jsonl(out) == reference
    marker = tmp_path / "actor-died"
    monkeypatch.setenv(CRASH_ENV, f"corpus.jsonl-00000:{marker}")
    out = tmp_path / "killed"
    summary = run(tiny_pipeline_dir, path, out)
    assert marker.exists()  # the actor holding shards 0 and 1 died in shard 0
    assert summary.records == summary.annotated == len(TEXTS) and summary.errors == 0
    assert not any(result.skipped for result in summary.results)  # none redone as "already done"
    assert summary.results[0].worker != int(marker.read_text())  # shard 0 finished on a fresh actor
    assert shard_jsonl(out) == reference
    assert ids_of(out) == ids
    assert not list(out.glob(".*tmp-*"))


def test_ray_errors_reach_the_caller(ray_session, tmp_path, tiny_pipeline_dir, raising_pipeline, corpus):
    rows = [{"text": t, "id": f"r{i}"} for i, t in enumerate(TEXTS[:6])]
    rows[4]["text"] = ["not", "a", "string"]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with raises_code("E708", match=r"'r4'.*bad\.jsonl-00000.*E715"):
        run(tiny_pipeline_dir, path, tmp_path / "out")
    # an actor that cannot load the pipeline: its error, once (not E709 after retries)
    with pytest.raises(ValueError, match=r"E002.*annotate_test_raiser"):
        run(raising_pipeline, corpus[0], tmp_path / "cannot-load")

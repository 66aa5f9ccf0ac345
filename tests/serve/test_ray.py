"""`--engine ray`: the same app on Ray Serve against a local Ray on 127.0.0.1 (usage statistics
off, no dashboard, a temporary home and temp directory): results match offline `nlp.pipe` under
32 concurrent clients, bad input gets the same coded statuses, the replica keeps answering.
Ray Serve (`ray[serve]`) is a test dependency: without it this test fails, it is not skipped."""
import asyncio
import shutil
import socket
import tempfile

import pytest
import spacy

from spacy_bert.serve import ServeSettings
from tests.serve.conftest import TEXTS, concurrent_requests, get, post, wait_until
from tests.serve.test_results import close, expected, requests_of


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Serve's own pydantic-v1-style fields
def test_ray_serve_matches_nlp_pipe_and_refuses_bad_input(serve_pipelines, tmp_path_factory, monkeypatch):
    import ray
    from ray import serve

    from spacy_bert.serve.ray_engine import run_app, start_ray

    home = tmp_path_factory.mktemp("ray-home")
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths live under it
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("HOME", str(home))
    # Ray >= 2.5x turns token auth on for a new local cluster by writing RAY_AUTH_MODE=token into
    # os.environ, which outlives the test's HOME (and its token): pin the mode for this throwaway
    # cluster on 127.0.0.1, so the Ray tests pass in any order in one process.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    settings = ServeSettings(pipeline=str(serve_pipelines["bert_ner"]), port=free_port(), workers=1, threads=1,
                             max_texts=8, max_wait_ms=20)
    url = f"http://127.0.0.1:{settings.port}"
    assert start_ray(settings, num_cpus=2, _temp_dir=temp_dir)
    try:
        run_app(settings)
        wait_until(lambda: get(url + "/readyz").status_code == 200, 60, "the replica did not get ready")
        offline = spacy.load(serve_pipelines["bert_ner"])
        reference = dict(zip(TEXTS, expected(offline, "bert_ner", TEXTS)))
        requests = requests_of(TEXTS)
        responses = asyncio.run(concurrent_requests(url, [{"texts": t} for t in requests], clients=32))
        for request_texts, response in zip(requests, responses):
            assert response.status_code == 200, response.text
            for text, result in zip(request_texts, response.json()["results"]):
                close(result, reference[text], text[:20])
        for raw, status, code in ((b"{not json", 400, "E800"), (b'{"texts": [1]}', 400, "E802"),
                                  (b'{"texts": ["a","b","c","d","e","f","g","h","i"]}', 413, "E805"),
                                  (b'{"docs": [{"text": "Paris", "questions": ["Where?"]}]}', 422, "E806")):
            response = post(url, raw)
            assert response.status_code == status and response.json()["error"]["code"] == code, response.text
            assert post(url, {"texts": ["Alice Smith lives in Paris now"]}).status_code == 200
        assert "spacy_bert_serve_batch_texts_count" in get(url + "/metrics").text
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)

"""Every bad input gets its status and a coded JSON error (never a traceback), and the server
answers a good request after each; 429 with Retry-After when the queue is full; 504 on timeout;
a text the pipeline refuses is that request's 422 while the rest of its batch is answered; a
large request interleaves with small ones."""
import json
import threading
import time

import pytest
import spacy
from spacy.language import Language

from spacy_bert.errors import Errors
from tests.serve.conftest import get, metric, post, served, wait_until

GOOD = {"texts": ["Alice Smith lives in Paris now"]}


@Language.component("serve_test_sleeper")
def serve_test_sleeper(doc):
    """Holds the batcher (like a slow batch) on texts with a SLEEP marker."""
    if "SLEEP" in doc.text:
        time.sleep(float(doc.text.split("SLEEP", 1)[1].split()[0]))
    return doc


@Language.component("serve_test_refuser")
def serve_test_refuser(doc):
    if "REFUSE" in doc.text:
        raise ValueError("this component refuses REFUSE")
    if "EXPLODE" in doc.text:
        raise RuntimeError("internal failure on EXPLODE\n  File \"x.py\", line 1")
    return doc


@pytest.fixture(scope="module")
def server(serve_pipelines):
    nlp = spacy.load(serve_pipelines["bert_ner"])
    nlp.add_pipe("serve_test_sleeper")
    nlp.add_pipe("serve_test_refuser")
    with served(nlp, max_body_bytes=4000, max_text_chars=300, max_texts=8, max_queue=4, timeout_s=1.5, max_wait_ms=2,
                max_batch_items=128) as running:
        yield running


def check_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code
    assert error["message"].startswith(f"[{code}] ") and "Traceback" not in response.text and "File \"" not in response.text


def still_serves(url):
    response = post(url, GOOD)
    assert response.status_code == 200 and len(response.json()["results"]) == 1


BAD = [
    (b'{"texts": ["unterminated', 400, "E800"),
    (b"\xff\xfe{}", 400, "E801"),
    (b"[1, 2]", 400, "E802"),
    (b'{"texts": "one string"}', 400, "E802"),
    (b'{"texts": [1]}', 400, "E802"),
    (b'{"texts": ["a"], "docs": []}', 400, "E802"),
    (b'{"text": ["a"]}', 400, "E802"),
    (b'{"docs": [{"text": "a", "questions": "q"}]}', 400, "E802"),
    (b'{"docs": [{"txt": "a"}]}', 400, "E802"),
    (b'{"texts": ["a"], "vectors": "yes"}', 400, "E802"),
    (json.dumps({"texts": ["a" * 3990]}).encode(), 413, "E803"),
    (json.dumps({"texts": ["a" * 301]}).encode(), 413, "E804"),
    (json.dumps({"texts": ["a"] * 9}).encode(), 413, "E805"),
    (b'{"docs": [{"text": "Paris", "questions": ["Where?"]}]}', 422, "E806"),
    (b'{"texts": ["fine", "please REFUSE this"]}', 422, "E811"),
    (b'{"texts": ["please EXPLODE"]}', 500, "E812"),
]


@pytest.mark.parametrize("raw,status,code", BAD, ids=[f"{s}-{c}-{i}" for i, (_, s, c) in enumerate(BAD)])
def test_bad_input_gets_its_status_and_the_server_goes_on(server, raw, status, code):
    check_error(post(server.url, raw), status, code)
    still_serves(server.url)


def test_unknown_route_and_method(server):
    check_error(get(server.url + "/v2/annotate"), 404, "E813")
    import httpx

    check_error(httpx.get(server.url + "/v1/annotate", timeout=5), 405, "E813")
    still_serves(server.url)


def test_body_over_the_limit_without_reading_it_all(server):
    import httpx

    response = httpx.post(server.url + "/v1/annotate", content=b"x" * 50_000, timeout=10)
    check_error(response, 413, "E803")
    still_serves(server.url)


def test_refused_text_fails_only_its_request(server):
    """Two requests in one batch: the one with the refused text gets 422, the other 200."""
    results = {}

    def send(name, body):
        results[name] = post(server.url, body)

    threads = [threading.Thread(target=send, args=("hold", {"texts": ["SLEEP 0.3"]}))]
    threads[0].start()
    wait_until(lambda: server.state.batcher.busy, 5, "the sleeper is not running")
    for name, body in (("bad", {"texts": ["REFUSE me"]}), ("good", {"texts": ["Alice went to Rome"]})):
        threads.append(threading.Thread(target=send, args=(name, body)))
        threads[-1].start()
    for thread in threads:
        thread.join(10)
    check_error(results["bad"], 422, "E811")
    assert results["good"].status_code == 200 and len(results["good"].json()["results"]) == 1
    assert results["hold"].status_code == 200


def test_queue_full_is_429_with_retry_after(server):
    responses = {}

    def send(name, body):
        responses[name] = post(server.url, body)

    hold = threading.Thread(target=send, args=("hold", {"texts": ["SLEEP 0.8"]}))
    hold.start()
    wait_until(lambda: server.state.batcher.busy and server.state.batcher.queued == 0, 5, "the sleeper is not running")
    waiting = threading.Thread(target=send, args=("waiting", {"texts": ["one", "two", "three"]}))
    waiting.start()
    wait_until(lambda: server.state.batcher.queued == 3, 5, "the request was not queued")
    full = post(server.url, {"texts": ["a", "b"]})  # 3 + 2 > max_queue 4
    check_error(full, 429, "E807")
    assert int(full.headers["Retry-After"]) >= 1
    hold.join(10), waiting.join(10)
    assert responses["hold"].status_code == responses["waiting"].status_code == 200
    still_serves(server.url)


def test_timeout_is_504_and_its_texts_leave_the_queue(server):
    hold = threading.Thread(target=post, args=(server.url, {"texts": ["SLEEP 2.0"]}))
    hold.start()
    wait_until(lambda: server.state.batcher.busy and server.state.batcher.queued == 0, 5, "the sleeper is not running")
    began = time.monotonic()
    check_error(post(server.url, {"texts": ["late", "later"]}), 504, "E808")
    assert time.monotonic() - began < 2.0
    hold.join(10)
    still_serves(server.url)
    assert server.state.batcher.queued == 0


def test_large_request_interleaves_with_small_ones(server):
    """A request of 8 slow texts (0.1 s each, batches of about 2 texts) does not hold back a
    one-text request sent after it: that one is answered first."""
    done = {}

    def send(name, body):
        post(server.url, body)
        done[name] = time.monotonic()

    large = threading.Thread(target=send, args=("large", {"texts": [f"SLEEP 0.1 {'word ' * 50}"] * 8}))
    large.start()
    wait_until(lambda: server.state.batcher.busy, 5, "the large request is not running")
    send("small", GOOD)
    large.join(15)
    assert done["small"] < done["large"]


def test_probes_and_metrics(server):
    assert get(server.url + "/healthz").json() == {"status": "alive"}
    assert get(server.url + "/readyz").json()["status"] == "ready"
    text = get(server.url + "/metrics").text
    for family in ("requests_total", "request_seconds_bucket", "batch_texts_bucket", "batch_pieces_bucket", "queue_texts",
                   "words_total", "words_per_second"):
        assert f"spacy_bert_serve_{family}" in text
    assert 'status="200"' in text and 'status="400"' in text
    schema = get(server.url + "/openapi.json").json()
    assert schema["openapi"].startswith("3.") and "/v1/annotate" in schema["paths"]

"""`spacy bert serve --workers 2` as a user runs it (a subprocess of the CLI on 127.0.0.1:0):
a worker killed with SIGKILL is replaced while the other keeps answering; SIGTERM drains
(accepted requests answered, new ones 503 E809) and the server exits 0."""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import get, post, wait_until

REPO = Path(__file__).resolve().parents[2]


def children(pid: int):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return sorted(int(p) for p in path.read_text().split()) if path.exists() else []


def start_cli_server(pipeline, *options):
    """`python -m spacy_bert serve PIPELINE --port 0 --threads 1 OPTIONS`: (process, url, its
    output lines as a queue) once it printed its address."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "spacy_bert", "serve", str(pipeline), "--port", "0", "--threads", "1", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=str(REPO),
    )
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        line = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        raise
    assert " on http://127.0.0.1:" in line, line
    return proc, line.split(" on ", 1)[1].split()[0], lines


@pytest.fixture
def cli_server(serve_pipelines):
    proc, url, lines = start_cli_server(
        serve_pipelines["bert_ner"], "--workers", "2", "--max-batch-items", "64", "--max-texts", "2000",
        "--max-body-bytes", "10000000", "--drain-timeout-s", "30",
    )
    try:
        wait_until(lambda: len(children(proc.pid)) == 2, 30, "two workers did not start")
        # both workers load before they accept; ten answers in a row means the socket is served
        wait_until(lambda: all(get(url + "/readyz").status_code == 200 for _ in range(10)), 90, "not ready")
        yield proc, url, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


@pytest.mark.slow
def test_killed_worker_is_replaced_then_sigterm_drains(cli_server):
    proc, url, lines = cli_server
    first = children(proc.pid)
    os.kill(first[0], signal.SIGKILL)
    began = time.monotonic()
    answered = 0
    while time.monotonic() - began < 60 and (first[0] in children(proc.pid) or len(children(proc.pid)) < 2):
        response = post(url, {"texts": ["Alice Smith lives in Paris now"]}, timeout=10)
        assert response.status_code == 200, response.text  # the other worker keeps answering
        answered += 1
    replaced = children(proc.pid)
    assert len(replaced) == 2 and first[0] not in replaced and first[1] in replaced, (first, replaced)
    assert answered >= 1

    # SIGTERM while a long request is in flight: it is answered, new requests get 503, exit 0.
    texts = [f"Report {i}: Anna met Bob in Lima." + " It rained all day long." * (i % 3) for i in range(1500)]
    result = {}
    long_request = threading.Thread(target=lambda: result.setdefault("r", post(url, {"texts": texts}, timeout=120)))
    long_request.start()
    time.sleep(0.5)  # the request is read and queued
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        late = httpx.post(url + "/v1/annotate", content=json.dumps({"texts": ["late"]}), timeout=10)
        assert late.status_code == 503 and late.json()["error"]["code"] == "E809", late.text
    except httpx.ConnectError:  # pragma: no cover  (the drain ended before the late request)
        pytest.fail("the server closed before the in-flight request was answered")
    long_request.join(120)
    assert result["r"].status_code == 200 and len(result["r"].json()["results"]) == len(texts)
    assert proc.wait(60) == 0


@pytest.mark.slow
def test_max_requests_recycles_the_model_copy_without_refusing_a_request(serve_pipelines):
    """`--workers 1 --max-requests 6`: after 6 answers the worker is replaced by a fresh process,
    loaded before the old one stops; 30 requests on fresh connections (and 4 clients at once)
    are all answered, each with its own text's result, and the worker pid changed."""
    proc, url, lines = start_cli_server(serve_pipelines["bert_ner"], "--workers", "1", "--max-requests", "6")
    try:
        wait_until(lambda: get(url + "/readyz").status_code == 200, 90, "not ready")
        first = children(proc.pid)
        texts = [f"Alice Smith lives in Paris, request {i}" for i in range(30)]

        def ask(text):
            for _ in range(3):  # a connection closed by a retiring worker before any answer: ask again
                try:
                    return text, post(url, {"texts": [text]}, timeout=60)
                except httpx.TransportError:
                    time.sleep(0.1)
            raise AssertionError("no answer")

        answers = [ask(text) for text in texts[:18]]  # (text, response)
        threads = [threading.Thread(target=lambda t=t: answers.append(ask(t))) for t in texts[18:22]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        answers += [ask(text) for text in texts[22:]]
        assert len(answers) == 30 and all(a.status_code == 200 for _, a in answers), [a.text for _, a in answers if a.status_code != 200]
        for text, answer in answers:  # each answer is its own text's (entity texts and offsets point into it)
            entities = answer.json()["results"][0]["entities"]
            assert all(text[e["start"]:e["end"]] == e["text"] for e in entities), (text, entities)
        assert sum(len(a.json()["results"][0]["entities"]) for _, a in answers) > 0
        wait_until(lambda: len(children(proc.pid)) == 1 and children(proc.pid) != first, 60, "the worker was not replaced")
        printed = []
        while not lines.empty():
            printed.append(lines.get())
        assert any("answered --max-requests 6 requests; starting its replacement" in p for p in printed), printed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)

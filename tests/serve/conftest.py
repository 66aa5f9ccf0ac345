"""Fixtures of the serving tests: tiny saved pipelines of every kind (random tiny checkpoints,
written here), a server on 127.0.0.1 with an ephemeral port in this process, and HTTP helpers.

Every loop and wait has a time limit; every server is stopped by its fixture."""
import asyncio
import contextlib
import json
import shutil
import threading
import time
from typing import Any, Dict, Iterator, List

import httpx
import pytest
import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_bert.serve import ServeSettings

#: Texts of varied length: the last ones pass the tiny models' 64 positions (several windows).
TEXTS = [
    "Alice Smith lives in Paris now",
    "I hate London and Berlin.",
    "Who is Shaka Khan?",
    "What a terrible day",
    "Zoë Ångström met Bob in Zürich.",
    "",
    "Eve",
    "The meeting in Rome was moved to Oslo because of the weather in the north.",
] + [f"Report {i}: Anna met Bob in Lima." + " It rained all day long and nobody came." * (i % 5) for i in range(16)]

QUESTIONS = ["Who lives in Paris?", "Where does Alice live?"]
MASK_TEXTS = [f"{text} The [MASK] was late." if i % 2 else f"[MASK] {text}" for i, text in enumerate(TEXTS[:12]) if text]

NER_TRAIN = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")], {"POS": 1.0, "NEG": 0.0}),
    ("I hate London and Berlin.", [(7, 13, "LOC"), (18, 24, "LOC")], {"POS": 0.0, "NEG": 1.0}),
]
LISTENER = {"@architectures": "spacy-bert.BertListener.v1", "grad_factor": 1.0, "upstream": "*"}
NER_MODEL = {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
             "hidden_width": 32, "maxout_pieces": 2, "use_upper": True, "tok2vec": LISTENER}


def _initialized(nlp, annotate: bool = True):
    fix_random_seed(0)
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e, "cats": c} if annotate else {}) for t, e, c in NER_TRAIN]
    nlp.initialize(lambda: examples)
    return nlp


@pytest.fixture(scope="session")
def serve_pipelines(tmp_path_factory, tiny_bert_dir, make_tiny_head) -> Dict[str, Any]:
    """Saved pipelines by kind: "bert_ner" (bert_ner + bert_textcat), "bert+ner" (the bert
    component with spaCy's ner listening), "bert_qa", "bert_fill_mask". Their checkpoints are
    deleted once saved (a saved pipeline carries its weights)."""
    base = tmp_path_factory.mktemp("serve-pipelines")
    checkpoint = base / "tiny"
    shutil.copytree(tiny_bert_dir, checkpoint)
    small = {"window": 64, "stride": 16}
    paths = {}

    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(checkpoint), **small})
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(checkpoint), **small})
    paths["bert_ner"] = _save(_initialized(nlp), base / "bert_ner")

    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(checkpoint), **small})
    nlp.add_pipe("ner", config={"model": NER_MODEL})
    nlp.get_pipe("ner").add_label("PER")
    nlp.get_pipe("ner").add_label("LOC")
    fix_random_seed(0)
    nlp.initialize()
    paths["bert+ner"] = _save(nlp, base / "bert_ner_listener")

    for factory, class_name, config in (
        ("bert_qa", "BertForQuestionAnswering", {"max_seq_len": 48, "doc_stride": 16, "top_k": 2}),
        ("bert_fill_mask", "BertForMaskedLM", {**small, "top_k": 3}),
    ):
        copy = base / f"{factory}-checkpoint"
        shutil.copytree(make_tiny_head(class_name)[1], copy)
        nlp = spacy.blank("en")
        nlp.add_pipe(factory, config={"checkpoint": str(copy), **config})
        nlp.get_pipe(factory)._ensure_loaded()
        paths[factory] = _save(nlp, base / factory)
        shutil.rmtree(copy)
    shutil.rmtree(checkpoint)
    return paths


def _save(nlp, path):
    nlp.to_disk(path)
    return path


class Server:
    """A server of `nlp` on 127.0.0.1:<ephemeral port> in a thread of this process."""

    def __init__(self, nlp, **settings) -> None:
        import uvicorn

        from spacy_bert.serve.app import build_app
        from spacy_bert.serve.state import ServerState
        from spacy_bert.serve.workers import bind

        self.settings = ServeSettings(pipeline="(in memory)", port=0, **settings)
        self.state = ServerState(self.settings, nlp)
        self.sock = bind("127.0.0.1", 0)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        config = uvicorn.Config(build_app(self.state), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        wait_until(lambda: get(self.url + "/readyz").status_code == 200, 60, "the server did not get ready")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the server did not stop"


def get(url: str) -> httpx.Response:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return httpx.Response(599)


def wait_until(condition, timeout: float, message: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(step)


def metric(url: str, name: str) -> float:
    """The value of one unlabelled-by-status sample of /metrics (summed over its lines)."""
    total = 0.0
    for line in get(url + "/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def post(url: str, body: Any, timeout: float = 30) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + "/v1/annotate", content=data, headers={"Content-Type": "application/json"}, timeout=timeout)


async def concurrent_requests(url: str, bodies: List[Any], clients: int = 32, timeout: float = 60) -> List[httpx.Response]:
    """Send `bodies` from `clients` concurrent clients (each its own connection, each taking
    bodies in turn); the responses in `bodies` order."""
    responses: List[Any] = [None] * len(bodies)
    queue: asyncio.Queue = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=timeout) as session:
            while not queue.empty():
                index = queue.get_nowait()
                responses[index] = await session.post("/v1/annotate", content=json.dumps(bodies[index]).encode())

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), timeout)
    return responses


@contextlib.contextmanager
def served(nlp, **settings) -> Iterator[Server]:
    with Server(nlp, **settings) as server:
        yield server

"""Served results equal offline `nlp.pipe`, for every kind of pipeline, under 32 concurrent clients.

The server runs the pipeline batch-invariant by default (`--batch-invariant`): a text's scores
do not depend on the texts of other requests batched with it, so every response is
byte-identical to an offline `nlp.pipe` of the same pipeline with the same setting, whatever
the batches the server formed:
- one request holding all texts (one batch, as `nlp.pipe(texts)`);
- 32 concurrent clients with batches of one text (`max_batch_items=1`): every text of every
  request, in request order (routing is exact);
- 32 concurrent clients with real cross-request batches (and batches did hold several
  requests' texts).
With `--no-batch-invariant` a text's scores depend, in their last float bits, on the padded
length of its batch: labels, offsets, texts, keys and answers are identical and scores within
1e-5 of offline `nlp.pipe` (in fp32).
The expected results are written here from the Docs, independently of spacy_bert.serve."""
import asyncio
import json
import math

import pytest
import spacy

from spacy_bert.pipeline import set_batch_invariant
from tests.serve.conftest import MASK_TEXTS, QUESTIONS, TEXTS, concurrent_requests, metric, post, served

KINDS = ["bert_ner", "bert+ner", "bert_qa", "bert_fill_mask"]


def texts_of(kind):
    return MASK_TEXTS if kind == "bert_fill_mask" else TEXTS


def body(kind, texts, vectors=False):
    if kind == "bert_qa":
        return {"docs": [{"text": text, "questions": QUESTIONS} for text in texts], "vectors": vectors}
    return {"texts": list(texts), "vectors": vectors}


def expected(nlp, kind, texts, vectors=False):
    """What the pipeline sets, as the API documents it, from one offline `nlp.pipe(texts)`
    (with the Doc vector when `vectors`)."""
    docs = []
    for text in texts:
        doc = nlp.make_doc(text)
        if kind == "bert_qa":
            doc._.questions = list(QUESTIONS)
        docs.append(doc)
    results = []
    for doc in nlp.pipe(docs):
        scores = {}
        for group in doc.spans.values():
            if isinstance(group.attrs.get("scores"), list):
                for span, score in zip(group, group.attrs["scores"]):
                    scores.setdefault((span.start_char, span.end_char, span.label_), float(score))
        result = {
            "entities": [{"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text,
                          "score": scores.get((e.start_char, e.end_char, e.label_))} for e in doc.ents],
            "cats": {label: float(score) for label, score in doc.cats.items()},
        }
        for name in ("answers", "fill_mask"):
            if doc.has_extension(name) and getattr(doc._, name) is not None:
                result[name] = json.loads(json.dumps(getattr(doc._, name), default=lambda value: value.item()))
        if vectors:
            result["vector"] = [float(v) for v in doc.vector] if doc.has_vector else None
        results.append(result)
    return results


def close(served_value, offline, path="result"):
    """Same structure and non-float values; floats within 1e-5."""
    if isinstance(offline, float) and isinstance(served_value, float):
        assert math.isclose(served_value, offline, rel_tol=1e-5, abs_tol=1e-6), f"{path}: {served_value} != {offline}"
    elif isinstance(offline, dict):
        assert isinstance(served_value, dict) and served_value.keys() == offline.keys(), path
        for key in offline:
            close(served_value[key], offline[key], f"{path}.{key}")
    elif isinstance(offline, list):
        assert isinstance(served_value, list) and len(served_value) == len(offline), path
        for index, (a, b) in enumerate(zip(served_value, offline)):
            close(a, b, f"{path}[{index}]")
    else:
        assert served_value == offline, f"{path}: {served_value!r} != {offline!r}"


def requests_of(texts, count=32):
    """`count` requests of 1 to 3 texts each (every text appears), deterministic."""
    out = []
    for r in range(count):
        size = 1 + r % 3
        out.append([texts[(r * 5 + k) % len(texts)] for k in range(size)])
    return out


@pytest.fixture(scope="module", params=KINDS)
def kind_nlp(request, serve_pipelines):
    """(kind, the pipeline to serve, the same pipeline for offline `nlp.pipe`, batch-invariant as
    the server makes the other by default)."""
    offline = spacy.load(serve_pipelines[request.param])
    set_batch_invariant(offline)
    return request.param, spacy.load(serve_pipelines[request.param]), offline


def test_one_request_is_byte_identical_to_nlp_pipe(kind_nlp):
    kind, nlp, offline = kind_nlp
    texts = texts_of(kind)
    reference = json.dumps({"results": expected(offline, kind, texts)}, ensure_ascii=False).encode("utf-8")
    with served(nlp, max_batch_items=1 << 20, max_wait_ms=50) as server:
        response = post(server.url, body(kind, texts))
        assert response.status_code == 200, response.text
        assert response.content == reference
        assert metric(server.url, "spacy_bert_serve_batch_texts_count") == 1  # one batch, as nlp.pipe


def test_32_clients_one_text_batches_are_byte_identical(kind_nlp):
    kind, nlp, offline = kind_nlp
    requests = requests_of(texts_of(kind))
    alone = {text: json.dumps(expected(offline, kind, [text])[0], ensure_ascii=False) for text in set(texts_of(kind))}
    with served(nlp, max_batch_items=1, max_wait_ms=1) as server:
        responses = asyncio.run(concurrent_requests(server.url, [body(kind, texts) for texts in requests], clients=32))
    for texts, response in zip(requests, responses):
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [json.dumps(r, ensure_ascii=False) for r in results] == [alone[text] for text in texts]


def cross_request_batches(kind, nlp, offline, batch_invariant):
    """32 clients with real cross-request batches; yields (text, served result, offline result)
    for every text of every request, after checking the statuses and that batches did hold
    several requests' texts. The offline side runs with the server's `batch_invariant`."""
    texts = texts_of(kind)
    set_batch_invariant(offline, batch_invariant)
    try:
        reference = dict(zip(texts, expected(offline, kind, texts, vectors=True)))
    finally:
        set_batch_invariant(offline)
    # there are scores to compare: spaCy's ner sets none (and predicts nothing untrained), so for
    # bert+ner the Doc vectors (the mean of the bert component's token vectors) are compared
    if kind == "bert+ner":
        assert all(result["vector"] for text, result in reference.items() if text)
    else:
        assert any(result["entities"] or result["cats"] or result.get("answers") or result.get("fill_mask") for result in reference.values())
    requests = requests_of(texts)
    with served(nlp, max_batch_items=2048, max_wait_ms=20, batch_invariant=batch_invariant) as server:
        responses = asyncio.run(concurrent_requests(server.url, [body(kind, t, vectors=True) for t in requests], clients=32))
        batches = metric(server.url, "spacy_bert_serve_batch_texts_count")
        batched_texts = metric(server.url, "spacy_bert_serve_batch_texts_sum")
    assert batched_texts == sum(len(t) for t in requests)
    assert batches < len(requests)  # batches held several requests' texts
    for request_texts, response in zip(requests, responses):
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert len(results) == len(request_texts)
        for text, result in zip(request_texts, results):
            yield text, result, reference[text]


def test_32_clients_cross_request_batches_are_byte_identical(kind_nlp):
    kind, nlp, offline = kind_nlp
    for text, result, reference in cross_request_batches(kind, nlp, offline, batch_invariant=True):
        assert json.dumps(result, ensure_ascii=False) == json.dumps(reference, ensure_ascii=False), f"{kind} {text[:20]!r}"


def test_without_batch_invariance_scores_match_within_float_rounding(serve_pipelines):
    """`--no-batch-invariant` changes only the batching plan, so one kind of pipeline shows it."""
    nlp, offline = spacy.load(serve_pipelines["bert_ner"]), spacy.load(serve_pipelines["bert_ner"])
    for text, result, reference in cross_request_batches("bert_ner", nlp, offline, batch_invariant=False):
        close(result, reference, f"bert_ner {text[:20]!r}")

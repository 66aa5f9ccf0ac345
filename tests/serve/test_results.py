"""Served results equal offline `nlp.pipe`, for every kind of pipeline, under 32 concurrent clients.

What "equal" can mean: a text's scores depend, in their last float bits, on the padded length
of the batch it runs in (the attention kernel blocks over it), so they are byte-identical to
offline `nlp.pipe` exactly when the server runs the text in the same batch as the offline call:
- one request holding all texts (one batch, as `nlp.pipe(texts)`): byte-identical;
- 32 concurrent clients with batches of one text (`max_batch_items=1`): byte-identical to
  `nlp.pipe([text])`, for every text of every request, in request order (routing is exact);
- 32 concurrent clients with real cross-request batches: labels, offsets, texts, keys and
  answers identical, scores within 1e-5 of `nlp.pipe(texts)`, and batches did hold several
  requests' texts.
The expected results are written here from the Docs, independently of spacy_bert.serve."""
import asyncio
import json
import math

import pytest
import spacy

from tests.serve.conftest import MASK_TEXTS, QUESTIONS, TEXTS, concurrent_requests, metric, post, served

KINDS = ["bert_ner", "bert+ner", "bert_qa", "bert_fill_mask"]


def texts_of(kind):
    return MASK_TEXTS if kind == "bert_fill_mask" else TEXTS


def body(kind, texts):
    if kind == "bert_qa":
        return {"docs": [{"text": text, "questions": QUESTIONS} for text in texts]}
    return {"texts": list(texts)}


def expected(nlp, kind, texts):
    """What the pipeline sets, as the API documents it, from one offline `nlp.pipe(texts)`."""
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
    return request.param, spacy.load(serve_pipelines[request.param]), spacy.load(serve_pipelines[request.param])


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


def test_32_clients_cross_request_batches_match_nlp_pipe(kind_nlp):
    kind, nlp, offline = kind_nlp
    texts = texts_of(kind)
    reference = dict(zip(texts, expected(offline, kind, texts)))
    requests = requests_of(texts)
    with served(nlp, max_batch_items=2048, max_wait_ms=20) as server:
        responses = asyncio.run(concurrent_requests(server.url, [body(kind, t) for t in requests], clients=32))
        batches = metric(server.url, "spacy_bert_serve_batch_texts_count")
        batched_texts = metric(server.url, "spacy_bert_serve_batch_texts_sum")
    for request_texts, response in zip(requests, responses):
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert len(results) == len(request_texts)
        for text, result in zip(request_texts, results):
            close(result, reference[text], f"{kind} {text[:20]!r}")
    assert batched_texts == sum(len(t) for t in requests)
    assert batches < len(requests)  # batches held several requests' texts

"""The batcher's wait: a request reaching an idle server runs at once (it does not pay
max_wait_ms); requests that stream in while a batch runs share the next batch."""
import asyncio
import time

import spacy

from tests.serve.conftest import concurrent_requests, metric, post, served


def test_lone_request_does_not_wait_and_a_stream_is_batched(serve_pipelines):
    nlp = spacy.load(serve_pipelines["bert_ner"])
    with served(nlp, max_wait_ms=2000, max_batch_items=1 << 16) as server:
        began = time.monotonic()
        assert post(server.url, {"texts": ["Alice Smith lives in Paris now"]}).status_code == 200
        assert time.monotonic() - began < 1.2  # not the 2 s wait
        bodies = [{"texts": [f"Text number {i} about Rome."]} for i in range(16)]
        responses = asyncio.run(concurrent_requests(server.url, bodies, clients=16))
        assert all(r.status_code == 200 for r in responses)
        # 17 requests in fewer batches: the 16 concurrent ones were batched together
        assert metric(server.url, "spacy_bert_serve_batch_texts_count") < 17


def test_fresh_vocabulary_does_not_stay_in_the_string_store(serve_pipelines):
    """Each batch runs in `nlp.memory_zone()`: the strings of 40 requests of never-seen words
    are gone once they are answered."""
    import random
    import string

    nlp = spacy.load(serve_pipelines["bert_ner"])
    rng = random.Random(0)
    fresh = lambda: " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(8)) for _ in range(6))
    with served(nlp, max_wait_ms=1) as server:
        assert post(server.url, {"texts": ["warm up the caches"]}).status_code == 200
        strings = len(nlp.vocab.strings)
        bodies = [{"texts": [fresh(), fresh()]} for _ in range(40)]
        responses = asyncio.run(concurrent_requests(server.url, bodies, clients=8))
        assert all(r.status_code == 200 for r in responses)
        assert len(nlp.vocab.strings) == strings
        # no lexeme of those words is left (len(nlp.vocab) is spaCy's running count, not the index)
        words = {word for body in bodies for text in body["texts"] for word in text.split()}
        assert len(words) > 400 and not any(word in nlp.vocab for word in words)

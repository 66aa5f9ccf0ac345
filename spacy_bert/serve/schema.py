"""The request and response bodies of `POST /v1/annotate`, checked by hand (no pydantic model:
the checks name the offending field with a coded message, E800-E806).

Request (one of):
    {"texts": ["...", ...], "vectors": false}
    {"docs": [{"text": "...", "questions": ["...", ...]}, ...], "vectors": false}

Response 200:
    {"results": [one object per text, in request order]}
    each: {"entities": [{"start", "end", "label", "text", "score"}], "cats": {label: score},
           "answers": {"0": [{"score", "start", "end", "answer"}], ...}  (bert_qa, with questions),
           "fill_mask": ...  (bert_fill_mask), "vector": [float, ...] | null  (only when asked)}

Error (4xx/5xx): {"error": {"status": int, "code": "E8xx", "message": "[E8xx] ..."}}
"""
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..errors import Errors

ALLOWED_KEYS = {"texts", "docs", "vectors"}
DOC_KEYS = {"text", "questions"}


class ServeError(Exception):
    """An answer other than 200: its HTTP status, the coded message, and optional headers."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> Dict[str, Any]:
        code = self.message[1:5] if self.message.startswith("[E") else ""
        return {"error": {"status": self.status, "code": code, "message": self.message}}


@dataclass
class Item:
    """One text of a request: what the batcher queues.

    Attributes:
        text (str): The text.
        questions (list[str] | None): Questions about it (bert_qa), None for none.
        pieces (int): Word pieces, counted by the batcher (-1 until counted).
    """

    text: str
    questions: Optional[List[str]] = None
    pieces: int = -1


@dataclass
class AnnotateRequest:
    items: List[Item]
    vectors: bool = False


def _describe(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return f"a JSON {_json_type(value)} ({shown[:60] + '...' if len(shown) > 60 else shown})"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: Dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _bad(field: str, value: Any, expected: str) -> ServeError:
    return ServeError(400, Errors.E802.format(field=field, value=_describe(value), expected=expected))


def parse_request(raw: bytes, *, max_body_bytes: int, max_text_chars: int, max_texts: int, has_qa: bool,
                  components: List[str]) -> AnnotateRequest:
    """Check a request body and return its texts; ServeError with 400/413/422 otherwise. The
    Content-Type is not checked: the body is read as JSON (so `curl -d` works as is).

    Args:
        raw (bytes): The body as received.
        max_body_bytes, max_text_chars, max_texts (int): The limits (413 past them).
        has_qa (bool): Whether the pipeline has a bert_qa component (422 for questions without).
        components (list[str]): Pipeline component names, for the 422 message.
    """
    if len(raw) > max_body_bytes:
        raise ServeError(413, Errors.E803.format(size=len(raw), limit=max_body_bytes))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ServeError(400, Errors.E801.format(error=error)) from None
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise ServeError(400, Errors.E800.format(error=error)) from None
    if not isinstance(body, dict):
        raise _bad("the body", body, "a JSON object")
    unknown = sorted(set(body) - ALLOWED_KEYS)
    if unknown:
        raise _bad(f"the key {unknown[0]!r}", body[unknown[0]], "only \"texts\", \"docs\" and \"vectors\"")
    if ("texts" in body) == ("docs" in body):
        raise _bad("the body", body if len(json.dumps(body)) < 60 else {k: "..." for k in body}, "exactly one of \"texts\" or \"docs\"")
    vectors = body.get("vectors", False)
    if not isinstance(vectors, bool):
        raise _bad("\"vectors\"", vectors, "true or false")
    entries = body.get("texts", body.get("docs"))
    key = "texts" if "texts" in body else "docs"
    if not isinstance(entries, list):
        raise _bad(f"\"{key}\"", entries, "an array")
    if len(entries) > max_texts:
        raise ServeError(413, Errors.E805.format(count=len(entries), limit=max_texts))
    items = [_item(key, index, entry) for index, entry in enumerate(entries)]
    for index, item in enumerate(items):
        if len(item.text) > max_text_chars:
            raise ServeError(413, Errors.E804.format(index=index, size=len(item.text), limit=max_text_chars))
        if item.questions is not None and not has_qa:
            raise ServeError(422, Errors.E806.format(index=index, components=", ".join(components) or "none"))
    return AnnotateRequest(items, vectors)


def _item(key: str, index: int, entry: Any) -> Item:
    if key == "texts":
        if not isinstance(entry, str):
            raise _bad(f"texts[{index}]", entry, "a string")
        return Item(entry)
    if not isinstance(entry, dict):
        raise _bad(f"docs[{index}]", entry, "an object {\"text\": ..., \"questions\": [...]}")
    unknown = sorted(set(entry) - DOC_KEYS)
    if unknown:
        raise _bad(f"docs[{index}].{unknown[0]}", entry[unknown[0]], "only \"text\" and \"questions\"")
    if not isinstance(entry.get("text"), str):
        raise _bad(f"docs[{index}].text", entry.get("text"), "a string")
    questions = entry.get("questions")
    if questions is not None:
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            raise _bad(f"docs[{index}].questions", questions, "an array of strings")
        if not questions:
            questions = None
    return Item(entry["text"], questions)


def doc_result(doc: Any, vectors: bool) -> Dict[str, Any]:
    """What the pipeline set on one Doc, JSON-ready: the JSONL record of `spacy bert annotate`
    (entities, cats, answers, fill_mask; one definition for both), without its id and meta, and
    the Doc's vector when asked (null when the pipeline sets none)."""
    from ..annotate.records import Record
    from ..annotate.shard import doc_record

    result = doc_record(doc, Record(id=None, text=None))
    del result["id"], result["meta"]
    if vectors:
        result["vector"] = [float(v) for v in doc.vector] if doc.has_vector else None
    return result

"""The OpenAPI 3.1 description of the server's API (served at GET /openapi.json)."""
from typing import Any, Dict

from ..about import __version__

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "status": {"type": "integer"}, "code": {"type": "string", "example": "E802"}, "message": {"type": "string"}}}},
}

_ENTITY = {"type": "object", "properties": {
    "start": {"type": "integer", "description": "char offset"}, "end": {"type": "integer", "description": "char offset (exclusive)"},
    "label": {"type": "string"}, "text": {"type": "string"}, "score": {"type": ["number", "null"]}}}

_RESULT = {"type": "object", "properties": {
    "entities": {"type": "array", "items": _ENTITY},
    "cats": {"type": "object", "additionalProperties": {"type": "number"}},
    "answers": {"type": "object", "description": "bert_qa: per question index, Hugging Face's answers "
                "[{score, start, end, answer}]", "additionalProperties": {"type": "array"}},
    "fill_mask": {"description": "bert_fill_mask: per [MASK], Hugging Face's fill-mask candidates"},
    "vector": {"type": ["array", "null"], "items": {"type": "number"}, "description": "only with \"vectors\": true"}}}

_REQUEST = {"oneOf": [
    {"type": "object", "required": ["texts"], "additionalProperties": False, "properties": {
        "texts": {"type": "array", "items": {"type": "string"}}, "vectors": {"type": "boolean", "default": False}}},
    {"type": "object", "required": ["docs"], "additionalProperties": False, "properties": {
        "docs": {"type": "array", "items": {"type": "object", "required": ["text"], "additionalProperties": False, "properties": {
            "text": {"type": "string"}, "questions": {"type": "array", "items": {"type": "string"}}}}},
        "vectors": {"type": "boolean", "default": False}}},
]}


def _errors(*codes: int) -> Dict[str, Any]:
    text = {400: "malformed JSON, wrong types, not UTF-8", 413: "body, text or text count over the limits",
            422: "questions without bert_qa, or a text the pipeline refuses", 429: "queue full (see Retry-After)",
            503: "not ready yet, or shutting down", 504: "not answered within --timeout-s", 500: "pipeline error (logged)"}
    return {str(code): {"description": text[code], "content": {"application/json": {"schema": _ERROR}}} for code in codes}


def openapi_schema(settings) -> Dict[str, Any]:
    """The schema, with the server's limits in the descriptions."""
    limits = (f"Limits: body {settings.max_body_bytes} bytes, {settings.max_texts} texts per request, "
              f"{settings.max_text_chars} characters per text.")
    return {
        "openapi": "3.1.0",
        "info": {"title": "spacy-bert serve", "version": __version__,
                 "description": "A saved spaCy pipeline behind HTTP, batched across requests."},
        "paths": {
            "/v1/annotate": {"post": {
                "summary": "Annotate texts; one result per text, in request order. " + limits,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST}}},
                "responses": {"200": {"description": "results", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"results": {"type": "array", "items": _RESULT}}}}}},
                    **_errors(400, 413, 422, 429, 500, 503, 504)}}},
            "/healthz": {"get": {"summary": "The process is alive", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"summary": "The pipeline is loaded and warmed up",
                                "responses": {"200": {"description": "ready"}, **_errors(503)}}},
            "/metrics": {"get": {"summary": "Prometheus text format", "responses": {"200": {"description": "metrics"}}}},
        },
    }

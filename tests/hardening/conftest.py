"""Fixtures of the hardening suite (errors are matched by their code: `match="E030"`)."""
from tests.pipeline.conftest import tiny_bert_dir  # noqa: F401 (the tiny checkpoint the fuzz suite runs)

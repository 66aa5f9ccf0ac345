"""Fixtures of the hardening suite (errors are matched by their code: `match="E030"`)."""

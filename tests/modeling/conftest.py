"""Fixtures for the modeling parity tests: tiny random checkpoints written by transformers."""
import pytest

from .helpers import hf_model


@pytest.fixture
def make_hf_checkpoint(tmp_path):
    """Write a random transformers model to a directory; returns (hf_model, directory)."""
    counter = {"n": 0}

    def make(class_name: str, **overrides):
        model = hf_model(class_name, **overrides)
        counter["n"] += 1
        directory = tmp_path / f"{class_name}-{counter['n']}"
        model.save_pretrained(directory)
        return model, directory

    return make

"""Options are checked before anything starts: coded errors (E814, E710), not tracebacks."""
import pytest
from typer.testing import CliRunner

from spacy_bert.cli import bert_cli
from spacy_bert.serve import ServeSettings
from tests.error_codes import raises_code


@pytest.mark.parametrize("option,value", [
    ("workers", 0), ("max_batch_items", -1), ("max_queue", 1.5), ("port", 70000), ("max_wait_ms", -1.0),
    ("timeout_s", 0), ("engine", "k8s"), ("precision", "fp8"), ("threads", 0), ("max_requests", -1), ("batch_invariant", "yes"),
])
def test_bad_options_are_coded_errors(option, value):
    with raises_code("E814", match=option.replace("_", "-")):
        ServeSettings(pipeline="p", **{option: value})


def test_max_requests_is_the_local_engines():
    with raises_code("E814", match="--engine ray"):
        ServeSettings(pipeline="p", engine="ray", max_requests=10)
    assert ServeSettings(pipeline="p", max_requests=10).max_requests == 10


def test_cli_refuses_a_missing_pipeline_and_a_bad_option(tmp_path):
    runner = CliRunner()
    result = runner.invoke(bert_cli, ["serve", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "[E710]" in result.output
    result = runner.invoke(bert_cli, ["serve", str(tmp_path), "--workers", "0"])
    assert result.exit_code == 1 and "[E814]" in result.output


def test_defaults_listen_on_this_machine_only():
    assert ServeSettings(pipeline="p").host == "127.0.0.1"

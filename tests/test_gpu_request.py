"""`--gpu-id N` on a machine that cannot honour it: which coded message, decided without a GPU.

`tests/test_cli.py` runs `spacy train --gpu-id 0` end to end (E520 or E521 on this machine) and
parses command lines; here the decision of `cli/gpu.py` is checked for every combination of
CuPy / CuPy-sees-a-GPU / torch-has-CUDA by monkeypatching what thinc and torch report.
"""
import pytest
import thinc.util
import torch

from spacy_bert.cli import gpu


@pytest.fixture
def machine(monkeypatch):
    def set_up(has_cupy: bool, cupy_gpu: bool, torch_cuda: bool) -> None:
        monkeypatch.setattr(thinc.util, "has_cupy", has_cupy)
        monkeypatch.setattr(thinc.util, "has_cupy_gpu", cupy_gpu)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: torch_cuda)

    return set_up


@pytest.mark.parametrize("has_cupy,cupy_gpu,torch_cuda,code", [
    (False, False, False, "E520"),  # no CuPy: install the extra
    (False, False, True, "E520"),  # a CUDA torch is not enough for spaCy
    (True, False, True, "E521"),  # CuPy without a device
    (True, True, False, "E521"),  # CuPy sees a GPU, torch is a CPU build
    (True, True, True, None),  # usable
])
def test_gpu_problem_names_what_is_missing(machine, has_cupy, cupy_gpu, torch_cuda, code):
    machine(has_cupy, cupy_gpu, torch_cuda)
    problem = gpu.gpu_problem(0)
    if code is None:
        assert problem is None
    else:
        assert problem.startswith(f"[{code}]") and "--gpu-id 0" in problem
        if code == "E521":
            assert f"torch {torch.__version__}" in problem


@pytest.mark.parametrize("argv", [["train", "c.cfg", "--gpu-id", "0"], ["pretrain", "c.cfg", "out", "-g", "1"],
                                  ["evaluate", "m", "d", "--gpu-id=0"]])
def test_check_gpu_request_exits_with_the_message(machine, capsys, argv):
    machine(False, False, False)
    with pytest.raises(SystemExit) as exit_info:
        gpu.check_gpu_request(argv)
    assert exit_info.value.code == 1
    assert "[E520]" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["train", "c.cfg", "--gpu-id", "-1"], ["train", "c.cfg"], ["bert", "annotate", "-g", "0"]])
def test_cpu_runs_are_never_checked(monkeypatch, argv):
    monkeypatch.setattr(gpu, "gpu_problem", lambda gpu_id: pytest.fail("a CPU run was checked for a GPU"))
    assert gpu.check_gpu_request(argv) is None


def test_usable_gpu_passes(machine):
    machine(True, True, True)
    assert gpu.check_gpu_request(["train", "c.cfg", "--gpu-id", "0"]) is None

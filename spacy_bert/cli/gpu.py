"""A clear message, before spaCy's own GPU setup, when `--gpu-id N` (N >= 0) cannot work.

`spacy train ... --gpu-id 0` calls thinc's `require_gpu` before it reads the config, so no
component code runs first: without CuPy a user used to get a long traceback ending in
"Cannot use GPU, CuPy is not installed". spaCy imports this package (the `spacy_cli` entry
point) before it runs any command, which is the one place that comes earlier; `check_gpu_request`
looks at the command line there and stops with E520 / E521 saying what to install.
"""
import sys
from typing import Optional, Sequence

from ..errors import Errors

#: spaCy commands that take --gpu-id / -g
GPU_COMMANDS = {"train", "pretrain", "evaluate", "benchmark", "apply", "find-threshold", "debug"}


def requested_gpu(argv: Sequence[str]) -> Optional[int]:
    """The GPU id asked for on a spaCy command line (`--gpu-id 0`, `--gpu-id=0`, `-g 0`), or None."""
    args = list(argv)
    if not args or args[0] not in GPU_COMMANDS:
        return None
    for i, arg in enumerate(args):
        value = None
        if arg in ("--gpu-id", "-g") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--gpu-id="):
            value = arg.split("=", 1)[1]
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None  # spaCy reports the bad value itself
    return None


def gpu_problem(gpu_id: int) -> Optional[str]:
    """The message for a GPU run that cannot start here, or None when CuPy and CUDA are there."""
    from thinc.util import has_cupy, has_cupy_gpu

    if not has_cupy:
        return Errors.E520.format(gpu_id=gpu_id)
    import torch

    if not has_cupy_gpu or not torch.cuda.is_available():
        return Errors.E521.format(gpu_id=gpu_id, torch=torch.__version__, cuda=torch.version.cuda)
    return None


def check_gpu_request(argv: Sequence[str]) -> None:
    """Exit with status 1 and a coded message when argv asks spaCy for a GPU this machine lacks."""
    gpu_id = requested_gpu(argv)
    if gpu_id is None or gpu_id < 0:
        return
    problem = gpu_problem(gpu_id)
    if problem:
        from ._app import fail

        fail(problem)


def running_spacy_cli() -> bool:
    """True inside `python -m spacy ...` / the `spacy` script (not when imported by other code)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "spacy.__main__":
        return True
    return bool(sys.argv) and sys.argv[0].replace("\\", "/").endswith("/bin/spacy")

"""Learning-rate schedules for `[training.optimizer.learn_rate]`, tied to `training.max_steps`.

Registered as `spacy-bert.warmup_linear.v1` when this module is imported; spaCy imports it
with the components (the factory entry points import `spacy_bert.pipeline`), so a config that
uses a spacy-bert component can name the schedule. The `thinc_schedules` entry point does the
same for configs without one.
"""
from typing import Iterator

from thinc.api import registry

from ..errors import Errors


@registry.schedules("spacy-bert.warmup_linear.v1")
def warmup_linear_v1(initial_rate: float, total_steps: int, warmup_ratio: float = 0.1) -> Iterator[float]:
    """Linear warm-up over `warmup_ratio * total_steps` steps, then linear decay to 0 at
    `total_steps` (Hugging Face's `get_linear_schedule_with_warmup`, with the warm-up given as
    a fraction so that one `--training.max_steps N` override gives a sensible run).

    initial_rate (float): peak learning rate, reached at the end of the warm-up.
    total_steps (int): optimizer steps of the run; configs set `${training.max_steps}`.
    warmup_ratio (float): share of `total_steps` spent warming up, in [0, 1).

    Unlike thinc's `warmup_linear.v1`, the first step already learns: warm-up step i runs at
    (i + 1) / (warmup + 1) of the peak, so a 20-step run does not spend its first step at 0.
    """
    if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
        raise ValueError(Errors.E500.format(value=total_steps))
    if not 0.0 <= warmup_ratio < 1.0:
        raise ValueError(Errors.E501.format(value=warmup_ratio))
    if initial_rate < 0:
        raise ValueError(Errors.E502.format(value=initial_rate))
    return _warmup_linear(initial_rate, total_steps, round(warmup_ratio * total_steps))


def _warmup_linear(initial_rate: float, total_steps: int, warmup_steps: int) -> Iterator[float]:
    step = 0
    while True:
        if step < warmup_steps:
            factor = (step + 1) / (warmup_steps + 1)
        else:
            factor = max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
        yield factor * initial_rate
        step += 1

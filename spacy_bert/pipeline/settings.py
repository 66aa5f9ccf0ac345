"""Checks of the encoder settings that the `bert` component and the task components share."""
from ..errors import Errors


def validate_encoder_settings(name: str, window: int, stride: int, max_batch_items: int) -> None:
    """Raise E354 (naming component `name`) for a window, stride or piece budget that cannot work."""
    if window < 3:
        raise ValueError(Errors.E354.format(name=name, field="window", value=window, expected="at least 3 ([CLS], one piece, [SEP])"))
    if not 0 <= stride < window - 2:
        raise ValueError(Errors.E354.format(name=name, field="stride", value=stride, expected=f"0 <= stride < window - 2 = {window - 2}"))
    if max_batch_items < 1:
        raise ValueError(Errors.E354.format(name=name, field="max_batch_items", value=max_batch_items, expected="a positive number"))

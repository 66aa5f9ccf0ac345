"""The encoder settings of the components: defined, defaulted and validated once, in
`layers/settings.py` (`EncoderSettings`); re-exported here for the component files."""
from ..layers.settings import DEFAULT_SETTINGS, EncoderSettings

__all__ = ["DEFAULT_SETTINGS", "EncoderSettings", "validate_encoder_settings"]


def validate_encoder_settings(name: str, window: int, stride: int, max_batch_items: int, batch_invariant: bool = False) -> None:
    """Raise E354 (naming component `name`) for a window, stride, piece budget or batch
    invariance that cannot work."""
    EncoderSettings(window=window, stride=stride, max_batch_items=max_batch_items, batch_invariant=batch_invariant).validate(name)

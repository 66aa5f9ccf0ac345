"""Errors that name the component a user added, not the layer that failed.

A checkpoint is read lazily, deep inside the encoder layer, where only the layer's name
(`bert-encoder`) is known. The components wrap the methods that may read it, so the message
says which component (its instance name and factory) and which config block to fix.
"""
import functools
from typing import Any, Callable, TypeVar

from ..errors import Errors

Method = TypeVar("Method", bound=Callable[..., Any])
_MARK = "[E409]"


def names_component_on_missing_checkpoint(method: Method) -> Method:
    """Decorate a component method that may read the checkpoint: a `FileNotFoundError` (no
    such directory, no config.json, no weights, no vocabulary) is raised again as a
    `FileNotFoundError` whose message (E409) starts with the component's name, factory and
    config block and keeps the original message. The component needs `name`, `factory_name`
    and `cfg["checkpoint"]`."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except FileNotFoundError as err:
            if _MARK in str(err):  # already named by an inner wrapped method
                raise
            message = Errors.E409.format(
                name=self.name, factory=self.factory_name, checkpoint=self.cfg.get("checkpoint"), error=err
            )
            raise FileNotFoundError(message) from err

    return wrapper  # type: ignore[return-value]

"""`cached_msgpack_hooks()`: write and read DocBins without a registry scan per Doc.

srsly builds a new msgpack Packer (Unpacker) for every `msgpack_dumps` (`msgpack_loads`), and each
one asks catalogue for the registered encoders (decoders): a scan of the installed packages'
entry points plus a copy of the whole function registry, ~4 ms each in a large environment.
`DocBin.add` does that about three times per Doc (user data, span groups), which made writing a
shard's DocBin take several times longer than running a small pipeline over it. Inside this
context the two registries answer from one lookup made on entry; the encoders and decoders are
the same ones, so the bytes are the same. Process-wide while it lasts: nothing should register
new msgpack hooks meanwhile (nothing does while a shard is written or read).
"""
import contextlib
from typing import Iterator


@contextlib.contextmanager
def cached_msgpack_hooks() -> Iterator[None]:
    from srsly import msgpack as srsly_msgpack

    registries = [srsly_msgpack.msgpack_encoders, srsly_msgpack.msgpack_decoders]
    patched = []
    try:
        for registry in registries:
            if "get_all" in vars(registry):  # already cached by an enclosing context
                continue
            hooks = registry.get_all()
            registry.get_all = lambda hooks=hooks: dict(hooks)  # the instance attribute shadows the method
            patched.append(registry)
        yield
    finally:
        for registry in patched:
            del registry.get_all

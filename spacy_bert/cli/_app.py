"""The `bert` command group: `spacy bert ...` (spaCy's CLI, entry point `spacy_cli`) and
`python -m spacy_bert ...` run the same commands.

Every command is registered through `command(name)`, which turns the failures a user can cause
into one coded line (`fail`: wasabi's fail style, never wrapped) and exit status 1, never a traceback:

- an exception whose message carries a code (`[E123] ...`: ours from errors.py, or spaCy's):
  that message;
- `OSError` (a missing, wrong-kind or unwritable path the argument checks could not see
  coming): E773 with the path and the system's reason;
- `UnicodeDecodeError` (a file that is not UTF-8): E773 with the codec's reason.

Anything else (TypeError, IndexError, an uncoded ValueError, ...) is a bug in this package and
keeps its traceback. The commands check their arguments first (see `_checks.py`), so most bad
input gets a more precise message than these fallbacks.
"""
import functools
import re
import sys
from typing import Any, Callable, NoReturn

import typer

bert_cli = typer.Typer(
    name="bert",
    help="spacy-bert commands: convert data, write configs, export to Hugging Face, annotate, embed.",
    no_args_is_help=True,
    add_completion=False,
)

_CODED = re.compile(r"^\[[EW]\d{3,4}\]")


def is_coded(error: BaseException) -> bool:
    """True when `error`'s message starts with a code such as `[E123]` (a user-facing error)."""
    return bool(_CODED.match(str(error)))


def fail(message: str) -> NoReturn:
    """Print `message` as one line (wasabi's fail icon and colour, but never wrapped at 80
    columns as `msg.fail` does, so a script can grep it) and exit with status 1."""
    from wasabi import Printer
    from wasabi.util import color, locale_escape

    line = " ".join(str(message).split())
    printer = Printer()
    if printer.pretty:
        line = locale_escape(f"{printer.icons['fail']} {line}").strip()
        if printer.show_color:
            line = color(line, fg=printer.colors["fail"])
    sys.stderr.flush()
    print(line, flush=True)
    raise SystemExit(1)


def os_error_text(error: OSError) -> str:
    """`error` as '<path>: <reason>' (or its message when it names no path)."""
    if error.filename is not None and error.strerror:
        other = f" -> {error.filename2}" if error.filename2 is not None else ""
        return f"{error.filename}{other}: {error.strerror}"
    return str(error)


def command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as `spacy bert NAME`, with the user errors turned into one coded line."""
    from ..errors import Errors

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except UnicodeDecodeError as error:
                fail(Errors.E773.format(command=name, error=f"a file is not UTF-8 text ({error})"))
            except OSError as error:
                fail(str(error) if is_coded(error) else Errors.E773.format(command=name, error=os_error_text(error)))
            except Exception as error:  # noqa: BLE001  (coded ones only; the rest re-raised)
                if is_coded(error):
                    fail(str(error))
                raise

        return bert_cli.command(name)(run)

    return register

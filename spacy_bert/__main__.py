"""`python -m spacy_bert ...`: an alias of `spacy bert ...` (the same commands, see spacy_bert/cli/)."""
from typing import Optional, Sequence

import click
import typer

from .cli import bert_cli
from .cli.similarity import DEFAULT_SENTENCES, sentence_embeddings  # noqa: F401  (public API)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run one command; `argv` defaults to sys.argv[1:]. Returns normally when the command
    succeeds; a usage error or a failed command raises SystemExit with a non-zero status."""
    command = typer.main.get_command(bert_cli)
    try:
        status = command.main(args=None if argv is None else list(argv), prog_name="python -m spacy_bert", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code)
    except click.exceptions.Abort:
        raise SystemExit(1)
    if isinstance(status, int) and status != 0:
        raise SystemExit(status)


if __name__ == "__main__":
    main()

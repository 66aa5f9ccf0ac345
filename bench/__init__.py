"""spacy-bert's benchmarks, run from the repository's root as modules: `python -m bench.<name>`
(e.g. `python -m bench.pipeline --help`). `bench/README.md` says what each measures and how.

`harness.py` is the one place that finds the model, the data (../shared) and records the
machine's state; `texts.py` holds the text sets; `training.py` the training loops' shared
parts. Nothing here imports `tests/` (nor the reverse).
"""

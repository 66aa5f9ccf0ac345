"""The GPU proof of issue 16 in one command: `spacy train --gpu-id 0` per task with mixed
precision off and on, Docs that carry numpy, a GPU-trained pipeline predicting the same on the
CPU, half-precision inference speed and the n_process error, as one JSON and one markdown table.

    bash bench/gpu_proof.sh                                     # on the GPU machine (installs first)
    python -m bench.gpu_proof --device gpu --out DIR            # same, project already installed
    python -m bench.gpu_proof --device cpu --size tiny --steps 4 --out /tmp/smoke   # CPU smoke test

(from the repository's root). The machine's state and the random checkpoint come from
`bench/harness.py`; `bench/gpu_proof_hooks.py` is loaded by `spacy train --code` and imports
nothing from bench/.

Everything it reads is committed (`assets/gpu-proof/`, `assets/wnut17-demo/`, `configs/`), so
`../shared` may be absent. The encoder is a randomly initialised BERT of `--size` ("base": 12
layers, hidden 768, the shape spacy-transformers users run; "minilm": all-MiniLM-L6-v2's shape;
"tiny": for the smoke test) with the bert-base-uncased vocabulary, because no real checkpoint fits
in what a GPU machine without network can be sent; `--checkpoint DIR` uses a real one instead.
So dev scores show learning within a few steps, not the quality of a pretrained model.

Stages (each in fresh subprocesses, each failure recorded, none stops the others):

1. `python -m spacy train CONFIG --gpu-id 0 --code bench/gpu_proof_hooks.py` per task x
   mixed_precision (off, on), `--steps` steps: steps/s (median step time, warm-up and evaluation
   steps left out), peak GPU memory (`torch.cuda.max_memory_allocated`), the final dev score,
   the loss of the first and last quarter of the steps, and what each `BertShim` decided
   (device, autocast, grad scaler).
2. `_check` on the GPU: each trained pipeline predicts the check texts; every value on the Docs
   must be numpy/Python (never CuPy or a torch tensor); `nlp.pipe(n_process=2)` with the model on
   CUDA must raise E373; inference words/s of `bert_ner` and `bert` + `ner` in float32, float16
   and bfloat16 (`set_precision`) at `--infer-batch-size` Docs per `nlp.pipe` batch and
   `--infer-max-batch-items` pieces per padded forward.
3. `_check` on the CPU (CUDA_VISIBLE_DEVICES=""): the same pipelines load and predict; the driver
   compares labels/spans exactly and scores within `--tolerance`.
4. spacy-transformers `transformer` + `ner` on the same GPU, texts and checkpoint, if importable
   (else skipped with the reason).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bench.harness import REPO, machine_state, random_checkpoint

MODULE = "bench.gpu_proof"
ASSETS = REPO / "assets" / "gpu-proof"
WNUT = REPO / "assets" / "wnut17-demo"
HOOKS = Path(__file__).resolve().parent / "gpu_proof_hooks.py"

#: Encoder shapes (BertConfig arguments); vocab_size is the committed vocabulary's.
SIZES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
}


class Task:
    """One `spacy train` job.

    Args:
        name (str): Row name.
        config (str): Config under configs/.
        score (str): The dev score reported (a key of meta.json's "performance").
        owns (str): The component whose predictions are compared CPU vs GPU.
    """

    def __init__(self, name: str, config: str, score: str, owns: str) -> None:
        self.name, self.config, self.score, self.owns = name, config, score, owns


TASKS = {
    "bert_ner": Task("bert_ner", "ner.cfg", "ents_f", "bert_ner"),
    "bert_textcat": Task("bert_textcat", "textcat.cfg", "cats_score", "bert_textcat"),
    "bert+ner": Task("bert+ner", "ner_listener.cfg", "ents_f", "ner"),
    "bert_qa": Task("bert_qa", "qa.cfg", "qa_f1", "bert_qa"),
    "mlm": Task("mlm", "pretrain.cfg", "mlm_acc", "bert_fill_mask"),
}


# -- helpers that import nothing heavy -------------------------------------------------------
def log(message: str) -> None:
    print(f"[gpu_proof {time.strftime('%H:%M:%S')}] {message}", flush=True)


def tail(text: str, n: int = 1500) -> str:
    return text[-n:] if text else ""


def step_summary(record: Dict[str, Any], eval_frequency: int, warmup: int = 3) -> Dict[str, Any]:
    """Steps/s and loss trend from a `gpu_proof_hooks` record.

    A step's time is from its `before_update` to the next one; steps where spaCy evaluated and
    saved (step % eval_frequency == 0, so step 0 too) and the first `warmup` steps are left out.
    steps/s = 1 / median step time. Loss: loss per word (summed losses / summed batch words, a
    step without a word count counting 1) over the first and the last quarter of the steps (at
    least one step each).
    """
    steps = record.get("steps") or []
    starts = [s["start"] for s in steps] + [record.get("end", steps[-1]["start"] if steps else 0.0)]
    times = []
    for i, s in enumerate(steps):
        if s["step"] < warmup or s["step"] % eval_frequency == 0 or i + 1 >= len(starts):
            continue
        times.append(starts[i + 1] - s["start"])
    # Per word, over whole quarters: batchers give batches of very different sizes (the
    # listener's padded batches: 170 to 1,800 words), and most losses are sums over tokens.
    pairs = [(s["loss"], max(1, s.get("words") or 1)) for s in steps if s.get("loss") is not None]
    losses = pairs
    quarter = max(1, len(pairs) // 4)

    def per_word(part: List[Tuple[float, int]]) -> float:
        return sum(loss for loss, _ in part) / sum(words for _, words in part)

    first = per_word(pairs[:quarter]) if pairs else None
    last = per_word(pairs[-quarter:]) if pairs else None
    return {
        "steps": len(steps),
        "timed_steps": len(times),
        "steps_per_s": (1.0 / statistics.median(times)) if times else None,
        "loss_first": first,
        "loss_last": last,
        "loss_down": (last < first) if losses else None,
        "peak_memory_mib": round(record.get("peak_memory", 0) / 2**20, 1),
        "shims": record.get("shims", []),
    }


def numpy_problems(value: Any, where: str = "doc", depth: int = 0) -> List[str]:
    """Places under `value` holding a CuPy array or a torch tensor (Docs must carry numpy)."""
    module = type(value).__module__ or ""
    if module.startswith("cupy") or module.startswith("torch"):
        return [f"{where}: {module}.{type(value).__name__}"]
    if depth > 6:
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in numpy_problems(v, f"{where}[{k!r}]", depth + 1)]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in numpy_problems(v, f"{where}[{i}]", depth + 1)]
    if hasattr(value, "to_dict") and callable(value.to_dict) and module.startswith("spacy_bert"):
        return numpy_problems(value.to_dict(), where, depth + 1)
    return []


def doc_problems(doc: Any) -> List[str]:
    """`numpy_problems` over everything a component may put on a Doc."""
    places: Dict[str, Any] = {"doc.tensor": doc.tensor, "doc.cats": dict(doc.cats), "doc.user_data": dict(doc.user_data)}
    for name in ("bert", "answers", "fill_mask"):
        if doc.has_extension(name):
            places[f"doc._.{name}"] = getattr(doc._, name)
    return [p for where, value in places.items() for p in numpy_problems(value, where)]


def doc_predictions(doc: Any) -> Dict[str, Any]:
    """What a Doc was given, in JSON form, for the CPU vs GPU comparison."""
    out: Dict[str, Any] = {
        "ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents],
        "spans": {k: [[s.start_char, s.end_char, s.label_] for s in g] for k, g in doc.spans.items()},
        "cats": {k: float(v) for k, v in doc.cats.items()},
    }
    if doc.has_extension("answers") and doc._.answers:
        out["answers"] = {q: [[a["start"], a["end"], float(a["score"])] for a in answers] for q, answers in doc._.answers.items()}
    if doc.has_extension("fill_mask") and doc._.fill_mask:
        out["fill_mask"] = [[e["start"], [[p["token"], float(p["score"])] for p in e["predictions"]]] for e in doc._.fill_mask]
    if doc.tensor is not None and getattr(doc.tensor, "size", 0):
        out["tensor_head"] = [float(x) for x in doc.tensor.reshape(-1)[:64]]
    return out


def compare_predictions(gpu: List[Dict[str, Any]], cpu: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Labels, spans, answer positions and fill-mask tokens must be equal; every number within
    the returned max_abs_diff (the caller compares it with the tolerance)."""
    mismatches: List[str] = []
    max_diff = 0.0

    def walk(a: Any, b: Any, where: str) -> None:
        nonlocal max_diff
        if isinstance(a, float) or isinstance(b, float):
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
                mismatches.append(f"{where}: {a!r} vs {b!r}")
            else:
                max_diff = max(max_diff, abs(float(a) - float(b)))
        elif isinstance(a, dict) and isinstance(b, dict):
            if set(a) != set(b):
                mismatches.append(f"{where}: keys {sorted(a)} vs {sorted(b)}")
            for k in set(a) & set(b):
                walk(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                mismatches.append(f"{where}: {len(a)} vs {len(b)} items")
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        elif a != b:
            mismatches.append(f"{where}: {a!r} vs {b!r}")

    if len(gpu) != len(cpu):
        mismatches.append(f"{len(gpu)} vs {len(cpu)} docs")
    for i, (a, b) in enumerate(zip(gpu, cpu)):
        walk(a, b, f"doc{i}")
    return {"identical_labels": not mismatches, "mismatches": mismatches[:10], "max_abs_diff": max_diff}


# -- data and checkpoint (driver process) -----------------------------------------------------
def make_checkpoint(size: str, directory: Path, seed: int = 0) -> Path:
    """A randomly initialised `BertModel` of `SIZES[size]` with the committed vocabulary."""
    return random_checkpoint(directory, dict(max_position_embeddings=512, **SIZES[size]), vocab_from=str(ASSETS), seed=seed)


def make_corpora(work: Path) -> Dict[str, Tuple[Path, Path]]:
    """(train, dev) per task: .spacy files converted from the committed slices, or the raw files
    the task's reader takes (SQuAD JSON, plain text)."""
    from spacy_bert.corpora import convert_conll, read_sst2, write_textcat_docbin

    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        convert_conll(WNUT / f"{split}.conll", corpus / f"wnut-{split}.spacy")
        write_textcat_docbin(list(read_sst2(ASSETS / f"sst2-{split}.tsv")), corpus / f"sst2-{split}.spacy")
    wnut = (corpus / "wnut-train.spacy", corpus / "wnut-dev.spacy")
    return {
        "bert_ner": wnut,
        "bert+ner": wnut,
        "bert_textcat": (corpus / "sst2-train.spacy", corpus / "sst2-dev.spacy"),
        "bert_qa": (ASSETS / "xquad-train.json", ASSETS / "xquad-dev.json"),
        "mlm": (ASSETS / "wikitext-train.txt", ASSETS / "wikitext-dev.txt"),
    }


def set_all(node: Any, key: str, value: Any) -> int:
    """Set `key` = `value` in every dict under `node` that has `key`; returns how many."""
    count = 0
    if isinstance(node, dict):
        if key in node:
            node[key] = value
            count += 1
        for child in node.values():
            count += set_all(child, key, value)
    return count


def write_config(task: Task, checkpoint: Path, data: Tuple[Path, Path], steps: int, eval_frequency: int,
                 mixed_precision: bool, path: Path) -> Path:
    """The task's committed config with the run's paths, steps, precision and the step recorder."""
    from confection import Config

    config = Config().from_disk(REPO / "configs" / task.config, interpolate=False)
    config["paths"]["train"], config["paths"]["dev"] = str(data[0]), str(data[1])
    config["paths"]["checkpoint"] = str(checkpoint)
    config["training"]["max_steps"] = steps
    config["training"]["eval_frequency"] = eval_frequency
    config["training"]["patience"] = 0
    config["training"]["max_epochs"] = -1 if task.name == "mlm" else 0
    config["training"]["before_update"] = {"@callbacks": "spacy-bert-bench.step_recorder.v1"}
    if set_all(config["components"], "mixed_precision", mixed_precision) == 0:
        raise ValueError(f"{task.config} has no mixed_precision setting")
    config.to_disk(path)
    return path


def run(cmd: Sequence[str], timeout: float, env: Optional[Dict[str, str]] = None) -> Tuple[int, str, float]:
    """(exit status, stdout+stderr, seconds); status 124 on timeout."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(list(cmd), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        return proc.returncode, proc.stdout, time.perf_counter() - start
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        return 124, out + f"\n(timed out after {timeout:.0f} s)", time.perf_counter() - start


def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def train_one(task: Task, mixed_precision: bool, args: argparse.Namespace, checkpoint: Path,
              data: Tuple[Path, Path], work: Path) -> Dict[str, Any]:
    """One `spacy train` run; its row of the table."""
    tag = f"{task.name.replace('+', '_plus_')}-{'mp' if mixed_precision else 'fp32'}"  # bert+ner is not bert_ner
    run_dir = work / "runs" / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    eval_frequency = max(1, args.steps)  # step 0 and the last step: spaCy also evaluates at step 0
    config = write_config(task, checkpoint, data, args.steps, eval_frequency, mixed_precision, run_dir / "config.cfg")
    record_path = run_dir / "steps.json"
    gpu_id = "0" if args.device == "gpu" else "-1"
    cmd = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(run_dir / "out"),
           "--code", str(HOOKS), "--gpu-id", gpu_id]
    log(f"train {tag}: {' '.join(cmd[1:])}")
    status, output, seconds = run(cmd, args.train_timeout, child_env({"GPU_PROOF_RECORD": str(record_path)}))
    row: Dict[str, Any] = {"task": task.name, "mixed_precision": mixed_precision, "status": status,
                           "wall_s": round(seconds, 1), "command": " ".join(cmd[1:]), "pipeline": None}
    if status != 0 or not record_path.is_file():
        row["error"] = tail(output)
        log(f"train {tag} FAILED ({status}):\n{tail(output, 800)}")
        return row
    row.update(step_summary(json.loads(record_path.read_text()), eval_frequency))
    meta = run_dir / "out" / "model-last" / "meta.json"
    if meta.is_file():
        performance = json.loads(meta.read_text()).get("performance", {})
        row["dev_score"] = performance.get(task.score)
        row["score_name"] = task.score
    row["pipeline"] = str(run_dir / "out" / "model-last")
    log(f"train {tag}: {row.get('steps_per_s')} steps/s, peak {row.get('peak_memory_mib')} MiB, "
        f"{task.score} {row.get('dev_score')}, loss {row.get('loss_first')} -> {row.get('loss_last')}")
    return row


# -- the checks (child process: `_check`) ------------------------------------------------------
def check_texts(n: int) -> List[str]:
    """Tweets (WNUT dev), sentences (SST-2 dev) and paragraphs (WikiText dev), interleaved."""
    tweets = []
    for block in (WNUT / "dev.conll").read_text(encoding="utf-8").split("\n\n"):
        words = [line.split("\t")[0] for line in block.splitlines() if line.strip()]
        if words:
            tweets.append(" ".join(words))
    sentences = [line.split("\t", 1)[1] for line in (ASSETS / "sst2-dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    paragraphs = [line for line in (ASSETS / "wikitext-dev.txt").read_text(encoding="utf-8").splitlines() if line]
    mixed = [t for group in zip(tweets, sentences, paragraphs) for t in group]
    return (mixed * (n // max(1, len(mixed)) + 1))[:n]


def task_docs(nlp: Any, task_name: str, n: int) -> List[Any]:
    """The Docs a task's pipeline predicts: QA paragraphs with their questions; for MLM texts with
    [MASK] in them; else the check texts."""
    if task_name == "bert_qa":
        from spacy_bert.pipeline.qa_squad import read_squad

        docs = []
        for context, questions, _ in read_squad(ASSETS / "xquad-dev.json")[:n]:
            doc = nlp.make_doc(context)
            doc._.questions = questions
            docs.append(doc)
        return docs
    texts = check_texts(n)
    if task_name == "mlm":
        texts = [" ".join(w if i % 7 != 3 else "[MASK]" for i, w in enumerate(t.split())) for t in texts]
    return [nlp.make_doc(t) for t in texts]


def bert_shims(pipe: Any) -> List[Any]:
    """The loaded `BertShim`s inside a component's model."""
    from spacy_bert.layers.shim.bert_shim import BertShim

    return [shim for node in pipe.model.walk() for shim in node.shims if isinstance(shim, BertShim) and shim.loaded]


def predict(nlp: Any, docs: List[Any]) -> List[Any]:
    return list(nlp.pipe(docs, batch_size=16))


def check_n_process(nlp: Any, task_name: str) -> Dict[str, Any]:
    """`nlp.pipe(n_process=2)` with the model on CUDA must give E373, not a hang or torch's error."""
    texts = check_texts(8)
    try:
        list(nlp.pipe(texts, n_process=2, batch_size=2))
    except Exception as err:  # what arrives from the worker
        text = f"{type(err).__name__}: {err}"
        return {"task": task_name, "raised": True, "e373": "E373" in text, "message": text[:400]}
    return {"task": task_name, "raised": False, "e373": False, "message": "no error"}


def words_per_s(nlp: Any, texts: List[str], batch_size: int, warmup: int) -> Dict[str, Any]:
    """One timed `nlp.pipe` pass (after a warm-up pass over `warmup` texts); Docs dropped as a
    streaming user would."""
    import torch

    for _ in nlp.pipe(texts[:warmup], batch_size=batch_size):
        pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    words = 0
    start = time.perf_counter()
    for doc in nlp.pipe(texts, batch_size=batch_size):
        words += len(doc)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"words": words, "seconds": round(seconds, 3), "words_per_s": round(words / seconds, 1),
            "peak_memory_mib": None if peak is None else round(peak, 1)}


def inference_rows(pipelines: Dict[str, str], args: argparse.Namespace) -> List[Dict[str, Any]]:
    """words/s of `bert_ner` and `bert` + `ner` in each precision."""
    import warnings

    import spacy

    from spacy_bert.pipeline import set_precision

    texts = check_texts(args.infer_texts)
    rows = []
    for task_name in ("bert_ner", "bert+ner"):
        path = pipelines.get(task_name)
        if not path:
            rows.append({"pipeline": task_name, "skipped": "no trained pipeline (its training was not run or failed)"})
            continue
        encoder = "bert_ner" if task_name == "bert_ner" else "bert"
        nlp = spacy.load(path, config={f"components.{encoder}.max_batch_items": args.infer_max_batch_items})
        for precision in ("float32", "float16", "bfloat16"):
            row: Dict[str, Any] = {"pipeline": task_name, "precision": precision, "batch_size": args.infer_batch_size,
                                   "max_batch_items": args.infer_max_batch_items}
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    set_precision(nlp, precision)
                    row.update(words_per_s(nlp, texts, args.infer_batch_size, min(len(texts), args.infer_batch_size)))
                row["precision_used"] = ",".join(sorted({shim.precision_used for shim in bert_shims(nlp.get_pipe(encoder))}))
                row["warnings"] = sorted({str(w.message)[:120] for w in caught})
            except Exception as err:
                row["error"] = f"{type(err).__name__}: {err}"[:400]
            log(f"infer {task_name} {precision}: {row.get('words_per_s')} words/s {row.get('error', '')}")
            rows.append(row)
        del nlp
    return rows


def check_child(args: argparse.Namespace) -> None:
    """`_check`: load each trained pipeline on this process's device, predict, check the Docs;
    on the GPU also the n_process error and the inference speed. Writes --result."""
    import spacy

    pipelines = json.loads(args.pipelines)
    on_gpu = args.device == "gpu"
    if on_gpu:
        spacy.require_gpu(0)
    result: Dict[str, Any] = {"device": args.device, "predictions": {}, "doc_problems": {}, "errors": {}}
    for task_name, path in pipelines.items():
        try:
            nlp = spacy.load(path)
            docs = predict(nlp, task_docs(nlp, task_name, args.check_docs))
            result["predictions"][task_name] = [doc_predictions(d) for d in docs]
            result["doc_problems"][task_name] = sorted({p for d in docs for p in doc_problems(d)})[:10]
            log(f"{args.device} check {task_name}: {len(docs)} docs, problems {result['doc_problems'][task_name]}")
        except Exception as err:
            result["errors"][task_name] = f"{type(err).__name__}: {err}"[:600]
            log(f"{args.device} check {task_name} FAILED: {result['errors'][task_name]}")
    # Written after each stage: a later stage that hangs (a forked worker) or times out loses
    # only itself, the driver reads what is there.
    Path(args.result).write_text(json.dumps(result))
    if on_gpu or args.smoke_all:
        result["inference"] = inference_rows(pipelines, args)
        Path(args.result).write_text(json.dumps(result))
        first = next((t for t in ("bert_ner", "bert+ner") if t in pipelines), None)
        if first:
            result["n_process"] = {"task": first, "raised": False, "e373": False, "message": "did not finish"}
            Path(args.result).write_text(json.dumps(result))
            nlp = spacy.load(pipelines[first])
            predict(nlp, task_docs(nlp, first, 2))  # the model is on CUDA (and CUDA initialised) now
            result["n_process"] = check_n_process(nlp, first)
            log(f"n_process=2: {result['n_process']}")
    Path(args.result).write_text(json.dumps(result))


# -- spacy-transformers (optional) ----------------------------------------------------------
def spacy_transformers_child(args: argparse.Namespace) -> None:
    """`_st`: words/s of spacy-transformers' `transformer` + `ner` on the same checkpoint and texts."""
    import spacy
    from spacy.training import Example

    if args.device == "gpu":
        spacy.require_gpu(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {"name": args.checkpoint, "get_spans": {
        "@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96}},
        "max_batch_items": args.infer_max_batch_items})
    nlp.add_pipe("ner", config={"model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
        "extra_state_tokens": False, "hidden_width": 64, "maxout_pieces": 2, "use_upper": False, "nO": None,
        "tok2vec": {"@architectures": "spacy-transformers.TransformerListener.v1", "grad_factor": 1.0,
                    "pooling": {"@layers": "reduce_mean.v1"}, "upstream": "*"}}})
    doc = nlp.make_doc("Alice visited Paris .")
    examples = [Example.from_dict(doc, {"entities": [(0, 5, "person"), (14, 19, "location")]})]
    nlp.initialize(lambda: examples)
    texts = check_texts(args.infer_texts)
    row = {"pipeline": "transformer+ner (spacy-transformers)", "precision": "float32", "batch_size": args.infer_batch_size,
           "max_batch_items": args.infer_max_batch_items}
    row.update(words_per_s(nlp, texts, args.infer_batch_size, min(len(texts), args.infer_batch_size)))
    Path(args.result).write_text(json.dumps(row))


# -- the driver ------------------------------------------------------------------------------
def environment(device: str) -> Dict[str, Any]:
    """The harness's `machine_state()` plus what the GPU run depends on: CUDA, CuPy as thinc
    sees it, the GPU and its driver; a module that does not import is a finding, not an error."""
    import torch

    env: Dict[str, Any] = machine_state()
    env.update({"torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()})
    for name in ("spacy", "thinc", "cupy", "numpy", "spacy_transformers"):
        try:
            module = __import__(name)
            env[name] = getattr(module, "__version__", "?")
        except Exception as err:  # absent, or broken by a CUDA mismatch: both are findings
            env[name] = f"not importable ({type(err).__name__}: {str(err)[:120]})"
    try:
        # What spaCy will see: thinc imports cupy, cupy.cublas and cupyx, and treats any
        # ImportError as "no CuPy" (then --gpu-id 0 ends in E520 although CuPy is installed).
        from thinc.util import has_cupy, has_cupy_gpu

        env["thinc_has_cupy"], env["thinc_has_cupy_gpu"] = bool(has_cupy), bool(has_cupy_gpu)
        if not has_cupy and not str(env.get("cupy", "")).startswith("not importable"):
            for name in ("cupy.cublas", "cupyx"):
                try:
                    __import__(name)
                except Exception as err:
                    env["thinc_cupy_problem"] = f"import {name}: {type(err).__name__}: {str(err)[:160]}"
    except Exception as err:
        env["thinc_has_cupy"] = f"thinc.util not importable ({type(err).__name__})"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["gpu"] = props.name
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["bf16_supported"] = torch.cuda.is_bf16_supported()
    if shutil.which("nvidia-smi"):
        status, output, _ = run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"], 30)
        env["nvidia_smi"] = output.strip()
    return env


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(report: Dict[str, Any]) -> str:
    env, settings = report["environment"], report["settings"]
    lines = [
        "# spacy-bert GPU proof (issue 16)", "",
        f"- device: {env.get('gpu', 'no GPU')} ({env.get('nvidia_smi', '-')}); torch {env['torch']} (CUDA {env['torch_cuda']}); "
        f"CuPy {env.get('cupy')} (thinc sees CuPy: {env.get('thinc_has_cupy')}, a GPU: {env.get('thinc_has_cupy_gpu')}{'; ' + env['thinc_cupy_problem'] if env.get('thinc_cupy_problem') else ''}); spaCy {env.get('spacy')}; thinc {env.get('thinc')}; Python {env['python']}; CPU {env.get('cpu')}",
        f"- command: `{report['command']}`",
        f"- encoder: {settings['model']}; {settings['steps']} steps per run; data: assets/wnut17-demo, assets/gpu-proof slices",
        "", "## spacy train", "",
        "| task | mixed precision | status | steps/s | peak GPU MiB | dev score | loss/word, first -> last quarter | autocast / scaler (per BertShim) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["train"]:
        shims = ", ".join(f"{s['component']}@{s['device']}: {'on' if s['mixed_precision'] else 'off'}/{'on' if s['grad_scaler'] else 'off'}"
                          for s in row.get("shims", [])) or "-"
        loss = f"{row.get('loss_first', 0):.4g} -> {row.get('loss_last', 0):.4g} ({'down' if row.get('loss_down') else 'NOT down'})" if row.get("loss_first") is not None else "-"
        score = f"{row.get('score_name')} {fmt(row.get('dev_score'), 3)}" if row.get("score_name") else "-"
        status = "ok" if row["status"] == 0 else ("skipped" if row["status"] == "skipped" else f"FAILED ({row['status']})")
        lines.append(f"| {row['task']} | {'on' if row['mixed_precision'] else 'off'} | {status} | {fmt(row.get('steps_per_s'))} | "
                     f"{fmt(row.get('peak_memory_mib'), 0)} | {score} | {loss} | {shims} |")
    checks = report.get("checks", {})
    lines += ["", "## Docs and CPU reload", "", "| task | Docs numpy only | CPU predicts same labels | max abs diff | note |", "|---|---|---|---|---|"]
    for task_name, check in checks.get("per_task", {}).items():
        lines.append(f"| {task_name} | {fmt(check.get('numpy_only'))} | {fmt(check.get('identical_labels'))} | "
                     f"{fmt(check.get('max_abs_diff'), 6)} | {'; '.join(check.get('notes', []))[:200] or '-'} |")
    n_proc = checks.get("n_process")
    if n_proc:
        lines += ["", f"- `nlp.pipe(n_process=2)` with the model on {settings['device']} ({n_proc['task']}): E373 {'raised' if n_proc['e373'] else 'NOT raised'}: {n_proc['message'][:200]}"]
    lines += ["", "## Inference", "", "| pipeline | precision (used) | batch size | max_batch_items | words/s | peak GPU MiB | note |", "|---|---|---|---|---|---|---|"]
    for row in report.get("inference", []):
        lines.append(f"| {row['pipeline']} | {row.get('precision', '-')} ({row.get('precision_used') or '-'}) | {row.get('batch_size', '-')} | "
                     f"{row.get('max_batch_items', '-')} | {fmt(row.get('words_per_s'), 0)} | {fmt(row.get('peak_memory_mib'), 0)} | "
                     f"{(row.get('error') or row.get('skipped') or '; '.join(row.get('warnings', [])))[:160] or '-'} |")
    if report.get("spacy_transformers_skipped"):
        lines.append(f"\nspacy-transformers: skipped: {report['spacy_transformers_skipped']}")
    lines += ["", f"Verdict: {report['verdict']}", f"Total time: {report['total_s']:.0f} s", ""]
    return "\n".join(lines)


def verdict(report: Dict[str, Any]) -> str:
    problems = []
    for row in report["train"]:
        name = f"{row['task']}/{'mp' if row['mixed_precision'] else 'fp32'}"
        if row["status"] != 0:
            problems.append(f"{name} {'skipped' if row['status'] == 'skipped' else 'failed'}")
        elif not row.get("loss_down"):
            problems.append(f"{name} loss not down")
        elif report["settings"]["device"] == "gpu" and any(s["device"].split(":")[0] != "cuda" or s["mixed_precision"] != row["mixed_precision"]
                                                          for s in row.get("shims", [])):
            problems.append(f"{name} shim device/autocast not as configured")
    for task_name, check in report.get("checks", {}).get("per_task", {}).items():
        if not check.get("numpy_only"):
            problems.append(f"{task_name} Docs not numpy-only")
        if not check.get("identical_labels"):
            problems.append(f"{task_name} CPU differs")
    n_proc = report.get("checks", {}).get("n_process")
    if report["settings"]["device"] == "gpu" and not (n_proc and n_proc.get("e373")):
        problems.append("n_process E373 missing")
    if any(row.get("error") for row in report.get("inference", [])):
        problems.append("an inference row failed")
    return "all checks passed" if not problems else "PROBLEMS: " + "; ".join(problems)


def run_checks(pipelines: Dict[str, str], args: argparse.Namespace, work: Path, started: float) -> Dict[str, Any]:
    """The `_check` children (device, then CPU with CUDA hidden), compared. Their timeouts share
    what is left of --budget-s (at least 90 / 60 s)."""
    common = ["--pipelines", json.dumps(pipelines), "--check-docs", str(args.check_docs), "--infer-texts", str(args.infer_texts),
              "--infer-batch-size", str(args.infer_batch_size), "--infer-max-batch-items", str(args.infer_max_batch_items)]
    results = {}
    for device in (args.device, "cpu-reload"):
        result_path = work / f"check-{device}.json"
        result_path.unlink(missing_ok=True)
        child_device = "cpu" if device == "cpu-reload" else device
        extra = {"CUDA_VISIBLE_DEVICES": ""} if device == "cpu-reload" else {}
        cmd = [sys.executable, "-m", MODULE, "_check", "--device", child_device, "--result", str(result_path)] + common
        if device != "cpu-reload" and args.device == "cpu":
            cmd.append("--smoke-all")
        left = args.budget_s - (time.perf_counter() - started)
        timeout = min(args.check_timeout, max(90.0, 0.65 * left) if device != "cpu-reload" else max(60.0, left + 30.0))
        log(f"check on {device} (timeout {timeout:.0f} s)")
        status, output, seconds = run(cmd, timeout, child_env(extra))
        if result_path.is_file():
            results[device] = json.loads(result_path.read_text())
        else:
            results[device] = {"predictions": {}, "doc_problems": {}, "errors": {}}
        if status != 0:
            log(f"check on {device} FAILED ({status}):\n{tail(output, 800)}")
            results[device]["error"] = tail(output)
    on_device, on_cpu = results[args.device], results["cpu-reload"]
    per_task: Dict[str, Any] = {}
    for task_name in pipelines:
        notes = [f"{where}: {r['errors'][task_name]}" for where, r in (("device", on_device), ("cpu", on_cpu)) if task_name in r.get("errors", {})]
        notes += [f"{where}: check failed" for where, r in (("device", on_device), ("cpu", on_cpu)) if "error" in r]
        check: Dict[str, Any] = {"notes": notes}
        if task_name in on_device.get("predictions", {}):
            problems = on_device["doc_problems"].get(task_name, []) + on_cpu.get("doc_problems", {}).get(task_name, [])
            check["numpy_only"] = not problems
            check["problems"] = problems
        if task_name in on_device.get("predictions", {}) and task_name in on_cpu.get("predictions", {}):
            compared = compare_predictions(on_device["predictions"][task_name], on_cpu["predictions"][task_name])
            check.update(compared)
            if compared["max_abs_diff"] > args.tolerance:
                check["identical_labels"] = False
                check["notes"].append(f"scores differ by more than {args.tolerance}")
            check["notes"] += compared["mismatches"][:3]
        per_task[task_name] = check
    return {"per_task": per_task, "n_process": on_device.get("n_process"), "inference": on_device.get("inference", [])}


def spacy_transformers_row(checkpoint: Path, args: argparse.Namespace, work: Path) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    status, output, _ = run([sys.executable, "-c", "import spacy_transformers"], 120, child_env())
    if status != 0:
        last = output.strip().splitlines()[-1] if output.strip() else f"exit {status}"
        return None, f"spacy_transformers is not importable here ({last[:200]}); install it beside the project to add the row"
    result_path = work / "st.json"
    cmd = [sys.executable, "-m", MODULE, "_st", "--device", args.device, "--checkpoint", str(checkpoint),
           "--result", str(result_path), "--infer-texts", str(args.infer_texts), "--infer-batch-size", str(args.infer_batch_size),
           "--infer-max-batch-items", str(args.infer_max_batch_items)]
    status, output, _ = run(cmd, min(args.check_timeout, 120.0), child_env())
    if status != 0 or not result_path.is_file():
        return {"pipeline": "transformer+ner (spacy-transformers)", "error": tail(output, 300)}, None
    return json.loads(result_path.read_text()), None


def main_driver(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = environment(args.device)
    log(f"environment: {json.dumps(env)}")
    if args.device == "gpu" and not env["cuda_available"]:
        log("--device gpu but torch sees no CUDA device; the runs will show spaCy's/our error")
    if str(env.get("spacy", "")).startswith("not importable"):
        # Nothing below can run; say why in the files that come back.
        report = {"command": " ".join(sys.argv), "environment": env, "verdict": f"PROBLEMS: spaCy is {env['spacy']}"}
        (out / "gpu_proof.json").write_text(json.dumps(report, indent=1))
        (out / "gpu_proof.md").write_text(f"# spacy-bert GPU proof\n\n{report['verdict']}\n\n{json.dumps(env, indent=1)}\n")
        log(report["verdict"])
        return 1
    checkpoint = Path(args.checkpoint) if args.checkpoint else make_checkpoint(args.size, work / f"bert-{args.size}")
    corpora = make_corpora(work)
    tasks = [TASKS[name] for name in args.tasks]
    precisions = [p == "on" for p in args.mixed_precision]
    report: Dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "environment": env,
        "settings": {"device": args.device, "model": str(checkpoint) if args.checkpoint else f"random-init BERT '{args.size}' {SIZES[args.size]}",
                     "steps": args.steps, "tasks": args.tasks, "mixed_precision": args.mixed_precision,
                     "infer_texts": args.infer_texts, "infer_batch_size": args.infer_batch_size,
                     "infer_max_batch_items": args.infer_max_batch_items, "tolerance": args.tolerance},
        "train": [],
    }
    for task in tasks:
        for mixed in precisions:
            elapsed = time.perf_counter() - started
            if elapsed > args.budget_s - args.reserve_s:
                # Leave time for the checks: a skipped run is a row, not a lost report.
                report["train"].append({"task": task.name, "mixed_precision": mixed, "status": "skipped", "pipeline": None,
                                        "error": f"skipped: {elapsed:.0f} s used of --budget-s {args.budget_s:.0f} (reserve {args.reserve_s:.0f} s)"})
                log(f"skip {task.name} mp={mixed}: out of time budget")
                continue
            report["train"].append(train_one(task, mixed, args, checkpoint, corpora[task.name], work))
    # The checks use each task's last trained pipeline (mixed precision on, when it ran).
    pipelines: Dict[str, str] = {}
    for row in report["train"]:
        if row.get("pipeline"):
            pipelines[row["task"]] = row["pipeline"]
    report["checks"] = run_checks(pipelines, args, work, started) if pipelines else {"per_task": {}}
    report["inference"] = report["checks"].pop("inference", [])
    st_row, skipped = spacy_transformers_row(checkpoint, args, work) if not args.no_spacy_transformers else (None, "--no-spacy-transformers")
    if st_row:
        report["inference"].append(st_row)
    report["spacy_transformers_skipped"] = skipped
    report["total_s"] = time.perf_counter() - started
    report["verdict"] = verdict(report)
    (out / "gpu_proof.json").write_text(json.dumps(report, indent=1))
    (out / "gpu_proof.md").write_text(markdown(report))
    print(markdown(report), flush=True)
    return 0 if report["verdict"] == "all checks passed" else 1


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "_check", "_st"], help=argparse.SUPPRESS)
    parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu", help="gpu: --gpu-id 0; cpu: the smoke test (--gpu-id -1)")
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu-proof-out"), help="where gpu_proof.json/.md go (default $OUT)")
    parser.add_argument("--work", default="/tmp/gpu-proof-work", help="checkpoint, corpora, trained pipelines")
    parser.add_argument("--size", choices=sorted(SIZES), default="base", help="shape of the random-init encoder")
    parser.add_argument("--checkpoint", default=None, help="a real Hugging Face BERT directory instead of a random one")
    parser.add_argument("--steps", type=int, default=int(os.environ.get("GPU_PROOF_STEPS", 60)), help="training steps per run")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--mixed-precision", nargs="+", choices=["off", "on"], default=["off", "on"])
    parser.add_argument("--check-docs", type=int, default=24, help="Docs per task in the CPU/GPU comparison")
    parser.add_argument("--infer-texts", type=int, default=int(os.environ.get("GPU_PROOF_INFER_TEXTS", 3000)))
    parser.add_argument("--infer-batch-size", type=int, default=512, help="Docs per nlp.pipe batch in the inference rows")
    parser.add_argument("--infer-max-batch-items", type=int, default=32768, help="pieces per padded forward in the inference rows")
    parser.add_argument("--tolerance", type=float, default=2e-3, help="largest score difference GPU vs CPU reload")
    parser.add_argument("--budget-s", type=float, default=float(os.environ.get("GPU_PROOF_BUDGET_S", 390)),
                        help="seconds for the whole script; training runs that would start after budget - reserve are skipped")
    parser.add_argument("--reserve-s", type=float, default=150.0, help="seconds kept for the checks and the inference rows")
    parser.add_argument("--train-timeout", type=float, default=150.0)
    parser.add_argument("--check-timeout", type=float, default=300.0)
    parser.add_argument("--no-spacy-transformers", action="store_true")
    # children
    parser.add_argument("--pipelines", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--smoke-all", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.mode == "_check":
        check_child(args)
        return 0
    if args.mode == "_st":
        spacy_transformers_child(args)
        return 0
    return main_driver(args)


if __name__ == "__main__":
    sys.exit(main())

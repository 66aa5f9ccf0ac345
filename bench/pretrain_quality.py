"""Domain adaptation at a fixed budget: `bert_fill_mask` training against a plain transformers loop.

    OMP_NUM_THREADS=1 python -m bench.pretrain_quality --model splade-tiny --steps 100

Text: WikiText-2 valid (blank lines and headings skipped); the last `--heldout` paragraphs are
held out, training draws batches of `--batch` paragraphs from the rest, in the same order for
both sides. Both sides: the same checkpoint, `--steps` steps, constant learning rate `--lr`,
weight decay 0.01, gradient clipping 1.0, 15 % masking (80/10/10).

- ours: `bert_fill_mask` with `nlp.update` and the shipped recipe `spacy-bert.AdamW.v1`
  (global gradient-norm clipping in `finish_update`; `--thinc-adam` uses thinc's `Adam.v1`
  with its per-parameter clipping instead);
- transformers: `DataCollatorForLanguageModeling` + `BertForMaskedLM` + torch AdamW with the
  Trainer's parameter groups (no decay on biases and LayerNorm weights), texts tokenized with
  truncation at 512 (what `run_mlm.py` does without grouping).

Both models are scored by the same code (`BertFillMask.score`: deterministic masking seeded
by each text's CRC-32): held-out `mlm_acc` and `mlm_ppl` before and after. A checkpoint
without an MLM head (all-MiniLM-L6-v2) gets a fresh tied head on both sides.

`--side ours --export DIR` trains our side only and exports the adapted model as a Hugging Face
`BertForMaskedLM` directory, the `--checkpoint` of `python -m bench.training_parity`'s NER run.

Figures (README "Against a Hugging Face fine-tune"; 2-core AMD EPYC, AVX2, lr 1e-4, batch 8):
splade-tiny 100 steps: ours mlm_acc 0.281 / ppl 179 against transformers 0.279 / 184;
all-MiniLM-L6-v2 (fresh head) 60 steps: 0.237 / 366 against 0.211 / 360; 200 steps (ours
only): 0.334 / 134.
"""
import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

from bench.harness import model_dir, print_machine
from bench.texts import wikitext_paragraphs
from bench.training import hf_adamw


def scorer_nlp(checkpoint):
    import spacy

    import spacy_bert.pipeline  # noqa: F401

    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(checkpoint)})
    return nlp


def held_out_scores(nlp, texts):
    from spacy.training import Example

    egs = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    scores = nlp.get_pipe("bert_fill_mask").score(egs)
    return {"mlm_acc": round(scores["mlm_acc"], 4), "mlm_ppl": round(scores["mlm_ppl"], 2)}


def train_ours(model, batches, lr, heldout, thinc_adam=False, export=None):
    from spacy.training import Example
    from thinc.api import Adam, fix_random_seed

    from spacy_bert.layers.training.optim import adamw_v1

    fix_random_seed(0)
    nlp = scorer_nlp(model)
    egs = [[Example(nlp.make_doc(t), nlp.make_doc(t)) for t in batch] for batch in batches]
    nlp.initialize(lambda: egs[0])
    before = held_out_scores(nlp, heldout)
    if thinc_adam:
        optimizer = Adam(lr, L2=0.01, L2_is_weight_decay=True, grad_clip=1.0)
    else:
        optimizer = adamw_v1(lr, weight_decay=0.01, max_grad_norm=1.0)
    start = time.perf_counter()
    for batch in egs:
        nlp.update(batch, sgd=optimizer)
    seconds = time.perf_counter() - start
    if export:
        # what `spacy bert export PIPELINE bert_fill_mask DIR` writes: a BertForMaskedLM directory
        from spacy_bert.pipeline.export import export_component

        export_component(nlp, "bert_fill_mask", export)
    return before, held_out_scores(nlp, heldout), seconds


def train_transformers(model, batches, lr, heldout):
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM, DataCollatorForLanguageModeling

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model)
    lm = BertForMaskedLM.from_pretrained(model)
    collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    optimizer = hf_adamw(lm, lr)
    lm.train()
    start = time.perf_counter()
    for batch in batches:
        enc = tok(batch, truncation=True, max_length=512)
        features = collator([{"input_ids": ids} for ids in enc["input_ids"]])
        loss = lm(**features).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        lm.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        return held_out_scores(scorer_nlp(tmp), heldout), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="splade-tiny", help="a checkpoint directory, a ../shared/models name or 'minilm' (default splade-tiny)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--thinc-adam", action="store_true", help="ours with thinc's Adam.v1 (per-parameter clipping)")
    parser.add_argument("--side", choices=["both", "ours"], default="both")
    parser.add_argument("--export", default=None, help="export our adapted model there (a Hugging Face BertForMaskedLM directory), e.g. for python -m bench.training_parity --checkpoint")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    machine = print_machine()
    args.model = model_dir(args.model)
    texts = wikitext_paragraphs()
    heldout, train = texts[-args.heldout :], texts[: -args.heldout]
    batches = [[train[(s * args.batch + i) % len(train)] for i in range(args.batch)] for s in range(args.steps)]
    before, ours, ours_s = train_ours(args.model, batches, args.lr, heldout, args.thinc_adam, args.export)
    theirs, theirs_s = train_transformers(args.model, batches, args.lr, heldout) if args.side == "both" else (None, None)
    print(json.dumps({"model": Path(args.model).name, "ours_optimizer": "Adam.v1" if args.thinc_adam else "spacy-bert.AdamW.v1", "steps": args.steps, "batch": args.batch, "lr": args.lr,
                      "before": before, "ours": ours, "ours_train_s": round(ours_s, 1),
                      "transformers": theirs, "transformers_train_s": theirs_s and round(theirs_s, 1), "machine": machine}))


if __name__ == "__main__":
    main()

"""What the training comparisons share (`training_parity`, `parity_textcat`, `parity_qa`,
`cli_vs_loop`, `pretrain_quality`): the CoNLL reader, the shuffled batches, the Hugging Face
Trainer's AdamW parameter groups, the loss curve and the old thinc Adam block.

Kept apart from the scripts so that none of them imports another's `main` module (no cycles).
"""
import numpy as np

#: The thinc `Adam.v1` block the shipped configs had before `spacy-bert.AdamW.v1`.
THINC_ADAM = {"@optimizers": "Adam.v1", "beta1": 0.9, "beta2": 0.999, "L2_is_weight_decay": True, "L2": 0.01, "grad_clip": 1.0, "use_averages": False, "eps": 1e-8}


def load_docs(path, vocab, limit):
    """The Docs of a CoNLL file (spacy_bert's reader), the first `limit` (0: all)."""
    from spacy_bert.corpora.conll import conll_to_docs

    docs = list(conll_to_docs(path, vocab))
    return docs[:limit] if limit else docs


def batches_of(items, size, rng):
    """`items` shuffled by `rng` (random.Random), in chunks of `size`."""
    items = list(items)
    rng.shuffle(items)
    return [items[i : i + size] for i in range(0, len(items), size)]


def hf_adamw(model, lr, weight_decay=0.01):
    """torch AdamW with the Hugging Face Trainer's parameter groups: no decay on biases and
    LayerNorm weights."""
    import torch

    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, eps=1e-8)


def loss_curve(losses):
    """Mean training loss of each run of 10 steps."""
    return [round(float(np.mean(losses[i : i + 10])), 3) for i in range(0, len(losses), 10)]

"""Loss functions shared by the heads. Every loss ignores labels of -100, as Hugging Face does."""
import torch
import torch.nn.functional as F

from .inputs import IGNORE_INDEX, check_class_labels


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over labels != -100. logits (..., classes), labels (...).

    Labels are checked first (integer ids in [0, classes) or -100, one per row of logits): an
    out-of-range label is otherwise an IndexError on the CPU and a device-side assert on CUDA.
    """
    labels = check_class_labels(logits, labels)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token loss: position i predicts labels[i + 1]. logits (batch, seq, vocab), labels (batch, seq)."""
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]
    return cross_entropy(logits, shifted.to(logits.device))


def span_position_loss(logits: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of start (or end) positions. logits (batch, seq), positions (batch,) or (batch, 1).

    Positions outside [0, seq) are ignored: past the end as Hugging Face does (it clamps them
    to `seq` and ignores that index), and negative ones (e.g. -100) as every other loss here
    does. (Hugging Face clamps negative positions to 0, i.e. `[CLS]`.)
    """
    positions = positions.reshape(-1).to(logits.device)
    seq = logits.shape[1]
    positions = torch.where((positions < 0) | (positions >= seq), torch.full_like(positions, IGNORE_INDEX), positions)
    return cross_entropy(logits, positions)

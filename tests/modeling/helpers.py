"""Helpers of the modeling parity tests: tiny random transformers models, batches, tolerances."""
import torch

TINY = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    type_vocab_size=2,
    hidden_act="gelu",
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    num_labels=3,
)


def hf_model(class_name: str, attn_implementation: str = "sdpa", **overrides):
    """A transformers model of `class_name` with a tiny random config."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(**{**TINY, **overrides})
    config._attn_implementation = attn_implementation
    model = getattr(transformers, class_name)(config)
    # Random (not zero) biases and LayerNorm parameters, so a mis-wired one shows.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                param.normal_(mean=1.0 if name.endswith("weight") else 0.0, std=0.1)
    return model.eval()


def batch(batch_size: int = 3, seq_len: int = 11, vocab_size: int = 99, seed: int = 1):
    """input_ids with right padding, a matching attention mask and pair token types."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, vocab_size, (batch_size, seq_len), generator=g)
    lengths = [seq_len - 3 * i for i in range(batch_size)]
    attention_mask = torch.zeros(batch_size, seq_len, dtype=torch.long)
    token_type_ids = torch.zeros(batch_size, seq_len, dtype=torch.long)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
        token_type_ids[row, length // 2 : length] = 1
        input_ids[row, length:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def assert_close(ours: torch.Tensor, theirs: torch.Tensor, atol: float = 1e-4, mask=None) -> None:
    """Max abs difference ≤ atol (over unmasked positions when a (batch, seq) mask is given)."""
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if mask is not None:
        keep = mask.bool()
        ours, theirs = ours[keep], theirs[keep]
    diff = (ours.float() - theirs.float()).abs().max().item() if ours.numel() else 0.0
    assert diff <= atol, f"max abs difference {diff:.3g} > {atol}"

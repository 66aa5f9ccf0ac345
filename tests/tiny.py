"""The tiny random BERT configurations the component and layer tests share.

The real bert-base-uncased vocabulary (30,522 pieces) with a model small enough to train in a
test: 64 positions, so texts of more than 62 pieces already take several windows.
"""

#: `tiny_bert_dir` (tests/conftest.py): a `BertModel` checkpoint for the components.
TINY_BERT = dict(
    vocab_size=30522,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
)

#: transformers heads for parity tests: another intermediate size (so a swapped dimension
#: shows) and no dropout (so training steps compare exactly).
TINY_HEAD = dict(TINY_BERT, intermediate_size=48, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

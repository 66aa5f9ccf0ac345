"""The pipelines the speed benchmarks build (`bench.pipeline`, `bench.tasks`, `bench.phase_profile`):
our `bert` (+ spaCy `ner` on `spacy-bert.BertListener.v1`) or spacy-transformers' `transformer`
(+ `ner` on `spacy-transformers.TransformerListener.v1`), on the same checkpoint, initialized
from 4 examples (the heads are untrained: speed only), and our precision sides.
"""
from bench.harness import model_dir

LABELS = ("PER", "ORG", "LOC", "MISC")
ENCODER_PIPE = {"ours": "bert", "theirs": "transformer"}
PRECISIONS = ("float32", "int8", "bfloat16", "auto")
#: CPU flags that decide which precisions are native (shown with the results).
PRECISION_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")


def ours_side(precision: str) -> str:
    """Our side's name for `precision`: "ours" (fp32, the baseline) or "ours-<precision>"."""
    return "ours" if precision == "float32" else f"ours-{precision}"


def side_precision(side: str) -> str:
    """The `precision` of our side `side` (see `ours_side`)."""
    return side.partition("-")[2] or "float32"


def precision_flags() -> str:
    from spacy_bert.layers.precision.policy import auto_precision, cpu_flags

    flags = cpu_flags()
    shown = " ".join(f for f in PRECISION_FLAGS if f in flags) or "none of " + " ".join(PRECISION_FLAGS)
    return f"CPU flags: {shown}; precision 'auto' resolves to {auto_precision('cpu')} here"


def build_nlp(side: str, row: str, opts: dict, texts):
    """A blank English pipeline with the encoder (and ner), initialized from 4 examples."""
    import spacy
    from spacy.training import Example

    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    directory = model_dir()
    if side.startswith("ours"):
        config = {"checkpoint": directory, "max_batch_items": opts["bert_max_batch_items"], "precision": side_precision(side)}
        nlp.add_pipe("bert", config=config)
        listener = {"@architectures": "spacy-bert.BertListener.v1", "grad_factor": 1.0, "upstream": "*"}
    else:
        nlp.add_pipe(
            "transformer",
            config={
                "model": {
                    "@architectures": "spacy-transformers.TransformerModel.v3",
                    "name": directory,
                    "tokenizer_config": {"use_fast": True},
                    "transformer_config": {},
                    "mixed_precision": False,
                    "grad_scaler_config": {},
                    "get_spans": {
                        "@span_getters": "spacy-transformers.strided_spans.v1",
                        "window": opts["trf_window"],
                        "stride": opts["trf_stride"],
                    },
                }
            },
        )
        listener = {
            "@architectures": "spacy-transformers.TransformerListener.v1",
            "grad_factor": 1.0,
            "upstream": "*",
            "pooling": {"@layers": "reduce_mean.v1"},
        }
    if row == "pipeline":
        ner_model = {
            "@architectures": "spacy.TransitionBasedParser.v2",
            "state_type": "ner",
            "extra_state_tokens": False,
            "hidden_width": 64,
            "maxout_pieces": 2,
            "use_upper": False,
            "nO": None,
            "tok2vec": listener,
        }
        ner = nlp.add_pipe("ner", config={"model": ner_model})
        for label in LABELS:
            ner.add_label(label)
    examples = []
    for i, text in enumerate(texts[:4]):
        doc = nlp.make_doc(text)
        examples.append(Example.from_dict(doc, {"entities": [(0, len(doc[0].text), LABELS[i % len(LABELS)])]}))
    nlp.initialize(lambda: examples)
    if side.startswith("ours") and opts["dtype"] != "float32":
        import torch
        from spacy_bert.layers.encoder import get_shim

        get_shim(nlp.get_pipe("bert").model).bert.to(getattr(torch, opts["dtype"]))
    return nlp


def torch_module(nlp, side: str):
    if side.startswith("ours"):
        from spacy_bert.layers.encoder import get_shim

        # The module that predicts: the encoder itself in fp32, else its int8/bf16 copy (built
        # at the warm-up, kept while the weights do not change).
        return get_shim(nlp.get_pipe("bert").model).prediction_model()
    return nlp.get_pipe("transformer").model.transformer

"""Export a trained `bert_ner` / `bert_textcat` / `bert_qa` / `bert_fill_mask` as a Hugging Face checkpoint directory.

    from spacy_bert.pipeline.export import export_component
    export_component(nlp, "bert_ner", "out/ner-hf")   # or: spacy bert export PIPELINE bert_ner OUT

The directory (config.json with id2label/label2id, model.safetensors, tokenizer files) loads
in `transformers.AutoModelForTokenClassification` / `AutoModelForSequenceClassification` /
`AutoModelForQuestionAnswering`
with no missing or unexpected keys (`bert_fill_mask`: `AutoModelForMaskedLM`, or
`BertForPreTraining` after MLM + NSP training). A component that listens to a shared `bert` component is
exported with that component's (fine-tuned) encoder.
"""
import os
import warnings
from pathlib import Path
from typing import Union, cast

from spacy.language import Language

from ..checkpoint import save_pretrained
from ..errors import Errors, Warnings
from ..layers.encoder import BertShim, get_shim
from ..layers.training.listener import BertOutputListener
from .bert import Bert
from .task import BertTaskPipe
from .whole_model import BertModelPipe


def _shared_encoder(nlp: Language, name: str, upstream: str) -> BertShim:
    for other_name, pipe in nlp.pipeline:
        if isinstance(pipe, Bert) and (name in pipe.listening_components or other_name == upstream):
            return get_shim(pipe.model)
    raise ValueError(Errors.E363.format(name=name, reason=f"it listens to a bert component ({upstream!r}) that is not in the pipeline."))


def export_component(nlp: Language, name: str, output_dir: Union[str, os.PathLike]) -> Path:
    """Write component `name` of `nlp` as a Hugging Face checkpoint into `output_dir`.

    Returns:
        The output directory.
    """
    if name not in nlp.pipe_names:
        raise ValueError(Errors.E363.format(name=name, reason=f"no such component; the pipeline has {nlp.pipe_names}."))
    pipe = nlp.get_pipe(name)
    if isinstance(pipe, BertModelPipe) and not isinstance(pipe, Bert):
        # bert_qa / bert_fill_mask hold a whole BertForQuestionAnswering / BertForMaskedLM /
        # BertForPreTraining (own encoder, torch head; a tied decoder is written once)
        return pipe.export(Path(output_dir))
    if not isinstance(pipe, BertTaskPipe):
        raise ValueError(Errors.E363.format(name=name, reason=f"it is a {type(pipe).__name__}, not a bert_ner or bert_textcat component."))
    shim = None if pipe.owns_encoder else _shared_encoder(nlp, name, cast(BertOutputListener, pipe.encoder).upstream_name)
    model = pipe.to_hf_model(shim)
    tokenizer = (shim if shim is not None else get_shim(pipe.encoder)).tokenizer
    out = Path(output_dir)
    save_pretrained(model, out, tokenizer=tokenizer)
    if getattr(pipe, "pooling", "cls") != "cls":
        warnings.warn(Warnings.W680.format(name=name, path=out))
    return out

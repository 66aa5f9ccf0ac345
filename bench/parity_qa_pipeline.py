"""`bert_qa` with `scoring = "pipeline"` against transformers 4.x's own `QuestionAnsweringPipeline`
(transformers 5 removed it, so this runs with 4.53 on the path):

    pip install --no-deps --target /tmp/tf4 "transformers==4.53.0" "tokenizers==0.21.4" "huggingface_hub==0.33.4"
    PYTHONPATH=/tmp/tf4:. OMP_NUM_THREADS=1 python -m bench.parity_qa_pipeline

A random `BertForQuestionAnswering` (large qa_outputs weights, so pairs inside words win) on
contexts of multi-piece words, one and several windows, `top_k` 1/3/5, `align_to_words` on and
off. Per case: equal when Hugging Face returns top_k answers (texts, offsets, scores within
1e-5); when it returns fewer (merged pairs), its answers must all be in ours, in its order,
with its scores (ours fills the list). Prints the counts and exits 1 on any difference.
"""
import sys
import tempfile

import numpy as np

CONTEXT = (
    "Illiberalism and antidisestablishmentarianism troubled Köpenickers; the Brandenburgers' "
    "counterrevolutionaries misunderstood unconstitutionality, while Spreewalders "
    "photosynthesised overabundantly near Wusterhausen."
)
QUESTIONS = ["Who misunderstood unconstitutionality?", "What troubled the Köpenickers?", "Where?", "Who photosynthesised?"]


def main() -> int:
    import spacy
    import torch
    import transformers.utils.import_utils as import_utils

    # transformers 4.53 imports a newer `kernels` package of this environment when it finds one,
    # which needs a newer huggingface_hub than 4.53's; the pipeline does not use it.
    import_utils._kernels_available = False
    import transformers

    import spacy_bert.pipeline  # noqa: F401
    from bench.harness import model_dir

    assert transformers.__version__.startswith("4."), f"needs transformers 4.x on the path, got {transformers.__version__}"
    tokenizer = transformers.BertTokenizerFast.from_pretrained(model_dir())
    torch.manual_seed(3)
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48, max_position_embeddings=512)
    model = transformers.BertForQuestionAnswering(config).eval()
    with torch.no_grad():
        model.qa_outputs.weight.normal_(std=2.0)
    directory = tempfile.mkdtemp()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    hf = transformers.pipeline("question-answering", model=model, tokenizer=tokenizer, device=-1)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": directory, "max_seq_len": 40, "doc_stride": 12, "scoring": "pipeline"})
    qa = nlp.get_pipe("bert_qa")
    counts = {"cases": 0, "equal": 0, "hf_fewer_contained": 0, "differ": 0}
    for context in (CONTEXT, " ".join([CONTEXT] * 3)):
        for top_k in (1, 3, 5):
            for align in (True, False):
                qa.cfg.update(top_k=top_k, align_to_words=align)
                for question in QUESTIONS:
                    theirs = hf(question=question, context=context, top_k=top_k, align_to_words=align, max_seq_len=40, doc_stride=12)
                    theirs = theirs if isinstance(theirs, list) else [theirs]
                    doc = nlp.make_doc(context)
                    doc._.questions = [question]
                    ours = qa(doc)._.answers["0"]
                    counts["cases"] += 1
                    if len(theirs) == top_k:
                        same = [(a["answer"], a["start"], a["end"]) for a in ours] == [(a["answer"], a["start"], a["end"]) for a in theirs]
                        same = same and all(abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(ours, theirs))
                        key = "equal"
                    else:
                        by_text = {a["answer"]: a for a in ours}
                        order = [a["answer"] for a in ours if a["answer"] in {b["answer"] for b in theirs}]
                        same = order == [b["answer"] for b in theirs] and all(abs(by_text[b["answer"]]["score"] - b["score"]) <= 1e-5 for b in theirs)
                        key = "hf_fewer_contained"
                    counts[key if same else "differ"] += 1
                    if not same:
                        print("DIFFER", top_k, align, question, "\n ours  ", ours, "\n theirs", theirs)
    print(counts)
    return 1 if counts["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())

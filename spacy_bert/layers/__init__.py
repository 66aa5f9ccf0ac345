"""thinc glue, one folder per concept (imports point down this list):

    settings.py  EncoderSettings: window, stride, max_batch_items, n_threads, precision
    precision/   which copy of the model predicts, and how it is built (bf16, int8)
    shim/        the PyTorch model inside thinc: BertShim, loading, bytes, head weight names
    stages/      the encoder stages: encode -> windows -> batching -> hooks -> run -> merge
    encoder.py   `spacy-bert.BertEncoder.v1`, composing the stages
    training/    listeners on a shared encoder, one backward pass, the optimizer
    heads/       classifiers, token vectors, QA and masked-LM heads on the encoder

This package may use `tokenization/`, `checkpoint/` and `modeling/`, never `pipeline/`.
"""

"""The PyTorch model inside thinc: the shim, its files as bytes, and loading.

    bert_shim.py     BertShim: threads, device, the prediction copy, predict / begin_update
    loading.py       load_encoder: a checkpoint name -> model and tokenizer
    payload.py       a component's files as bytes: plain names, safetensors headers, no pickle
    head_weights.py  HEAD_PARAMS: each task head's Hugging Face weight names; strict saved folders
    torch_step.py    TorchStep: an optimizer that steps the shim's torch parameters in torch
"""

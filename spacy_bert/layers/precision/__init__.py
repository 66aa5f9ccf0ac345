"""Precision at load: which copy of the model predicts (fp32, bf16, fp16, int8) and how it is
built; and the arithmetic of training on the CPU (`train_precision`).

    policy.py       prediction_model, the `auto` rule table, PRECISIONS
    int8.py         Int8Linear: per-token activations, SmoothQuant, fp32 outlier channels
    qkv.py          the fused query/key/value product
    calibration.py  built-in calibration sentences, input ranges, SmoothQuant factors
    cpu.py          the CPU's flags (AMX, AVX-512 bf16/VNNI)
    training.py     train_precision: bf16 autocast of training on the CPU, fp32 master weights
"""

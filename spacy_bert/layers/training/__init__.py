"""Training glue: listeners on a shared encoder, their one backward pass, and the optimizer.

    listener.py         BertListener / BertOutputListener
    shared_gradient.py  SharedGradient: every listener's gradient into one encoder backward
    optim.py            spacy-bert.AdamW.v1 (Hugging Face's decoupled weight decay)
"""

"""What sits on the encoder: thinc heads with Hugging Face weight names, and heads run in torch.

    linear.py            token and sequence classifiers (bert_ner, bert_textcat)
    token_vectors.py     spacy-bert.BertTokenVectors.v1, token vectors for spaCy's own components
    sentence_vectors.py  pooled sentence vectors
    qa.py                every window's start/end logits; the QA training step
    mlm.py               MaskedLMAdapter: only the scored positions onto the vocabulary
    mlm_fill.py          fill-mask top-k and score_words
    mlm_train.py         MLM/NSP loss, gradients and scores
    masked_lm.py         spacy-bert.MaskedLM.v1, the thinc model of bert_fill_mask and pretraining
"""

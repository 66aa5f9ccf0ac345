"""Hugging Face's extractive-QA features, built the way `run_qa.py` builds them, for the tests
and for bench/parity_qa.py: the fast tokenizer's overflowing windows of a (question, context)
pair, and `prepare_train_features`' start/end labels."""


def hf_features(tokenizer, question, context, max_length, stride):
    """Every window of one (question, context) pair, unpadded: a BatchEncoding with
    `offset_mapping` and `sequence_ids(i)`."""
    return tokenizer(
        question, context, truncation="only_second", max_length=max_length, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )


def hf_train_labels(features, context, answer):
    """run_qa.py's prepare_train_features labels, verbatim in spirit (answer None: unanswerable)."""
    starts, ends = [], []
    for i, offsets in enumerate(features["offset_mapping"]):
        cls_index = features["input_ids"][i].index(101)
        seq = features.sequence_ids(i)
        if answer is None:
            starts.append(cls_index), ends.append(cls_index)
            continue
        start_char, end_char = answer["start"], answer["end"]
        token_start_index = 0
        while seq[token_start_index] != 1:
            token_start_index += 1
        token_end_index = len(features["input_ids"][i]) - 1
        while seq[token_end_index] != 1:
            token_end_index -= 1
        if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
            starts.append(cls_index), ends.append(cls_index)
            continue
        while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
            token_start_index += 1
        starts.append(token_start_index - 1)
        while offsets[token_end_index][1] >= end_char:
            token_end_index -= 1
        ends.append(token_end_index + 1)
    return starts, ends

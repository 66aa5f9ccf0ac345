"""User-facing error messages, with codes.

Each message shows the offending value and the expected one, and says how to fix it.
Codes are grouped by layer: E0xx modeling, E1xx checkpoint files, E2xx tokenization,
E3xx and above the spaCy layers. A released code keeps its meaning.
"""


class Errors:
    # ---- modeling (E0xx) -------------------------------------------------
    E001 = (
        "hidden_size ({hidden_size}) is not a multiple of num_attention_heads "
        "({num_attention_heads}). Choose a head count that divides the hidden size."
    )
    E002 = "Unknown hidden_act {value!r}. Expected one of: {expected}."
    E003 = "BertConfig.{field} must be {expected}, got {value!r}."
    E004 = (
        "input_ids contain the id {value}, but the model's vocabulary has only "
        "{vocab_size} entries (valid ids are 0..{max_id}). Use the tokenizer that "
        "belongs to this checkpoint."
    )
    E005 = (
        "The input has {length} positions (including past_key_values), but this model "
        "supports at most max_position_embeddings={limit}. Split long texts into windows "
        "(BertTokenizer(..., max_length=..., stride=..., return_overflowing_tokens=True))."
    )
    E006 = "Pass exactly one of input_ids or inputs_embeds, got {got}."
    E007 = (
        "token_type_ids contain the id {value}, but the model has type_vocab_size="
        "{type_vocab_size} (valid ids are 0..{max_id})."
    )
    E008 = (
        "{name} has shape {shape}, but {expected} was expected for input of shape {input_shape}."
    )
    E009 = (
        "encoder_hidden_states were passed, but this model was not built with "
        "add_cross_attention=True."
    )
    E010 = (
        "The attention mask has shape {shape}; expected (batch, seq) = {expected} "
        "or a 3D/4D mask that broadcasts to (batch, heads, seq, key_len)."
    )
    E011 = (
        "BertLMHeadModel needs is_decoder=True in its config to predict the next token; "
        "got is_decoder=False. Set config.is_decoder = True."
    )
    E012 = "problem_type {value!r} is not known. Expected one of: {expected}."

    # ---- checkpoint files (E1xx) ------------------------------------------
    E101 = (
        "Cannot find the checkpoint {name!r}: it is not a local directory{hub}. "
        "Pass the path of a local Hugging Face checkpoint directory (with config.json and "
        "model.safetensors or pytorch_model.bin)."
    )
    E102 = (
        "No weights found in {path}. Looked for: {expected}. Found only: {found}."
    )
    E103 = "Cannot read the weights file {path}: {error}. The file is corrupt or not a {kind} file."
    E104 = (
        "Refusing to load {path}: it contains pickled objects other than tensors ({error}). "
        "Only plain tensor checkpoints are read (torch.load(..., weights_only=True)); convert "
        "the file to safetensors with a tool you trust."
    )
    E105 = "The shard index {index} names the file {shard}, which does not exist in {path}."
    E106 = "No config.json in {path}. A Hugging Face checkpoint directory needs one."
    E107 = "Cannot read {path}: {error}."
    E108 = (
        "The checkpoint in {path} does not fit {model} built from its config: {count} tensor(s) "
        "have the wrong shape:\n{details}\nCheck that config.json belongs to these weights "
        "(e.g. vocab_size, hidden_size, num_labels)."
    )
    E109 = (
        "The checkpoint in {path} lacks {count} tensor(s) that {model} needs:\n{details}\n"
        "It may be a different architecture or an incomplete download."
    )
    E110 = (
        "The checkpoint in {path} has {count} tensor(s) that {model} does not know:\n{details}\n"
        "It may belong to another architecture; load it with the matching class."
    )
    E111 = (
        "The tokenizer vocabulary in {path} has {vocab} entries, but config.json says "
        "vocab_size={config}: ids past {last} would not exist in the model. Use the vocabulary "
        "that was trained with these weights."
    )
    E112 = "Cannot save to {path}: it exists and is not a directory."

    # ---- tokenization (E2xx) ----------------------------------------------


class Warnings:
    # ---- checkpoint files (W1xx) ------------------------------------------
    W101 = (
        "Loaded {model} from {path} without {count} tensor(s) the checkpoint has, which this "
        "class does not use: {names}."
    )
    W102 = (
        "{model} from {path}: {count} tensor(s) of {modules} are not in the checkpoint and were "
        "initialised fresh: {names}. Train the model before using its predictions."
    )

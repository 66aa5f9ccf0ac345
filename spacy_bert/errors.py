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
    E201 = (
        "The tokenizer directory {path} does not exist (or is not a directory). Expected a "
        "directory holding {expected}, such as a Hugging Face BERT checkpoint. Check the path, "
        "or write one with BertTokenizer.save_pretrained(...)."
    )
    E202 = (
        "The directory {path} holds no vocabulary for a BERT tokenizer: looked for {expected}, "
        "found {found}. Copy tokenizer.json or vocab.txt of the checkpoint into this directory."
    )
    E203 = (
        "vocab_file {path} is not an existing file. Expected the path of a WordPiece vocab.txt "
        "(one token per line); or pass vocab={{token: id}} instead."
    )
    E204 = (
        "Pass exactly one of vocab_file or vocab to BertTokenizer, got {got}. To load a "
        "checkpoint directory use BertTokenizer.from_pretrained(directory)."
    )
    E205 = (
        "vocab must map each token (str) to its own id (int >= 0), but {problem}. Fix the "
        "vocabulary (vocab.txt has one token per line; the line number is the id)."
    )
    E206 = (
        "The {name} {token!r} is not in the vocabulary ({size} entries). Pass {name}= the token "
        "this vocabulary uses for it (BERT vocabularies have [UNK], [SEP], [PAD], [CLS], [MASK])."
    )
    E207 = (
        "{name} must be {expected}, got a {type_name}: {value}. Pass one text as a str, a "
        "batch as a list of str, and second texts of pairs through text_pair."
    )
    E208 = (
        "text has {n_text} entries but text_pair has {n_pair}; a batch of pairs needs exactly "
        "one text_pair per text."
    )
    E209 = "{name}={value!r} is not valid. Expected {expected}."
    E210 = (
        "max_length={max_length} is too small: {what} {n_special} special tokens ([CLS], [SEP]) "
        "plus at least one piece, so max_length must be at least {minimum}. Raise max_length "
        "(up to the model's limit, usually 512)."
    )
    E211 = (
        "stride={stride} is too large for max_length={max_length}: a window holds "
        "{max_length} - {n_special} special tokens = {window} pieces, and consecutive windows must "
        "advance, so stride must be at most {maximum}. Lower stride or raise max_length."
    )
    E212 = (
        "Truncation with truncation={strategy!r}, max_length={max_length}, stride={stride} failed: "
        "{error}. With a pair, each sequence must keep more than stride pieces, and "
        "'only_first'/'only_second' need the other sequence to fit on its own; "
        "truncation='longest_first' with a smaller stride always works."
    )
    E213 = (
        "return_tensors needs every row of {key} to have the same length, got lengths {lengths}. "
        "Pass padding=True (pad to the longest) or padding='max_length', or return_tensors=None."
    )
    E214 = (
        "{path} holds a {kind} model, but a BERT tokenizer needs a WordPiece model. Use the "
        "tokenizer files of a BERT checkpoint."
    )
    E215 = "{path} is not a valid tokenizer file: {error}. Re-save it from the original checkpoint."
    E216 = (
        "The added token {token!r} should have id {expected} according to the tokenizer files, "
        "but gets id {got} from the vocabulary ({size} entries). The files disagree; re-save the "
        "tokenizer from the original checkpoint."
    )
    E217 = (
        "Cannot write vocab.txt: the vocabulary ids must be 0..{max_id} without gaps, but {problem}. "
        "vocab.txt stores each token's id as its line number; renumber the vocabulary."
    )
    E218 = (
        "never_split must be a list of str, got a {type_name}: {value}. Pass e.g. "
        "never_split=['[unused1]']."
    )
    E219 = (
        "truncation='only_second' truncates text_pair, but no text_pair was given. Use "
        "truncation=True (longest_first) or 'only_first' for single texts."
    )
    E220 = (
        "get_special_tokens_mask(already_has_special_tokens=True) takes one formatted sequence "
        "(token_ids_0), got a token_ids_1 too. Pass the whole [CLS] A [SEP] B [SEP] as token_ids_0."
    )
    E221 = "decode takes one sequence of ids, got a nested list. Use batch_decode for several."
    E222 = (
        "stride={stride} is too large for input {index} with truncation={strategy!r} and "
        "max_length={max_length}: each window keeps only {kept} pieces of its {name}, and stride "
        "must be smaller than that. Lower stride, raise max_length, or shorten the other text "
        "of the pair."
    )
    E231 = (
        "{name} must be integer char offsets of shape (n, 2), one [start, end) per row, got an "
        "array of shape {shape} and dtype {dtype}. Pass e.g. the offsets of "
        "BertTokenizer.encode_with_offsets, or [(token.idx, token.idx + len(token)) for token in doc]."
    )
    E232 = (
        "{name}[{index}] = {offset} is not a char range: expected 0 <= start <= end. Pass "
        "[start, end) offsets into the text, as the tokenizer and token.idx give them."
    )
    E233 = (
        "n_pieces={n_pieces} but piece_offsets has {n_offsets} rows; expected one offset per "
        "piece. Pass the ids and offsets of the same encode_with_offsets call."
    )
    E234 = (
        "piece_offsets must have non-decreasing {what}, as the tokenizer gives them, but piece "
        "{index} {offset} comes after {previous}. Pass the offsets in the order of the pieces, "
        "without reordering or mixing texts."
    )
    # Warnings of the tokenization layer (kept here with their E2xx neighbours).

    # ---- layers (E3xx) -----------------------------------------------------
    E301 = (
        "window={window} is too small: a window holds [CLS], at least one piece and [SEP], so "
        "window must be at least 3. Use the model's max_position_embeddings (usually 512)."
    )
    E302 = (
        "stride={stride} does not fit window={window}: a window holds {content} pieces "
        "(window - 2 for [CLS] and [SEP]) and stride is the overlap of consecutive windows, so "
        "0 <= stride <= {maximum} is expected. Lower stride or raise window."
    )
    E303 = (
        "n_pieces[{index}] = {value}, but a piece count must be an int >= 0. Pass len(ids) of "
        "each text's encode_with_offsets."
    )
    E304 = (
        "max_batch_items={value}, but the piece budget of a batch must be an int >= 1. Use a "
        "budget of at least the model's window (e.g. 4096 positions)."
    )
    E305 = (
        "lengths[{index}] = {value}, but a window length must be an int >= 0. Pass "
        "plan.length + 2 of a WindowPlan."
    )
    E306 = (
        "Window {window} of text {text} covers pieces {start}..{end} (exclusive), but "
        "piece_ids[{text}] has only {n} pieces. The WindowPlan was made for other texts; plan "
        "the windows from the lengths of these piece_ids."
    )


    # ---- thinc wrapper and spaCy components (E35x) -------------------------
    E351 = (
        "The BERT encoder has no weights yet: its checkpoint is read at nlp.initialize() or on "
        "first use. Set the component's 'checkpoint' to a local Hugging Face BERT directory."
    )
    E352 = "Unknown pooling {value!r}. Expected one of: {expected}."
    E355 = (
        "This component listens to the bert component {name!r}, but the Doc has no `doc._.bert`: "
        "put the bert component before it in the pipeline (and do not disable it), or give the "
        "component its own encoder."
    )
    E356 = (
        "The classifier expects vectors of width {expected}, but the encoder gives {got}: the "
        "head was trained on a different BERT. Use the encoder the component was trained with."
    )
    E357 = (
        "Token classification needs the piece states of the shared bert component, but it ran "
        "with `store_piece_states = false`. Set it to true, or give this component its own encoder."
    )
    E358 = (
        "The {name!r} component has no labels yet, so it cannot predict. Call `nlp.initialize()` "
        "with training examples (or `labels=`), or configure a checkpoint that holds a fine-tuned "
        "{head} head with `id2label` in its config.json."
    )
    E359 = (
        "The checkpoint {path} holds a {head} head whose labels are not IOB2 tags: {labels}. "
        "bert_ner reads `id2label` values such as 'O', 'B-PER', 'I-PER'."
    )
    E360 = (
        "The {name!r} component (exclusive classes) needs at least two labels, got {count}: "
        "{labels}. Add labels, or use `multi_label = true` for independent labels."
    )
    E361 = (
        "The checkpoint {path} was fine-tuned with problem_type {problem_type!r}, but the "
        "{name!r} component has multi_label = {multi_label}. Set multi_label to match the checkpoint."
    )
    E362 = "Unknown aggregation strategy {value!r}. Expected one of: {expected}."
    E363 = (
        "Cannot export {name!r}: {reason}"
    )
    E354 = "The {name!r} component's {field} is {value!r}; expected {expected}."
    E353 = (
        "The BERT encoder '{name}' has no checkpoint configured, so there are no weights to read. "
        "Set one, e.g. nlp.add_pipe('bert', config={{'checkpoint': 'path/to/bert'}}), or "
        "'checkpoint' in the [components.bert] block of the training config."
    )

    # ---- project, CLI, configs, packaging, similarity (E5xx, issue 11) -----
    E500 = (
        "spacy-bert.warmup_linear.v1: total_steps must be a positive integer, got {value!r}. "
        "The configs set total_steps = ${{training.max_steps}}: with max_steps = 0 (train by "
        "epochs) set [training.optimizer.learn_rate] total_steps to the number of steps you expect."
    )
    E501 = "spacy-bert.warmup_linear.v1: warmup_ratio must be in [0, 1), got {value!r} (e.g. 0.1)."
    E502 = "spacy-bert.warmup_linear.v1: initial_rate must be >= 0, got {value!r} (e.g. 0.0001)."
    E503 = (
        "init-config: cannot find the checkpoint {checkpoint!r}: {error} Pass a local Hugging Face "
        "BERT directory (with config.json), or a hub id while online."
    )
    E504 = (
        "init-config: the checkpoint {checkpoint!r} has no readable config.json at {path}. A Hugging "
        "Face BERT directory holds config.json, the weights and vocab.txt."
    )
    E505 = (
        "init-config: the checkpoint {checkpoint!r} is not a BERT: {path} has model_type {value!r}, "
        "expected 'bert'. spacy-bert runs the Hugging Face BERT family only."
    )
    E506 = "init-config: unknown task {value!r}. Expected one of: {expected}."
    E510 = (
        "Assets not ready: {problems}. Online, run again (or `python -m spacy project assets .`); "
        "offline, take them from a directory DIR that holds the same files: add "
        "`--vars.{var} DIR` to `spacy project run` or `spacy project assets` (a local path works "
        "in place of the URL; the checksums are the same)."
    )
    E511 = "fetch-assets: {dests} are not assets of project.yml. Its assets are: {known}."
    E520 = (
        "--gpu-id {gpu_id} asks for a GPU, but CuPy is not installed, so spaCy cannot use one. "
        "On a machine with an NVIDIA GPU and CUDA 12: pip install \"spacy-bert[cuda12x]\" (CuPy for "
        "CUDA 12; [cuda11x] for CUDA 11) and a CUDA build of torch, e.g. pip install torch "
        "--index-url https://download.pytorch.org/whl/cu126. Without a GPU, use --gpu-id -1."
    )
    E521 = (
        "--gpu-id {gpu_id} asks for a GPU, but none is usable here: CuPy is installed but finds no "
        "CUDA device, or torch {torch} is not a CUDA build (torch.version.cuda = {cuda}). Check "
        "nvidia-smi, install the CuPy matching your CUDA (spacy-bert[cuda12x] or [cuda11x]) and a CUDA "
        "build of torch (https://pytorch.org/get-started/locally/), or use --gpu-id -1."
    )


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

    # ---- tokenization (W2xx) ---------------------------------------------
    W301 = (
        "{name}: {count} gold entit{ies} of {total} could not be expressed on the predicted "
        "tokens' WordPieces (a boundary inside a token or piece, or no piece at all) and "
        "were left out of the loss (their tokens are ignored, not trained as 'O'). Examples: {examples}"
    )
    W302 = (
        "{name}: the checkpoint's head has no rows for the labels {labels}; they were added "
        "with freshly initialised weights."
    )
    W201 = (
        "Truncation to max_length={max_length} dropped pieces: {details}. The model will not see "
        "them. To keep every piece, pass return_overflowing_tokens=True (and stride=N for N pieces "
        "of overlap) to get all overlapping windows of max_length, or truncation=False."
    )
    W202 = "These never_split words have no effect: {details}."
    W203 = (
        "The tokenizer config in {path} sets do_basic_tokenize=False. Like transformers' "
        "BertTokenizer we always split at whitespace and punctuation before WordPiece; the "
        "option is ignored."
    )
    W204 = (
        "max_length={max_length} is ignored: padding=True pads to the longest row and truncation "
        "is off. Use padding='max_length' to pad to max_length, or truncation=True to cut there."
    )

    # ---- project, CLI, configs, packaging, similarity (W5xx, issue 11) -----
    W500 = (
        "The checkpoint's config.json names the head(s) {heads}, which {task} does not load "
        "(it loads {expected}): the head is dropped and a fresh one is trained from your labels."
    )

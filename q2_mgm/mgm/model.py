"""MGM model directories: read, validate and write, without any pickle.

A model directory holds ``config.json`` (Hugging Face GPT-2 config),
``model.safetensors``, ``vocabulary.txt``, ``normalization.tsv`` and
``manifest.json`` (kind, class labels, label tokens, training parameters and
history, library versions). A classifier or regressor whose strategy uses
estimators on frozen features also holds ``heads.safetensors`` (see
``heads``). A predictor that uses the packaged network unchanged stores no
network files: its manifest names the packaged files by their SHA-256
(``PACKAGED_NETWORK``), and loading takes them from the package.
"""
import hashlib
import json
import platform
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import transformers
from transformers import (GPT2Config, GPT2ForSequenceClassification,
                          GPT2LMHeadModel)
from transformers.modeling_utils import no_init_weights

from .vocabulary import Vocabulary

FILES = ("config.json", "model.safetensors", "vocabulary.txt",
         "normalization.tsv", "manifest.json")
# Files whose SHA-256 digests ``save`` writes to SHA256SUMS and loading checks.
CHECKED_FILES = FILES[:4]
HEADS_FILE = "heads.safetensors"
PACKAGED_NETWORK = "packaged_network"
KINDS = ("pretrained", "classifier", "regressor")
# Tensors each part of a predictor's mixture stores in HEADS_FILE.
HEAD_TENSORS = {
    "forest": ("forest.genera", "forest.roots", "forest.left",
               "forest.right", "forest.feature", "forest.threshold",
               "forest.value"),
    "linear": ("linear.mean", "linear.scale", "linear.coef",
               "linear.intercept")}
MANIFEST_FORMAT = "q2-mgm model"
MANIFEST_VERSION = 1
# GPT-2's causal-mask buffers, recomputed by the network and never stored.
# Every other tensor is a weight: ``transformer.h.N.attn.c_attn.bias``, the
# query/key/value bias, also ends in ``attn.bias``.
_MASK_BUFFER = re.compile(r"transformer\.h\.\d+\.attn\.(?:bias|masked_bias)")


def is_mask_buffer(name):
    """True for the names of GPT-2's non-persistent causal-mask buffers."""
    return _MASK_BUFFER.fullmatch(name) is not None


class ModelError(ValueError):
    """A model directory that is incomplete or inconsistent."""


def _fail(path, problem):
    raise ModelError(
        f"The MGM model at {path} is damaged: {problem}. Re-create it with "
        "`qiime mgm pretrained-model` or the action that trained it.")


def _read_json(path, name):
    try:
        return json.loads((Path(path) / name).read_text())
    except (OSError, ValueError) as error:
        _fail(path, f"{name} cannot be read as JSON ({error})")


def weight_shapes(path):
    """Tensor name -> shape, read from the safetensors header only."""
    try:
        with safetensors.safe_open(str(Path(path) / "model.safetensors"),
                                   framework="pt") as handle:
            return {k: tuple(handle.get_slice(k).get_shape())
                    for k in handle.keys()}
    except Exception as error:  # safetensors raises several error types
        _fail(path, f"model.safetensors cannot be read ({error})")


TIED = ("transformer.wte.weight", "lm_head.weight")


def check_tensors(path, shapes, config, kind):
    """Stored tensor names and shapes are exactly the network's."""
    try:
        with torch.device("meta"):
            network = build_network(GPT2Config.from_dict(config), kind,
                                    initialise=False)
    except Exception as error:  # a config transformers cannot build
        _fail(path, f"config.json does not describe an MGM network "
                    f"({error})")
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()
                if not is_mask_buffer(k)}
    if kind == "pretrained" and any(k in shapes for k in TIED):
        # Tied input and output embeddings are stored once.
        for name in TIED:
            expected.pop(name)
        stored = next(k for k in TIED if k in shapes)
        expected[stored] = tuple(network.transformer.wte.weight.shape)
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    misshapen = sorted(k for k in set(expected) & set(shapes)
                       if expected[k] != shapes[k])
    if missing or unexpected or misshapen:
        _fail(path, "model.safetensors does not hold the network's tensors "
                    f"(missing: {missing[:3] or 'none'}; unexpected: "
                    f"{unexpected[:3] or 'none'}; wrong shape: "
                    f"{misshapen[:3] or 'none'})")


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(path):
    path = Path(path)
    names = [name for name in CHECKED_FILES + (HEADS_FILE,)
             if (path / name).is_file()]
    (path / "SHA256SUMS").write_text("".join(
        f"{file_digest(path / name)}  {name}\n" for name in names))


def check_checksums(path):
    """The files listed in SHA256SUMS (when present) have those digests."""
    sums = Path(path) / "SHA256SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if not (Path(path) / name).is_file() \
                or file_digest(Path(path) / name) != digest:
            _fail(path, f"{name} does not match its checksum in SHA256SUMS "
                        "(the file was changed or truncated)")


def network_class(manifest):
    """``classifier`` when the network ends in a sequence head (a
    fine-tuned predictor), else ``pretrained`` (a language model)."""
    default = "pretrained" if manifest.get("kind") == "pretrained" \
        else "classifier"
    return manifest.get("network", default)


def outputs(manifest):
    """Outputs of a predictor: one per class, or one value."""
    return 1 if manifest.get("kind") == "regressor" \
        else len(manifest.get("labels") or [])


def check_heads(path, manifest, n_embd):
    """The frozen-feature estimators the manifest's mixture names exist,
    are finite and fit the model."""
    parts = [p for p, w in manifest.get("weights", {}).items()
             if p != "network" and w > 0]
    if not parts:
        return
    if not (Path(path) / HEADS_FILE).is_file():
        _fail(path, f"{HEADS_FILE} is missing (the {', '.join(parts)} "
                    "part(s) of the predictor)")
    try:
        heads = safetensors.torch.load_file(str(Path(path) / HEADS_FILE))
    except Exception as error:
        _fail(path, f"{HEADS_FILE} cannot be read ({error})")
    for part in parts:
        missing = [n for n in HEAD_TENSORS[part] if n not in heads]
        if missing:
            _fail(path, f"{HEADS_FILE} lacks {', '.join(missing)}")
    if not all(torch.isfinite(t.double()).all() for t in heads.values()):
        _fail(path, f"{HEADS_FILE} holds infinite or NaN values")
    classes = outputs(manifest)
    rows = 1 if classes <= 2 else classes  # binary logistic: one row
    if "linear" in parts and tuple(heads["linear.coef"].shape) != (
            rows, n_embd):
        _fail(path, "the linear model's coefficients do not fit the "
                    "embeddings and the predicted values")
    if "forest" in parts and heads["forest.value"].shape[1] != classes:
        _fail(path, "the random forest's leaves do not fit the predicted "
                    "values")


def listed_digests(path):
    """File name -> SHA-256 as listed in a directory's SHA256SUMS."""
    sums = Path(path) / "SHA256SUMS"
    if not sums.is_file():
        return {}
    return {name: digest for digest, _, name in
            (line.partition("  ") for line in sums.read_text().splitlines())}


def packaged_digests():
    """SHA-256 of the packaged network's files."""
    listed = listed_digests(packaged_model_path())
    return {name: listed[name] for name in CHECKED_FILES}


def network_directory(path, manifest):
    """Where a model's network files are: its own directory, or the
    package's when the manifest refers to the packaged network."""
    reference = manifest.get(PACKAGED_NETWORK)
    if reference is None:
        return Path(path)
    if reference != packaged_digests():
        _fail(path, "it was made on the MGM network packaged with another "
                    "q2-mgm (its manifest records the files' SHA-256), "
                    "which this installation does not hold; install the "
                    "q2-mgm version named in its manifest, or fit the model "
                    "again")
    return packaged_model_path()


def validate(path, checksums=True):
    """Check that the parts of a model directory agree; return manifest.
    ``checksums``: also verify the files against SHA256SUMS."""
    path = Path(path)
    if not (path / "manifest.json").is_file():
        _fail(path, "missing manifest.json")
    manifest = _read_json(path, "manifest.json")
    own = PACKAGED_NETWORK not in manifest
    missing = [name for name in FILES if not (path / name).is_file()
               and (own or name == "manifest.json")]
    if missing:
        _fail(path, f"missing {', '.join(missing)}")
    if checksums:
        check_checksums(path)
    network_path = network_directory(path, manifest)
    config = _read_json(network_path, "config.json")
    if manifest.get("format") != MANIFEST_FORMAT:
        _fail(path, "manifest.json is not a q2-mgm model manifest")
    kind = manifest.get("kind")
    if kind not in KINDS:
        _fail(path, f"manifest kind {kind!r} is not one of {KINDS}")
    try:
        vocabulary = Vocabulary.from_files(
            network_path / "vocabulary.txt",
            network_path / "normalization.tsv")
    except (ValueError, KeyError, OSError) as error:
        _fail(path, str(error))
    shapes = weight_shapes(network_path)
    # Tied weights are stored once, under either name.
    embedding = shapes.get("transformer.wte.weight",
                           shapes.get("lm_head.weight"))
    if embedding is None:
        _fail(path, "model.safetensors has no token embedding matrix")
    if not (embedding[0] == len(vocabulary) == config.get("vocab_size")):
        _fail(path, f"the vocabulary has {len(vocabulary)} tokens, the "
                    f"embedding matrix {embedding[0]} rows and config.json "
                    f"vocab_size {config.get('vocab_size')}")
    max_length = manifest.get("max_length", config.get("n_positions"))
    if not 3 <= int(max_length) <= int(config.get("n_positions", 0)):
        _fail(path, f"manifest max_length {max_length} does not fit the "
                    f"model's {config.get('n_positions')} positions")
    network = network_class(manifest)
    check_tensors(network_path, shapes, config, network)
    head = shapes.get("score.weight")
    if kind == "classifier" and len(manifest.get("labels") or []) < 2:
        _fail(path, "a classifier needs at least two class labels")
    if network == "classifier" and (head is None
                                    or head[0] != outputs(manifest)):
        _fail(path, f"the network's head has {head[0] if head else 'no'} "
                    f"outputs for {outputs(manifest)} predicted value(s)")
    if kind == "pretrained" and network != "pretrained":
        _fail(path, "a pretrained model must not have a prediction head")
    check_heads(path, manifest, config.get("n_embd"))
    return manifest


@dataclass
class MGMModel:
    """An MGM network with its vocabulary and manifest."""

    network: torch.nn.Module
    vocabulary: Vocabulary
    manifest: dict = field(default_factory=dict)
    heads: dict = field(default_factory=dict)  # name -> tensor (``heads``)
    packaged: bool = False  # the network is the packaged one, unchanged

    @property
    def kind(self):
        return self.manifest["kind"]

    @property
    def labels(self):
        return list(self.manifest.get("labels", []))

    @property
    def max_length(self):
        return int(self.manifest.get("max_length",
                                     self.network.config.n_positions))

    @property
    def default_pooling(self):
        return "eos" if network_class(self.manifest) == "classifier" \
            else "mean"

    @property
    def backbone(self):
        """The GPT-2 transformer shared by both kinds of model."""
        return self.network.transformer


def build_network(config, kind, initialise=True):
    """An untrained network of the given kind from a GPT2Config; without
    ``initialise`` its weights are left as allocated (for weights about to
    be loaded)."""
    config.use_cache = False
    cls = GPT2ForSequenceClassification if kind == "classifier" \
        else GPT2LMHeadModel
    if initialise:
        return cls(config)
    with no_init_weights():
        network = cls(config)
    network.tie_weights()  # what initialising would have done
    return network


def load(path):
    """Read and validate a model directory; never unpickles."""
    path = Path(path)
    manifest = validate(path)
    heads = (safetensors.torch.load_file(str(path / HEADS_FILE))
             if (path / HEADS_FILE).is_file() else {})
    if PACKAGED_NETWORK in manifest:
        packaged = load_pretrained()
        return MGMModel(packaged.network, packaged.vocabulary, manifest,
                        heads, packaged=True)
    config = GPT2Config.from_json_file(str(path / "config.json"))
    network = build_network(config, network_class(manifest),
                            initialise=False)
    try:
        missing, unexpected = safetensors.torch.load_model(
            network, str(path / "model.safetensors"), strict=False)
    except Exception as error:
        _fail(path, f"the weights do not fit the network ({error})")
    missing = [k for k in missing if not is_mask_buffer(k)]
    if missing or unexpected:
        _fail(path, f"model.safetensors lacks {len(missing)} tensor(s) "
                    f"{missing[:3]} and has {len(unexpected)} unexpected "
                    f"{unexpected[:3]}")
    non_finite = [name for name, tensor in network.state_dict().items()
                  if not torch.isfinite(tensor).all()]
    if non_finite:
        _fail(path, f"{len(non_finite)} tensor(s) hold infinite or NaN "
                    f"values ({', '.join(non_finite[:3])})")
    network.eval()
    vocabulary = Vocabulary.from_files(path / "vocabulary.txt",
                                       path / "normalization.tsv")
    listed = listed_digests(path)
    packaged = {name: listed.get(name) for name in CHECKED_FILES} \
        == packaged_digests()
    return MGMModel(network, vocabulary, manifest, heads, packaged)


def library_versions():
    from .. import __version__
    return {"q2-mgm": __version__, "torch": torch.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
            "python": platform.python_version()}


def save(model, path):
    """Write a model directory (the inverse of ``load``)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if PACKAGED_NETWORK not in model.manifest:
        save_network(model, path)
    if model.heads:
        safetensors.torch.save_file(
            {k: v.contiguous() for k, v in model.heads.items()},
            str(path / HEADS_FILE))
    manifest = {"format": MANIFEST_FORMAT,
                "format_version": MANIFEST_VERSION,
                **model.manifest}
    manifest.setdefault("versions", library_versions())
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    write_checksums(path)  # just computed: no need to verify them again
    validate(path, checksums=False)


def save_network(model, path):
    """The network files of a model directory, with the licence notice of
    weights derived from the published MGM."""
    network = model.network
    network.config.vocab_size = len(model.vocabulary)
    config = network.config.to_dict()
    for key in ("_attn_implementation_autoset", "transformers_version",
                "_name_or_path", "torch_dtype", "dtype"):
        config.pop(key, None)
    (path / "config.json").write_text(json.dumps(config, indent=2,
                                                 sort_keys=True) + "\n")
    safetensors.torch.save_model(network, str(path / "model.safetensors"))
    model.vocabulary.write(path / "vocabulary.txt",
                           path / "normalization.tsv")
    licence = packaged_model_path() / "LICENSE"
    if (not model.manifest.get("parameters", {}).get("from_scratch")
            and licence.is_file()
            and licence.resolve() != (path / "LICENSE").resolve()):
        shutil.copyfile(licence, path / "LICENSE")


def packaged_model_path():
    """Directory of the published pretrained MGM shipped with q2-mgm."""
    return Path(str(resources.files("q2_mgm") / "pretrained"))


def load_pretrained():
    """The published pretrained MGM."""
    return load(packaged_model_path())

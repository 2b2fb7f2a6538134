"""The MGM vocabulary: special tokens, genus tokens and their normalization.

Genus tokens are stored as the published model names them (``g__Bacteroides``).
``genus_key`` maps the genus names of Greengenes, SILVA, GTDB, RDP and plain
lineages onto those tokens.
"""
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

PAD, MASK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<mask>", "<bos>", "<eos>")
GENUS_PREFIX = "g__"
LABEL_PREFIX = "<label:"

RANK_PREFIX = re.compile(r"^(?:[a-z]{1,2}|D_\d+)__")
GENUS_RANK = re.compile(r"^(?:g|D_5)__")
_NO_NAME = {"", "uncultured", "uncultured_bacterium", "unidentified",
            "unknown", "unclassified", "metagenome", "incertae_sedis",
            "ambiguous_taxa", "gut_metagenome", "none", "nan"}
# Mothur/RDP confidence: ``Bacteroides(100)``.
_CONFIDENCE = re.compile(r"\(\d+(?:\.\d+)?%?\)$")
# Greengenes writes some genera in brackets: ``[Ruminococcus]``.
_BRACKETED = re.compile(r"\[([^\[\]]+)\]")
# SILVA: ``Prevotella_9``, ``Clostridium_sensu_stricto_1``.
_SILVA_SUFFIX = re.compile(r"_(?:sensu_stricto(?:_\d+)?|\d+)$")
# GTDB: ``Bacteroides_A``, ``Clostridium_AQ`` (written with an underscore).
_GTDB_SUFFIX = re.compile(r"_[A-Z]{1,2}$")
# The published name pattern: the characters after ``g__`` that it keeps.
_PUBLISHED_NAME = re.compile(r"[A-Za-z0-9_]+")


def genus_name(token):
    """A genus token without its prefix (``g__Bacteroides`` ->
    ``Bacteroides``), for labels in figures."""
    return token[len(GENUS_PREFIX):] if token.startswith(GENUS_PREFIX) \
        else token


def label_token(label):
    """The token a class label becomes when it conditions pre-training."""
    return f"{LABEL_PREFIX}{label}>"


def clean_genus_name(name):
    """A genus name without rank prefix, confidence, quotes, Greengenes
    brackets or spaces (``g__Candidatus Soleaferrea`` ->
    ``Candidatus_Soleaferrea``); '' for an empty or uncultured one."""
    name = RANK_PREFIX.sub("", name.strip().strip("'\""))
    name = _CONFIDENCE.sub("", name).strip()
    name = re.sub(r"\s+", "_", name)
    bracketed = _BRACKETED.fullmatch(name)
    if bracketed:
        name = bracketed.group(1)
    if name.lower() in _NO_NAME or name.lower().startswith("uncultured"):
        return ""
    return name


def genus_candidates(name):
    """Spellings of one genus to look up, most specific first.

    Only spellings of the same genus: SILVA's numbered and sensu-stricto
    suffixes, GTDB's letter suffixes and, for names without spaces, the
    part the published name pattern keeps (``Escherichia-Shigella`` ->
    ``Escherichia``). SILVA's ``[Ruminococcus]_torques_group`` is not
    ``Ruminococcus`` and has no candidate but itself.
    """
    cleaned = clean_genus_name(name)
    if not cleaned:
        return []
    candidates = [cleaned]
    stripped = _SILVA_SUFFIX.sub("", cleaned)
    if not re.search(r"\s", name.strip()):
        stripped = _GTDB_SUFFIX.sub("", stripped)
        published = _PUBLISHED_NAME.match(cleaned)
        candidates.append(published.group(0) if published else "")
    candidates.insert(1, stripped)
    return [c for c in dict.fromkeys(candidates) if c]


def genus_of_lineage(lineage):
    """The genus field of a taxonomy string, or '' when it has none.

    Ranks are separated by ``;`` (or ``|`` as MetaPhlAn writes them).
    Prefixed lineages (``g__``, ``D_5__``) are read by prefix; plain
    lineages (``Bacteria;Firmicutes;...``) by position, genus being the sixth
    rank (after an optional leading ``Root``).
    """
    if not isinstance(lineage, str):
        return ""
    ranks = [r.strip() for r in re.split(r"[;|]", lineage) if r.strip()]
    if any(RANK_PREFIX.match(r) for r in ranks):
        genus = [r for r in ranks if GENUS_RANK.match(r)]
        return genus[0] if genus else ""
    if ranks and ranks[0].lower() == "root":
        ranks = ranks[1:]
    return ranks[5] if len(ranks) > 5 else ""


@dataclass(frozen=True)
class Vocabulary:
    """Tokens of a model and the normalization of its genus tokens."""

    tokens: tuple
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def from_files(cls, vocabulary_path, normalization_path):
        tokens = tuple(Path(vocabulary_path).read_text().splitlines())
        if tokens[:4] != SPECIAL_TOKENS:
            raise ValueError(
                f"{vocabulary_path}: the first four tokens must be "
                f"{', '.join(SPECIAL_TOKENS)}.")
        norm = pd.read_csv(normalization_path, sep="\t", index_col=0)
        genera = [t for t in tokens if t.startswith(GENUS_PREFIX)]
        if list(norm.index) != genera:
            raise ValueError(
                f"{normalization_path} does not list the genus tokens of "
                f"{vocabulary_path} in the same order.")
        if not (norm["std"] > 0).all():
            raise ValueError(
                f"{normalization_path}: every standard deviation must be > 0.")
        return cls(tokens, norm["mean"].to_numpy(float),
                   norm["std"].to_numpy(float))

    def write(self, vocabulary_path, normalization_path):
        Path(vocabulary_path).write_text("\n".join(self.tokens) + "\n")
        norm = pd.DataFrame({"mean": self.mean, "std": self.std},
                            index=pd.Index(self.genus_tokens, name="genus"))
        norm.to_csv(normalization_path, sep="\t")

    def __len__(self):
        return len(self.tokens)

    # Derived tables are computed once per vocabulary (cached_property
    # writes to the instance dict, which a frozen dataclass allows).
    @cached_property
    def genus_tokens(self):
        return tuple(t for t in self.tokens if t.startswith(GENUS_PREFIX))

    @cached_property
    def genus_ids(self):
        """Token ids of the genus tokens, in normalization-table order."""
        return np.array([i for i, t in enumerate(self.tokens)
                         if t.startswith(GENUS_PREFIX)], dtype=np.int64)

    @cached_property
    def label_tokens(self):
        return [t for t in self.tokens if t.startswith(LABEL_PREFIX)]

    def token_id(self, token):
        return self._token_index[token]

    @cached_property
    def _token_index(self):
        return {t: i for i, t in enumerate(self.tokens)}

    @cached_property
    def _genus_lookup(self):
        return {token[len(GENUS_PREFIX):]: position
                for position, token in enumerate(self.genus_tokens)}

    @cached_property
    def _name_cache(self):
        return {}

    def genus_position(self, lineage):
        """Position of a lineage's genus among the genus tokens, or -1."""
        return self.name_position(genus_of_lineage(lineage))

    def name_position(self, name):
        """Position of a genus name among the genus tokens, or -1."""
        cache = self._name_cache
        if name not in cache:
            lookup = self._genus_lookup
            cache[name] = next((lookup[candidate]
                                for candidate in genus_candidates(name)
                                if candidate in lookup), -1)
        return cache[name]

    def extended(self, new_tokens, mean=None, std=None):
        """A vocabulary with tokens appended (labels, or genera with stats)."""
        new_tokens = [t for t in new_tokens if t not in self._token_index]
        genera = [t for t in new_tokens if t.startswith(GENUS_PREFIX)]
        add_mean = np.asarray(mean if mean is not None else [], float)
        add_std = np.asarray(std if std is not None else [], float)
        if len(add_mean) != len(genera) or len(add_std) != len(genera):
            raise ValueError("New genus tokens need a mean and a std each.")
        return Vocabulary(self.tokens + tuple(new_tokens),
                          np.concatenate([self.mean, add_mean]),
                          np.concatenate([self.std, add_std]))

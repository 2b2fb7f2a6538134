"""Synthetic communities sampled from a pretrained MGM.

A batched autoregressive sampler with its own seeded ``torch.Generator``
(reproducible for a given ``random_state``): each sentence starts with
``<bos>`` (and the label token when conditioned), special and label tokens
are banned after the prefix, a genus is never repeated, ``<eos>`` cannot
come first and is forced at ``max_length``. By default only the 50 most
likely next genera are drawn from, as the published sampler (Hugging Face
``generate`` with its default top-k) does.

A sentence ranks genera by standardized abundance, so relative abundances
are built by inverting the standardization: tokenizing the generated table
gives back the generated sentence. Their shape follows a rank-abundance
profile: the model's own (learned by ``pretrain``) or, for a model without
one, a Zipf law (abundance ∝ 1/rank). Ranks carry no exact abundances, so
the abundances are a typical profile, not a prediction.
"""
import re
from dataclasses import dataclass

import biom
import numpy as np
import pandas as pd
import torch

from .engine import Engine
from .pretraining import N_RANKS, power_law
from .vocabulary import BOS, EOS, SPECIAL_TOKENS

UNCONDITIONED = "unconditioned"


@dataclass
class Sampling:
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    max_length: int = 512
    random_state: int = 0
    batch_size: int = 64
    device: str = "auto"
    threads: int = 0
    precision: str = "float32"


def rank_profile(model):
    """Relative abundance by rank: the model's profile, else Zipf."""
    profile = model.manifest.get("rank_abundance")
    if profile:
        return np.asarray(profile, dtype=float)
    return power_law(np.arange(1, N_RANKS + 1))


def label_prefixes(model, labels, n_samples):
    """Per sample: the prefix token ids and the label (n per label)."""
    if model.kind != "pretrained":
        raise ValueError(
            "Generation needs a pretrained MGM model (a language model); "
            "a classifier cannot generate communities.")
    if not labels:
        return [[BOS]] * n_samples, [UNCONDITIONED] * n_samples
    known = model.manifest.get("label_tokens") or {}
    unknown = [label for label in labels if label not in known]
    if unknown:
        offered = (", ".join(map(repr, sorted(known))) if known else
                   "none (the model was pre-trained without labels)")
        raise ValueError(
            f"Label(s) {', '.join(map(repr, unknown))} are not labels of "
            f"this model. Its labels: {offered}. Pre-train with metadata to "
            "condition generation on labels.")
    prefixes, names = [], []
    for label in dict.fromkeys(labels):
        token = model.vocabulary.token_id(known[label])
        prefixes += [[BOS, token]] * n_samples
        names += [label] * n_samples
    return prefixes, names


def banned_tokens(vocabulary):
    """Tokens never generated after the prefix (``<eos>`` excepted)."""
    banned = torch.zeros(len(vocabulary), dtype=torch.bool)
    banned[:len(SPECIAL_TOKENS)] = True
    banned[EOS] = False
    for token in vocabulary.label_tokens:
        banned[vocabulary.token_id(token)] = True
    return banned


def filter_logits(logits, temperature, top_k, top_p):
    """Temperature, top-k and nucleus (top-p) filtering of next-token
    logits; removed tokens get ``-inf``."""
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    if top_p < 1.0:
        ordered, order = torch.sort(logits, descending=True)
        probabilities = torch.softmax(ordered, -1)
        outside = probabilities.cumsum(-1) - probabilities > top_p
        logits = logits.scatter(
            1, order, ordered.masked_fill(outside, -torch.inf))
    return logits


def sampler(banned, sampling, generator):
    """The engine's per-batch step function: no banned or repeated token,
    no ``<eos>`` first, ``<eos>`` forced at the last step, then
    temperature, top-k and top-p filtering and a seeded draw."""
    def start(n):
        used = banned.repeat(n, 1)

        def step(logits, index, last):
            logits = logits.masked_fill(used, -torch.inf)
            if index == 0:
                logits[:, EOS] = -torch.inf
            if last:
                logits = torch.full_like(logits, -torch.inf)
                logits[:, EOS] = 0.0
            logits = filter_logits(logits, sampling.temperature,
                                   sampling.top_k, sampling.top_p)
            token = torch.multinomial(torch.softmax(logits, -1), 1,
                                      generator=generator).squeeze(1)
            used[torch.arange(n), token] = True
            return token
        return step
    return start


def sample_sentences(model, prefixes, sampling):
    """Genus token ids of one sampled sentence per prefix."""
    shortest = len(prefixes[0]) + 2
    if not shortest <= sampling.max_length <= model.max_length:
        raise ValueError(
            f"max_length must be between {shortest} (room for <bos>, the "
            f"label, one genus and <eos>) and {model.max_length}.")
    engine = Engine(model, device=sampling.device,
                    batch_size=sampling.batch_size, threads=sampling.threads,
                    precision=sampling.precision)
    generator = torch.Generator(device=engine.device)
    generator.manual_seed(sampling.random_state)
    banned = banned_tokens(model.vocabulary).to(engine.device)
    return engine.decode(prefixes, sampler(banned, sampling, generator),
                         sampling.max_length)


GAP = 1e-6  # least difference of standardized values between ranks


def ordered_abundances(mean, std, target):
    """Relative abundances (summing to 1, all > 0) whose standardized
    values ``(p - mean) / std`` strictly decrease in the given order, so
    that MGM's ranking of them is that order.

    ``target`` is the wanted abundance at each rank (a rank-abundance
    profile). Its standardized values are shifted by one constant ``c``,
    raised where needed to stay above zero abundance and below the rank
    before, and ``c`` is found by bisection so that the abundances sum
    to 1.
    """
    ranks = np.arange(len(mean))
    floor = -mean / std + GAP            # just above zero abundance
    wanted = (target / target.sum() - mean) / std

    def abundances(c):
        z = np.maximum(wanted + c, floor) + ranks * GAP
        z = np.maximum.accumulate(z[::-1])[::-1] - ranks * GAP
        return mean + std * z

    low, high = -1.0, 1.0
    while abundances(low).sum() > 1:
        if low < -1e12:
            raise ValueError("No abundances give this ranking.")
        low *= 2
    while abundances(high).sum() < 1:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = ((middle, high) if abundances(middle).sum() < 1
                     else (low, middle))
    p = abundances(high)
    return p / p.sum()


def abundance_table(sentences, sample_ids, vocabulary, profile):
    """Relative-frequency biom table of generated genus rank orders.

    Abundances invert MGM's standardization, so that tokenizing the table
    gives back each generated sentence; their shape follows ``profile``.
    """
    tokens = np.unique(np.concatenate(sentences))
    genus_index = np.full(len(vocabulary), -1, dtype=np.int64)
    genus_index[vocabulary.genus_ids] = np.arange(len(vocabulary.genus_ids))
    data = np.zeros((len(tokens), len(sentences)))
    for column, sentence in enumerate(sentences):
        position = genus_index[sentence]
        data[np.searchsorted(tokens, sentence), column] = ordered_abundances(
            vocabulary.mean[position], vocabulary.std[position],
            profile[:len(sentence)])
    names = [vocabulary.tokens[t] for t in tokens]
    return biom.Table(data, names, list(sample_ids))


def genus_lineage(token):
    """A Greengenes-style lineage that only names the genus, so that the
    generated table reads back into MGM and q2-taxa (genus = level 6)."""
    return f"k__; p__; c__; o__; f__; {token}"


def id_safe(labels):
    """Label -> a distinct ASCII letters-digits-underscores form for sample
    IDs (the label itself is in the labels output); any label (accents,
    quotes, emoji) gives IDs every QIIME 2 format can store."""
    slugs = {}
    for k, label in enumerate(labels, start=1):
        ascii_form = label.encode("ascii", "ignore").decode()
        slug = re.sub(r"[^A-Za-z0-9]+", "_", ascii_form).strip("_")
        if not slug or slug in slugs.values():
            slug = f"{slug or 'label'}{k}"
        slugs[label] = slug
    return slugs


def generate_samples(model, n_samples, labels=None, sampling=None):
    """(table, taxonomy, labels) of ``n_samples`` per label (or in all)."""
    if n_samples < 1:
        raise ValueError("n_samples must be at least 1.")
    sampling = sampling or Sampling()
    prefixes, names = label_prefixes(model, labels, n_samples)
    sentences = sample_sentences(model, prefixes, sampling)
    if labels:
        slugs = id_safe(list(dict.fromkeys(names)))
        sample_ids = [f"synthetic-{slugs[label]}-{i % n_samples + 1}"
                      for i, label in enumerate(names)]
    else:
        sample_ids = [f"synthetic-{i + 1}" for i in range(len(names))]
    table = abundance_table(sentences, sample_ids, model.vocabulary,
                            rank_profile(model))
    genera = table.ids(axis="observation")
    taxonomy = pd.Series([genus_lineage(g) for g in genera],
                         index=pd.Index(genera, name="Feature ID"),
                         name="Taxon")
    label_series = pd.Series(names, index=pd.Index(sample_ids,
                                                   name="sample-id"),
                             name="label")
    return table, taxonomy, label_series

"""Continued pre-training of MGM: causal language modelling on a corpus.

A corpus is the rank sentences of a feature table. Optionally each sample's
label (for example a diet) becomes a token right after ``<bos>``, so that
the model learns communities conditioned on the label, and genera of the
corpus that the vocabulary lacks become new tokens. The corpus also yields
a rank-abundance profile (mean relative abundance of the genus at each
rank), which generation uses to turn rank orders back into abundances.
"""
import copy
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from transformers import GPT2Config

from .engine import Engine
from .model import MGMModel, build_network
from .tokens import MAX_LENGTH, Sentences, genus_table, rank_sentences
from .training import PRETRAINING, train, validation_split
from .labels import sample_labels
from .vocabulary import (EOS, GENUS_PREFIX, PAD, genus_candidates,
                         genus_of_lineage, label_token)

log = logging.getLogger("q2_mgm")
N_RANKS = MAX_LENGTH - 2
IGNORE = -100


@dataclass
class Corpus:
    """Rank sentences of a corpus with the vocabulary that encodes them."""

    vocabulary: object
    sentences: Sentences
    label_tokens: dict          # label -> token
    rank_abundance: np.ndarray  # mean relative abundance at rank 1..510
    dropped: list               # samples with no vocabulary genus


def new_genus_tokens(unmapped_lineages, vocabulary):
    """``g__Name`` tokens for genera of lineages the vocabulary lacks."""
    known = set(vocabulary.tokens)
    tokens = []
    for lineage in unmapped_lineages:
        candidates = genus_candidates(genus_of_lineage(lineage))
        if candidates:
            token = GENUS_PREFIX + candidates[0]
            if token not in known:
                known.add(token)
                tokens.append(token)
    return tokens


def relative_abundances(genera):
    """Samples x present genera, relative to each sample's vocabulary reads."""
    counts = genera.counts.tocsr().astype(np.float64)
    sums = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return counts.multiply(scale[:, None]).tocsr()


def extend_genera(table, taxonomy, vocabulary):
    """The vocabulary plus the corpus's unknown genera, with their
    normalization (mean and std of relative abundance over the corpus)."""
    unmapped = genus_table(table, taxonomy, vocabulary).unmapped
    tokens = new_genus_tokens(unmapped.index, vocabulary)
    if not tokens:
        return vocabulary
    n_old = len(vocabulary.genus_tokens)
    provisional = vocabulary.extended(tokens, np.zeros(len(tokens)),
                                      np.ones(len(tokens)))
    genera = genus_table(table, taxonomy, provisional)
    relative = relative_abundances(genera)
    n = relative.shape[0]
    mean = np.asarray(relative.sum(axis=0)).ravel() / n
    square = np.asarray(relative.multiply(relative).sum(axis=0)).ravel() / n
    std = np.sqrt(np.maximum(square - mean ** 2, 0.0))
    new = genera.genus_positions >= n_old
    by_position = dict(zip(genera.genus_positions[new] - n_old,
                           zip(mean[new], std[new])))
    stats = np.array([by_position.get(i, (0.0, 0.0))
                      for i in range(len(tokens))])
    stats[stats[:, 1] <= 0, 1] = 1.0
    return vocabulary.extended(tokens, stats[:, 0], stats[:, 1])


def labels_or_blank(sample_ids, labels):
    """Each sample's label as a string, '' where it has none."""
    if labels is None:
        return np.full(len(sample_ids), "", dtype=object)
    return sample_labels(sample_ids, labels).reindex(sample_ids).fillna(
        "").to_numpy(dtype=object)


def with_label_tokens(vocabulary, label_tokens, labels):
    """Vocabulary and label -> token map covering every label given."""
    label_tokens = dict(label_tokens)
    for label in sorted(set(labels) - {""}):
        label_tokens.setdefault(label, label_token(label))
    return vocabulary.extended(list(label_tokens.values())), label_tokens


def insert_after_bos(sentences, token_ids):
    """Insert ``token_ids[i]`` after ``<bos>`` of sentence i (-1: none)."""
    token_ids = np.asarray(token_ids, dtype=np.int64)
    insert = (token_ids >= 0).astype(np.int64)
    lengths = sentences.lengths
    sample = np.repeat(np.arange(len(lengths)), lengths)
    index = np.arange(len(sentences.tokens))
    shift = np.cumsum(np.concatenate([[0], insert]))[:-1]
    after_bos = index != sentences.offsets[:-1][sample]
    new_offsets = np.concatenate([[0], np.cumsum(lengths + insert)])
    tokens = np.empty(new_offsets[-1], dtype=np.int64)
    tokens[index + shift[sample] + (after_bos & (insert[sample] == 1))] = \
        sentences.tokens
    has = insert == 1
    tokens[new_offsets[:-1][has] + 1] = token_ids[has]
    return Sentences(sentences.sample_ids, tokens, new_offsets)


def power_law(ranks, exponent=1.0):
    """Zipf-like abundance ``r ** -exponent`` at the given ranks."""
    return np.asarray(ranks, dtype=float) ** -exponent


def rank_abundance(genera, sentences, vocabulary, n_ranks=N_RANKS):
    """Mean relative abundance of the genus at each rank 1..n_ranks.

    A rank no sample reaches is filled from a power law fitted (log-log)
    to the ranks that are observed.
    """
    relative = relative_abundances(genera)
    genus_position = np.full(len(vocabulary), -1, dtype=np.int64)
    genus_position[vocabulary.genus_ids] = np.arange(len(vocabulary.genus_ids))
    position = genus_position[sentences.tokens]
    is_genus = position >= 0
    sample = np.repeat(np.arange(len(sentences)), sentences.lengths)[is_genus]
    column = np.searchsorted(genera.genus_positions, position[is_genus])
    rows = genera.sample_ids.get_indexer(sentences.sample_ids)[sample]
    values = np.asarray(relative[rows, column]).ravel()
    per_sample = np.bincount(sample, minlength=len(sentences))
    rank = np.arange(len(sample)) - np.repeat(
        np.concatenate([[0], np.cumsum(per_sample)[:-1]]), per_sample)
    keep = rank < n_ranks
    total = np.bincount(rank[keep], weights=values[keep], minlength=n_ranks)
    seen = np.bincount(rank[keep], minlength=n_ranks)
    profile = np.divide(total, seen, out=np.zeros(n_ranks), where=seen > 0)
    ranks = np.arange(1, n_ranks + 1)
    fit = (seen > 0) & (profile > 0)
    if fit.sum() >= 2:
        slope, intercept = np.polyfit(np.log(ranks[fit]),
                                      np.log(profile[fit]), 1)
        filled = np.exp(intercept + slope * np.log(ranks))
    else:
        filled = power_law(ranks)
    return np.where(fit, profile, filled)


def build_corpus(table, taxonomy, vocabulary, labels=None, label_tokens=None,
                 extend_vocabulary=False, max_length=MAX_LENGTH):
    """Sentences (with label tokens) of every sample that has a genus."""
    if extend_vocabulary:
        vocabulary = extend_genera(table, taxonomy, vocabulary)
    genera = genus_table(table, taxonomy, vocabulary)
    per_sample = labels_or_blank(genera.sample_ids, labels)
    vocabulary, label_tokens = with_label_tokens(
        vocabulary, label_tokens or {}, per_sample)
    has_label = labels is not None
    sentences, _ = rank_sentences(genera, vocabulary,
                                  max_length - int(has_label))
    kept = np.flatnonzero(sentences.lengths > 0)
    if len(kept) == 0:
        raise ValueError(
            "The corpus is empty: no sample has a genus of the MGM "
            "vocabulary. Check that the taxonomy reaches genus level, or set "
            "extend_vocabulary to add the corpus's genera to the model.")
    dropped = list(sentences.sample_ids[sentences.lengths == 0])
    sentences = sentences.subset(kept)
    profile = rank_abundance(genera, sentences, vocabulary)
    ids = np.array([vocabulary.token_id(label_tokens[v]) if v else -1
                    for v in per_sample[kept]], dtype=np.int64)
    if has_label:
        sentences = insert_after_bos(sentences, ids)
    return Corpus(vocabulary, sentences, label_tokens, profile, dropped)


def language_model_loss(network, ids, positions):
    """Mean next-token cross-entropy of a batch (pad positions ignored)."""
    return network(input_ids=ids,
                   labels=ids.masked_fill(ids == PAD, IGNORE)).loss


def predicted_tokens(sentences):
    """``batch_weight`` of ``language_model_loss``: the tokens its mean is
    over (every token of a sentence but the first)."""
    return lambda positions: float(np.sum(sentences.lengths[positions] - 1))


def starting_network(model, vocabulary, from_scratch, random_state):
    """The network to train: a copy of the model's, or the same
    architecture freshly initialised, with an embedding row for every token
    of ``vocabulary``."""
    torch.manual_seed(random_state)
    if from_scratch:
        config = GPT2Config.from_dict(model.network.config.to_dict())
        config.vocab_size = len(vocabulary)
        return build_network(config, "pretrained")
    network = copy.deepcopy(model.network)
    if network.get_input_embeddings().num_embeddings != len(vocabulary):
        network.resize_token_embeddings(len(vocabulary))
    return network


def prepare(model, table, taxonomy, labels=None, from_scratch=False,
            extend_vocabulary=False, random_state=0):
    """The corpus and the network to train on it (same on every rank)."""
    if model.kind != "pretrained":
        raise ValueError("Pre-training starts from a pretrained MGM model, "
                         "not a classifier.")
    corpus = build_corpus(table, taxonomy, model.vocabulary, labels,
                          model.manifest.get("label_tokens"),
                          extend_vocabulary, model.max_length)
    if len(corpus.sentences) < 2:
        raise ValueError("Pre-training needs at least two samples with a "
                         "genus of the vocabulary.")
    if corpus.dropped:
        log.warning("%d sample(s) without a vocabulary genus were left out: "
                    "%s", len(corpus.dropped),
                    ", ".join(map(str, corpus.dropped)))
    network = starting_network(model, corpus.vocabulary, from_scratch,
                               random_state)
    return corpus, network


def trained_model(start, corpus, network, history, parameters):
    """The pre-trained ``MGMModel`` with its manifest."""
    manifest = {
        "kind": "pretrained", "labels": [],
        "label_tokens": corpus.label_tokens,
        "max_length": start.max_length, "pooling": "mean",
        "parameters": parameters,
        "history": history,
        "rank_abundance": [float(v) for v in corpus.rank_abundance],
        "source": {
            "started_from": ("random initialisation"
                             if parameters.get("from_scratch")
                             else start.manifest.get("source", {})),
            "corpus_samples": len(corpus.sentences),
            "added_genera": len(corpus.vocabulary.genus_tokens)
            - len(start.vocabulary.genus_tokens)},
    }
    return MGMModel(network, corpus.vocabulary, manifest)


def pretrain_model(model, table, taxonomy, labels=None, from_scratch=False,
                   extend_vocabulary=False, settings=PRETRAINING,
                   checkpoints=None):
    """Continue (or start) causal-language-model pre-training on a table.

    ``labels``: a Series of sample labels (missing: no label token).
    ``checkpoints``: a ``checkpoints.Checkpoints`` to save the run to and
    resume it from. Under ``torch.distributed`` every process calls this
    with the same arguments (see ``q2_mgm.distributed_pretraining``).
    Returns a new ``MGMModel`` of kind ``pretrained``.
    """
    corpus, network = prepare(model, table, taxonomy, labels, from_scratch,
                              extend_vocabulary, settings.random_state)
    train_positions, validation_positions = validation_split(
        len(corpus.sentences), settings.validation_fraction,
        settings.random_state)
    parameters = {**settings.as_dict(), "from_scratch": from_scratch,
                  "extend_vocabulary": extend_vocabulary}
    trained = trained_model(model, corpus, network, [], parameters)
    engine = Engine(trained, device=settings.device,
                    threads=settings.threads)
    trained.manifest["history"] = train(
        engine, corpus.sentences, train_positions, validation_positions,
        language_model_loss, settings, predicted_tokens(corpus.sentences),
        checkpoints)
    return trained


def next_genus_loss(model, sentences, batch_size=64, device="cpu"):
    """Mean cross-entropy of predicting each genus (and ``<eos>``) from the
    tokens before it; label tokens are context, never targets."""
    targets = np.zeros(len(model.vocabulary), dtype=bool)
    targets[model.vocabulary.genus_ids] = True
    targets[EOS] = True
    engine = Engine(model, device=device, batch_size=batch_size)
    return engine.next_token_loss(sentences, targets)


def corpus_loss(model, table, taxonomy, labels=None, batch_size=64,
                device="cpu"):
    """Held-out next-genus loss of a model on a table (its own vocabulary;
    label tokens are used where the model knows the sample's label)."""
    tokens = model.manifest.get("label_tokens") or {}
    if labels is not None:
        labels = pd.Series(labels)
        labels = labels[labels.astype(str).isin(tokens)]
    corpus = build_corpus(table, taxonomy, model.vocabulary,
                          labels if tokens else None, tokens,
                          max_length=model.max_length)
    return next_genus_loss(model, corpus.sentences, batch_size, device)

"""Interpreting MGM: attention received by genera and in-silico perturbation.

Attention: the engine averages the attention matrices of a sentence over all
layers and heads; a genus's weight in a sample is the sum of its column (the
attention it receives from the tokens that follow it). A genus absent from a
sample receives nothing (weight 0).

Perturbation: a genus of a target-group sample is moved right after
``<bos>`` (``enrich``), right before ``<eos>`` (``reduce``) or removed
(``delete``); the cosine similarity of the sample's embedding to the mean
embedding of the reference group is compared before and after.

Leave-one-genus-out (as published): a genus is removed from a sample and
the cosine similarity of the sample's own embedding before and after is
the measure; no reference group is involved. A low similarity marks a genus
with a large effect on the community's representation.
"""
import difflib
import itertools
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import wilcoxon

from .nulls import MOST_DRAWS, NULL_COLUMNS, null_ranks, rank_matched_null
from .progress import Progress
from .statistics import benjamini_hochberg, draws_for
from .vocabulary import (GENUS_PREFIX, GENUS_RANK, RANK_PREFIX,
                         clean_genus_name, genus_name, genus_of_lineage)

# Lineages typed as a genus list start with one of these (unprefixed).
_LINEAGE_ROOTS = {"root", "bacteria", "archaea", "eukaryota"}

MODES = ("enrich", "reduce", "delete")
EFFECT_COLUMNS = ("genus", "mode", "samples", "similarity_before",
                  "similarity_after", "shift", "wilcoxon_statistic",
                  "wilcoxon_p", "wilcoxon_q") + NULL_COLUMNS


# Groups -------------------------------------------------------------------

def check_groups(groups, column_name, *names):
    """Error unless every named group has samples."""
    present = sorted(groups.unique())
    for name in names:
        if name not in present:
            raise ValueError(
                f"Group {name!r} has no sample in the metadata column "
                f"{column_name!r} (among the table's samples). Groups "
                f"found: {', '.join(present)}.")


# Attention ----------------------------------------------------------------

@dataclass
class Attention:
    """Attention received by every genus token of every sentence."""

    sample_ids: pd.Index
    sample: np.ndarray      # sentence position of each record
    token: np.ndarray       # genus token id of each record
    weight: np.ndarray      # averaged over layers and heads
    per_layer: np.ndarray   # records x layers (averaged over heads)

    def matrix(self, vocabulary, values=None):
        """Samples x genus tokens DataFrame (0 where a genus is absent)."""
        values = self.weight if values is None else values
        genera, column = np.unique(self.token, return_inverse=True)
        dense = sp.csr_matrix(
            (values, (self.sample, column)),
            shape=(len(self.sample_ids), len(genera))).toarray()
        names = [vocabulary.tokens[t] for t in genera]
        return pd.DataFrame(dense, index=self.sample_ids,
                            columns=pd.Index(names, name="genus"))

    def presence(self, vocabulary):
        return self.matrix(vocabulary, np.ones(len(self.token))) > 0


def attention(engine, sentences, vocabulary):
    """Collect the attention each genus token receives, per sentence."""
    is_genus = np.array([t.startswith(GENUS_PREFIX)
                         for t in vocabulary.tokens])
    parts = []
    for position, weights, per_layer in engine.attention_received(sentences):
        tokens = sentences.sentence(position)
        keep = is_genus[tokens]
        parts.append((np.full(keep.sum(), position), tokens[keep],
                      weights[keep], per_layer[:, keep].T))
    sample, token, weight, layers = (np.concatenate(p) for p in zip(*parts))
    return Attention(sentences.sample_ids, sample, token, weight, layers)


class AttentionTotals:
    """Running sums over chunks of samples, per group: the attention each
    genus token receives summed over the samples, the samples where it is
    present, and the samples (what importance needs, not each sample's
    value)."""

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary
        self.weight, self.present, self.samples = {}, {}, {}

    def add(self, received, groups=None):
        """Add an ``Attention`` of some samples; ``groups``: the group of
        each sample ID (None: all in one group)."""
        labels = (np.full(len(received.sample_ids), "", dtype=object)
                  if groups is None else
                  groups.reindex(received.sample_ids).to_numpy())
        size = len(self.vocabulary.tokens)
        for group in pd.unique(labels):
            members = labels == group
            records = members[received.sample]
            tokens = received.token[records]
            self.samples[group] = self.samples.get(group, 0) + members.sum()
            self.weight[group] = self.weight.get(group, 0) + np.bincount(
                tokens, received.weight[records].astype(np.float64), size)
            self.present[group] = self.present.get(group, 0) + np.bincount(
                tokens, minlength=size)
        return self

    def importance(self):
        """Mean attention where present, and prevalence, per genus (and
        group).

        Columns are ``importance`` and ``prevalence``, or
        ``importance:<group>`` and ``prevalence:<group>`` per group; rows
        are sorted by the mean of the importance columns, highest first.
        """
        seen = np.flatnonzero(sum(self.present.values()))
        columns = {}
        for group in sorted(self.samples):
            present = self.present[group][seen]
            suffix = f":{group}" if group else ""
            columns[f"importance{suffix}"] = self.weight[group][seen] \
                / np.maximum(present, 1)
            columns[f"prevalence{suffix}"] = present / self.samples[group]
        out = pd.DataFrame(columns, index=pd.Index(
            [self.vocabulary.tokens[t] for t in seen], name="genus"))
        out = out.loc[:, [c for c in out if c.startswith("importance")] +
                      [c for c in out if c.startswith("prevalence")]]
        order = out.filter(like="importance").mean(axis=1)
        return out.loc[order.sort_values(ascending=False,
                                         kind="stable").index]


def layer_profile(attention_, vocabulary, groups, genera):
    """Mean attention received per layer where present: one DataFrame
    (genera x layers) per group."""
    names = np.array(vocabulary.tokens)[attention_.token]
    sample_group = groups.reindex(attention_.sample_ids).to_numpy()
    n_layers = attention_.per_layer.shape[1]
    layers = pd.DataFrame(attention_.per_layer,
                          columns=[f"layer {i + 1}" for i in range(n_layers)])
    layers["genus"] = names
    layers["group"] = sample_group[attention_.sample]
    layers = layers[layers["genus"].isin(genera) & layers["group"].notna()]
    return {group: frame.drop(columns="group").groupby("genus").mean()
            .reindex(genera)
            for group, frame in layers.groupby("group")}


# Perturbation ----------------------------------------------------------------

def perturb_sentence(sentence, index, mode):
    """The sentence with the token at ``index`` moved or removed.

    ``<bos>`` (first) and ``<eos>`` (last) always stay in place.
    """
    token = sentence[index]
    body = np.delete(sentence, index)
    if mode == "enrich":
        return np.insert(body, 1, token)
    if mode == "reduce":
        return np.insert(body, len(body) - 1, token)
    return body


def cosine_to(vectors, centroid):
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(centroid)
    return (vectors @ centroid) / np.where(norms == 0, 1, norms)


def _job_indices(sentence, wanted, ranks):
    """Positions in a sentence to perturb: those of the ``wanted`` genus
    ids, and the genera at ``ranks(length)`` (ranks from 1) if given."""
    body = sentence[1:-1]
    keep = np.isin(body, list(wanted))
    if ranks is not None:
        keep[ranks(len(body)) - 1] = True
    return np.flatnonzero(keep) + 1


def perturbation_jobs(sentences, genus_ids, modes, ranks=None):
    """(sentence position, genus id, mode, perturbed tokens) of every
    perturbation of the genera present in the sentences (and of those at
    ``ranks(length)``, see ``_job_indices``)."""
    wanted = set(int(g) for g in genus_ids)
    for position in range(len(sentences)):
        sentence = sentences.sentence(position)
        for index in _job_indices(sentence, wanted, ranks):
            for mode in modes:
                yield (position, int(sentence[index]), mode,
                       perturb_sentence(sentence, index, mode))


def perturbed_embeddings(engine, sentences, genus_ids, modes, pooling,
                         chunk_size=32768, ranks=None, progress=None):
    """Yield ``(before, jobs, after)`` per chunk of perturbations.

    ``before``: one row per sentence, the unperturbed embedding of each
    sentence perturbed so far (the others are NaN); ``jobs``:
    ``perturbation_jobs`` tuples; ``after``: the embedding of each job's
    perturbed sentence, from the engine's ``embed_variants`` (the genera
    before the perturbed one are computed once per sample, and with them
    the sample's ``before``). A perturbation that leaves a sentence
    unchanged reuses its ``before`` row. ``progress`` (a
    ``progress.Progress`` counting perturbed sentences) advances as they
    are embedded; without it, one is made for these sentences.
    """
    before = np.full((len(sentences), engine.network.config.n_embd),
                     np.nan, dtype=np.float32)
    if progress is None:
        progress = Progress("perturbation",
                            perturbation_count(sentences, genus_ids, modes,
                                               ranks),
                            "perturbed sentences embedded")
    jobs = perturbation_jobs(sentences, genus_ids, modes, ranks)
    while chunk := list(itertools.islice(jobs, chunk_size)):
        positions = np.array([job[0] for job in chunk], dtype=np.int64)
        changed = np.array([not np.array_equal(job[3], sentences.sentence(p))
                            for p, job in zip(positions, chunk)])
        after = np.empty((len(chunk), before.shape[1]), dtype=np.float32)
        if changed.any():
            after[changed] = engine.embed_variants(
                sentences, positions[changed],
                [job[3] for job, c in zip(chunk, changed) if c], pooling,
                embedded=before, progress=progress)
        missing = np.unique(positions[np.isnan(before[positions, 0])])
        if len(missing):
            before[missing] = engine.embed(sentences.subset(missing), pooling)
        after[~changed] = before[positions[~changed]]
        progress.advance(int((~changed).sum()))
        yield before, chunk, after


def perturbation_count(sentences, genus_ids, modes, ranks=None):
    """How many perturbed sentences ``perturbation_jobs`` makes."""
    if ranks is None:
        return int(np.isin(sentences.tokens, list(genus_ids)).sum()) \
            * len(modes)
    wanted = set(int(g) for g in genus_ids)
    return len(modes) * sum(
        len(_job_indices(sentences.sentence(p), wanted, ranks))
        for p in range(len(sentences)))


def perturbation_similarities(engine, sentences, genus_ids, modes, pooling,
                              null, offset=0, progress=None):
    """Long DataFrame: one row per sample x genus x mode with the cosine
    similarity to the reference centroid (``null``'s observed one) before
    and after the perturbation; every perturbation is also added to
    ``null`` (a ``nulls.GroupPermutations``; the sentences are its samples
    from ``offset`` on). ``progress``: as ``perturbed_embeddings``."""
    centroid = null.centroids[0]
    records = []
    for before, chunk, after in perturbed_embeddings(
            engine, sentences, genus_ids, modes, pooling, progress=progress):
        positions = np.array([job[0] for job in chunk])
        tokens = np.array([job[1] for job in chunk])
        chunk_modes = np.array([job[2] for job in chunk])
        null.add(positions + offset, tokens, chunk_modes, before[positions],
                 after)
        start = cosine_to(before, centroid)
        records += [(job[0], job[1], job[2], start[job[0]], value)
                    for job, value in zip(chunk, cosine_to(after, centroid))]
    frame = pd.DataFrame(records, columns=["sample", "token", "mode",
                                           "before", "after"])
    return frame.astype({"sample": np.int32, "token": np.int32,
                         "mode": pd.CategoricalDtype(MODES),
                         "before": np.float32, "after": np.float32})


def removal_similarities(engine, sentences, genus_ids, pooling,
                         progress=None):
    """Leave-one-genus-out as published: per sample and genus removed, the
    cosine similarity between the sample's embedding before and after the
    removal (long DataFrame: sample, token, the genus's rank in the
    sentence from 1, the sentence's length in genera, similarity, and
    ``null``: whether the rank is one of ``nulls.null_ranks``). Removed:
    the ``genus_ids`` present, and every genus at the null's ranks.
    ``progress``: as ``perturbed_embeddings``."""
    records = []
    for before, chunk, after in perturbed_embeddings(
            engine, sentences, genus_ids, ["delete"], pooling,
            ranks=null_ranks, progress=progress):
        own = before[[job[0] for job in chunk]]
        for job, value in zip(chunk, row_cosines(own, after)):
            sentence = sentences.sentence(job[0])
            rank = np.flatnonzero(sentence == job[1])[0]
            records.append((job[0], job[1], rank, len(sentence) - 2, value))
    frame = pd.DataFrame(
        records, columns=["sample", "token", "rank", "length", "similarity"]
    ).astype({"sample": np.int32, "token": np.int32, "rank": np.int32,
              "length": np.int32, "similarity": np.float32})
    null = np.zeros(len(frame), dtype=bool)
    for length, rows in frame.groupby("length").groups.items():
        null[rows] = frame.loc[rows, "rank"].isin(null_ranks(length))
    return frame.assign(null=null)


def row_cosines(a, b):
    """Cosine similarity of each row of ``a`` with the same row of ``b``."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.where(norms == 0, 1, norms)


REMOVAL_COLUMNS = ("effect", "mean_similarity", "sd_similarity",
                   "q25_similarity", "median_similarity", "q75_similarity",
                   "min_similarity", "samples", "prevalence") + NULL_COLUMNS \
    + ("null_genera",)


def summarize_removals(similarities, vocabulary, n_samples, genus_ids,
                       draws=None, random_state=0):
    """One row per genus of ``genus_ids`` (most affected first): ``effect``
    is 1 - the mean cosine similarity over the samples holding the genus,
    followed by the spread of the similarities, the samples, the
    prevalence and the comparison with removals of other genera at the
    same rank (``nulls.rank_matched_null`` with ``draws``; None: enough
    for Benjamini-Hochberg across the genera)."""
    genus_ids = list(genus_ids)
    own = similarities[similarities["token"].isin(genus_ids)]
    grouped = own.groupby("token")["similarity"]
    quantiles = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    out = pd.DataFrame({
        "effect": 1 - grouped.mean(),
        "mean_similarity": grouped.mean(),
        "sd_similarity": grouped.std(ddof=0),
        "q25_similarity": quantiles[0.25],
        "median_similarity": quantiles[0.5],
        "q75_similarity": quantiles[0.75],
        "min_similarity": grouped.min(),
        "samples": grouped.size(),
        "prevalence": grouped.size() / n_samples})
    draws = draws or min(MOST_DRAWS, draws_for(len(out)))
    out = out.join(rank_matched_null(
        similarities.assign(effect=1 - similarities["similarity"]), draws,
        random_state, out.index.to_numpy()))
    out.index = pd.Index([vocabulary.tokens[t] for t in out.index],
                         name="genus")
    return out.sort_values("effect", ascending=False, kind="stable")


def paired_test(after, before):
    """Wilcoxon signed-rank of after vs before; (0, 1) when nothing moved."""
    if np.allclose(after, before, rtol=0, atol=1e-7):
        return 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = wilcoxon(after, before)
    return float(result.statistic), float(result.pvalue)


def summarize_effects(similarities, vocabulary, null):
    """One row per genus x mode: samples, mean similarities, shift, the
    paired test, and the null's columns (``null``: the ``NULL_COLUMNS`` of
    ``nulls.GroupPermutations.result``); strongest effect beyond the
    null first."""
    rows = []
    groups = similarities.groupby(["token", "mode"], sort=False,
                                  observed=True)
    for (token, mode), frame in groups:
        before, after = frame["before"].to_numpy(), frame["after"].to_numpy()
        statistic, p_value = paired_test(after, before)
        rows.append((vocabulary.tokens[token], mode, len(frame),
                     before.mean(), after.mean(), (after - before).mean(),
                     statistic, p_value))
    effects = pd.DataFrame(rows, columns=list(EFFECT_COLUMNS[:8]))
    effects["wilcoxon_q"] = benjamini_hochberg(effects["wilcoxon_p"])
    effects = effects.join(null, on=["genus", "mode"])
    effects = effects.sort_values("effect_beyond_null", ascending=False,
                                  kind="stable")
    effects.index = pd.Index(effects["genus"] + ":" + effects["mode"],
                             name="id")
    return effects


# Genus selection --------------------------------------------------------

def genus_names(values):
    """The genus names in what a user typed: each value may name several
    genera separated by commas, semicolons or '|', with or without a rank
    prefix (``g__``), or be a whole lineage (its genus is taken); a
    lineage naming no genus is kept as typed so that it is reported.
    Repeats are given once, in order."""
    names = []
    for value in values or ():
        for piece in str(value).split(","):
            parts = [p.strip() for p in re.split(r"[;|]", piece)
                     if p.strip()]
            lineage = parts and (
                parts[0].lower() in _LINEAGE_ROOTS
                or any(RANK_PREFIX.match(p) and not GENUS_RANK.match(p)
                       for p in parts))
            names += ([genus_of_lineage(piece) or piece.strip()]
                      if lineage else parts)
    return list(dict.fromkeys(names))


def choose_genera(prevalence, vocabulary, genera, top_n, where):
    """Genus tokens to study: the ones named in ``genera`` (read by
    ``genus_names``), else the ``top_n`` most prevalent (``prevalence``:
    ``Prevalence.series``; all when ``top_n`` is None). A name unknown to
    the vocabulary or absent from every sample (``where``: which samples,
    in words) is an error naming it and the closest genera present."""
    names = genus_names(genera)
    if not names:
        return list(prevalence.index[:top_n])
    chosen, unknown, absent = [], [], []
    for name in names:
        typed = ";" in name or "|" in name or RANK_PREFIX.match(name)
        text = name if typed else GENUS_PREFIX + name
        position = vocabulary.genus_position(text)
        token = (vocabulary.genus_tokens[position] if position >= 0
                 else None)
        if token is None:
            unknown.append(name)
        elif token not in prevalence.index:
            absent.append(token)
        else:
            chosen.append(token)
    present = [genus_name(g) for g in prevalence.index]
    problems = []
    if unknown:
        problems.append("Not genera of the MGM vocabulary: " + "; ".join(
            _with_closest(n, present) for n in unknown) + ".")
    if absent:
        problems.append(
            f"Genera absent from every sample {where}: " + "; ".join(
                _with_closest(n, present) for n in absent) + ".")
    if problems:
        raise ValueError(
            " ".join(problems) + " Name genera present in the samples "
            "(for example 'Bacteroides' or 'g__Bacteroides'; several: "
            "'Bacteroides,Prevotella' or the parameter repeated); `qiime "
            "mgm summarize-coverage` lists the genera of a table.")
    return list(dict.fromkeys(chosen))


def _with_closest(name, present):
    """``name`` and the genera of ``present`` spelled most like it."""
    close = difflib.get_close_matches(genus_name(clean_genus_name(name)),
                                      present, n=3, cutoff=0.6)
    return name + (f" (closest genera present: {', '.join(close)})"
                   if close else " (no genus present is spelled like it)")


class Prevalence:
    """Running counts over chunks of sentences: the sentences holding each
    genus token, the sum of its ranks in them, and how often it stands at
    one of the leave-one-genus-out null's ranks (``nulls.null_ranks``)."""

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary
        self.counts = np.zeros(len(vocabulary.tokens))
        self.ranks = np.zeros(len(vocabulary.tokens))
        self.at_null_rank = np.zeros(len(vocabulary.tokens))
        self.sentences = 0

    def add(self, sentences):
        lengths = sentences.lengths
        rank = np.arange(len(sentences.tokens)) - np.repeat(
            sentences.offsets[:-1], lengths)
        body = (rank > 0) & (rank < np.repeat(lengths, lengths) - 1)
        size = len(self.counts)
        self.counts += np.bincount(sentences.tokens[body], minlength=size)
        self.ranks += np.bincount(sentences.tokens[body], rank[body], size)
        genera = np.repeat(lengths - 2, lengths)
        at_null = np.zeros(len(rank), dtype=bool)
        for length in np.unique(genera[body]):
            ranks = np.zeros(length + 1, dtype=bool)
            ranks[null_ranks(length)] = True
            here = body & (genera == length)
            at_null[here] = ranks[rank[here]]
        self.at_null_rank += np.bincount(sentences.tokens[at_null],
                                         minlength=size)
        self.sentences += len(sentences)
        return self

    def removals(self, genus_ids):
        """How many removals ``removal_similarities`` makes: every genus at
        the null's ranks, and ``genus_ids`` wherever else they are."""
        return int(self.at_null_rank.sum()
                   + (self.counts - self.at_null_rank)[genus_ids].sum())

    def series(self):
        """Fraction of the sentences that contain each genus token,
        highest first; ties go to the genus ranked higher (more abundant)
        on average."""
        present = np.flatnonzero(self.counts)
        mean_rank = self.ranks[present] / self.counts[present]
        order = present[np.lexsort((mean_rank, -self.counts[present]))]
        return pd.Series(self.counts[order] / self.sentences,
                         index=[self.vocabulary.tokens[t] for t in order])


def target_prevalence(sentences, vocabulary):
    """``Prevalence.series`` of some sentences."""
    return Prevalence(vocabulary).add(sentences).series()



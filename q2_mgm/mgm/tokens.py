"""Feature table + taxonomy -> MGM genus rank sentences.

A sample's sentence is ``<bos>``, its vocabulary genera ranked by
standardized relative abundance (most abundant first), ``<eos>``. Relative
abundance is computed over the vocabulary genera only, as the published
pre-processing does. Sentences longer than the model's 512 positions keep
``<eos>`` and drop the lowest-ranked genera (the published code cut
``<eos>`` instead). Ties in standardized abundance keep vocabulary order.
Everything is vectorised over the whole table.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .vocabulary import BOS, EOS, PAD

MAX_LENGTH = 512


@dataclass
class Sentences:
    """Token sentences of many samples, stored flat (CSR-like)."""

    sample_ids: pd.Index
    tokens: np.ndarray      # int64, all sentences concatenated
    offsets: np.ndarray     # int64, len(samples) + 1

    def __len__(self):
        return len(self.sample_ids)

    @property
    def lengths(self):
        return np.diff(self.offsets)

    def sentence(self, i):
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def subset(self, positions):
        positions = np.asarray(positions, dtype=np.int64)
        pieces = [self.sentence(i) for i in positions]
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        tokens = (np.concatenate(pieces) if pieces
                  else np.empty(0, dtype=np.int64))
        return Sentences(self.sample_ids[positions], tokens, offsets)

    def select(self, sample_ids):
        positions = self.sample_ids.get_indexer(sample_ids)
        if (positions < 0).any():
            raise KeyError("Samples without a sentence: " + ", ".join(
                map(str, pd.Index(sample_ids)[positions < 0][:10])))
        return self.subset(positions)

    @classmethod
    def from_list(cls, sample_ids, sentences):
        lengths = np.array([len(s) for s in sentences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = (np.concatenate([np.asarray(s, dtype=np.int64)
                                  for s in sentences])
                  if len(sentences) else np.empty(0, dtype=np.int64))
        return cls(pd.Index(sample_ids, name="sample-id"), tokens, offsets)

    def padded(self, positions=None, length=None):
        """A ``(n, length)`` int64 array, right-padded with ``<pad>``."""
        positions = (np.arange(len(self)) if positions is None
                     else np.asarray(positions))
        lengths = self.lengths[positions]
        length = int(lengths.max()) if length is None else length
        out = np.full((len(positions), length), PAD, dtype=np.int64)
        column = np.arange(length)
        mask = column[None, :] < lengths[:, None]
        starts = self.offsets[positions]
        out[mask] = self.tokens[(starts[:, None] + column[None, :])[mask]]
        return out


@dataclass
class GenusTable:
    """Counts per sample and vocabulary genus (only genera that occur)."""

    sample_ids: pd.Index
    genus_positions: np.ndarray   # positions among the vocabulary's genera
    counts: sp.csr_matrix         # samples x genus_positions
    total_counts: np.ndarray      # all reads of each sample
    unmapped: pd.Series           # reads of unmapped genera, by genus name


def feature_genus_positions(feature_ids, taxonomy, vocabulary):
    """Vocabulary genus position of each feature (-1: none)."""
    missing = pd.Index(feature_ids).difference(taxonomy.index)
    if len(missing):
        shown = ", ".join(map(str, missing[:5]))
        raise ValueError(
            f"The taxonomy does not cover {len(missing)} of the table's "
            f"{len(feature_ids)} features (for example: {shown}). Use the "
            "taxonomy that was made for this table's features, for example "
            "from `qiime feature-classifier` on the same representative "
            "sequences.")
    lineages = taxonomy.reindex(feature_ids).fillna("")
    codes, unique = pd.factorize(lineages)
    lookup = np.array([vocabulary.genus_position(lin) for lin in unique],
                      dtype=np.int64)
    return lookup[codes], lineages


def genus_table(table, taxonomy, vocabulary):
    """Collapse a biom table to vocabulary genera (sparse, vectorised)."""
    if table.is_empty() or table.shape[1] == 0 or table.shape[0] == 0:
        raise ValueError(
            "The feature table is empty (no samples or no features). "
            "Check the filtering steps that produced it.")
    matrix = table.matrix_data.tocsr().astype(np.float64)  # features x samples
    if matrix.nnz and not (np.isfinite(matrix.data).all()
                           and (matrix.data >= 0).all()):
        raise ValueError(
            "The feature table holds negative, infinite or NaN values. MGM "
            "needs counts or relative frequencies (finite and >= 0); check "
            "the step that produced the table.")
    if not matrix.count_nonzero():
        raise ValueError(
            "The feature table holds no counts (every value is 0). Check "
            "the filtering steps that produced it.")
    feature_ids = pd.Index(table.ids(axis="observation"))
    positions, lineages = feature_genus_positions(
        feature_ids, taxonomy, vocabulary)
    mapped = positions >= 0
    present, column = np.unique(positions[mapped], return_inverse=True)
    collapse = sp.csr_matrix(
        (np.ones(mapped.sum()), (column, np.arange(mapped.sum()))),
        shape=(len(present), mapped.sum()))
    counts = (collapse @ matrix[mapped]).T.tocsr()
    counts.eliminate_zeros()
    feature_reads = np.asarray(matrix.sum(axis=1)).ravel()
    unmapped = (pd.Series(feature_reads[~mapped],
                          index=lineages.to_numpy()[~mapped])
                .groupby(level=0).sum().sort_values(ascending=False))
    unmapped = unmapped[unmapped > 0]
    return GenusTable(pd.Index(table.ids(axis="sample"), name="sample-id"),
                      present, counts,
                      np.asarray(matrix.sum(axis=0)).ravel(), unmapped)


def unmapped_features(table, taxonomy, vocabulary):
    """The table's features without a vocabulary genus, by taxonomy
    assignment: how many features hold reads, their reads and the samples
    holding any of them (most reads first)."""
    positions, lineages = feature_genus_positions(
        pd.Index(table.ids(axis="observation")), taxonomy, vocabulary)
    left_out = positions < 0
    codes, names = pd.factorize(lineages.to_numpy()[left_out])
    collapse = sp.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))),
        shape=(len(names), len(codes)))
    matrix = table.matrix_data.tocsr()[left_out]
    held = np.asarray(matrix.sum(axis=1)).ravel() > 0
    reads = collapse @ matrix
    total = np.asarray(reads.sum(axis=1)).ravel()
    out = pd.DataFrame({
        "features": np.bincount(codes[held], minlength=len(names)),
        "reads": (total.round().astype(np.int64)
                  if np.allclose(total, total.round()) else total),
        "samples": np.asarray((reads > 0).sum(axis=1)).ravel()},
        index=pd.Index(names, name="taxonomy"))
    return out[out["features"] > 0].sort_values("reads", ascending=False,
                                                kind="stable")


def grouped_descending_order(starts, counts, score):
    """Order of entries by segment, then score descending (ties: input order).

    Entries of segment ``i`` are ``starts[i]:starts[i] + counts[i]``.
    Segments of similar length (power-of-two width classes) are sorted
    together as rows of a padded 2-D array: a handful of vectorised sorts of
    short rows instead of one global sort of every entry.
    """
    order = np.empty(int(counts.sum()), dtype=np.int64)
    width_class = np.ceil(np.log2(np.maximum(counts, 1))).astype(int)
    for cls in np.unique(width_class[counts > 0]):
        segments = np.flatnonzero((width_class == cls) & (counts > 0))
        width = int(counts[segments].max())
        column = np.arange(width)
        valid = column[None, :] < counts[segments, None]
        flat = starts[segments, None] + column[None, :]
        keys = np.full(flat.shape, np.inf)
        keys[valid] = -score[flat[valid]]
        ranked = np.argsort(keys, axis=1, kind="stable")
        sorted_flat = np.take_along_axis(flat, ranked, axis=1)
        order[flat[valid]] = sorted_flat[valid]
    return order


def rank_sentences(genera, vocabulary, max_length=MAX_LENGTH,
                   prefix_tokens=()):
    """Rank each sample's genera into a sentence (vectorised).

    Samples with no vocabulary genus get an empty sentence (length 0); the
    caller decides whether that is an error.
    """
    counts = genera.counts.tocsr()
    counts.sort_indices()
    counts = counts.tocoo()  # row-major, columns ascending within a row
    rows, cols, values = counts.row, counts.col, counts.data
    keep = values > 0
    rows, cols, values = rows[keep], cols[keep], values[keep]
    sums = np.bincount(rows, weights=values, minlength=counts.shape[0])
    position = genera.genus_positions[cols]
    relative = values / sums[rows]
    score = (relative - vocabulary.mean[position]) / vocabulary.std[position]
    n = counts.shape[0]
    n_genera = np.bincount(rows, minlength=n)
    starts = np.concatenate([[0], np.cumsum(n_genera)[:-1]])
    order = grouped_descending_order(starts, n_genera, score)
    rows, position = rows[order], position[order]

    room = max_length - 2 - len(prefix_tokens)
    rank = np.arange(len(rows)) - np.repeat(starts, n_genera)
    kept = rank < room
    rows, position = rows[kept], position[kept]
    n_kept = np.minimum(n_genera, room)
    lengths = np.where(n_kept > 0, n_kept + 2 + len(prefix_tokens), 0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    if not (np.diff(rows) >= 0).all():
        raise RuntimeError("Ranking mixed genera of different samples.")
    tokens = np.full(offsets[-1], -1, dtype=np.int64)
    starts = offsets[:-1][n_kept > 0]
    tokens[starts] = BOS
    for k, token in enumerate(prefix_tokens):
        tokens[starts + 1 + k] = token
    tokens[offsets[1:][n_kept > 0] - 1] = EOS
    body_start = offsets[:-1] + 1 + len(prefix_tokens)
    body_rank = np.arange(len(rows)) - np.repeat(
        np.concatenate([[0], np.cumsum(n_kept)[:-1]]), n_kept)
    tokens[body_start[rows] + body_rank] = vocabulary.genus_ids[position]
    if (tokens < 0).any():  # every slot is written by its own sample
        raise RuntimeError("A sentence was left incomplete.")
    return Sentences(genera.sample_ids, tokens, offsets), n_genera


NO_GENUS = (
    "No sample has a genus of the MGM vocabulary. Check that the taxonomy "
    "reaches genus level (for example 'g__Bacteroides') and belongs to this "
    "table; `qiime mgm summarize-coverage` shows which genera were not "
    "recognised.")


def tokenize(table, taxonomy, vocabulary, drop_unmapped=False,
             max_length=MAX_LENGTH, allow_empty=False):
    """Sentences of every sample of a table that has a vocabulary genus.

    A sample with none is an error naming it, unless ``drop_unmapped``,
    in which case the dropped sample IDs are returned alongside. A table
    where no sample has one is an error of its own, unless ``allow_empty``
    (a chunk of a larger table).
    """
    genera = genus_table(table, taxonomy, vocabulary)
    sentences, _ = rank_sentences(genera, vocabulary, max_length)
    empty = sentences.sample_ids[sentences.lengths == 0]
    if len(empty) == len(sentences) and not allow_empty:
        raise ValueError(NO_GENUS)
    if len(empty) and not drop_unmapped:
        shown = ", ".join(map(str, empty[:10]))
        raise ValueError(
            f"{len(empty)} sample(s) have no genus of the MGM vocabulary: "
            f"{shown}. Remove them (`qiime feature-table filter-samples`) "
            "or set drop_unmapped to skip them.")
    if len(empty):
        sentences = sentences.subset(np.flatnonzero(sentences.lengths > 0))
    return sentences, list(empty)

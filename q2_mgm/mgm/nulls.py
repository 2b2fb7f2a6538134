"""Nulls for in-silico perturbation and leave-one-genus-out effects.

Perturbation (``GroupPermutations``): a genus's shift toward the reference
group is compared with its shift toward groups drawn at random from the
same samples (the compared samples relabelled, group sizes kept). Every
compared sample is perturbed; for each relabelling the reference centroid
and the target samples change, the genus and its ranks do not. So a
genus that moves any community toward the centre of the data, or whose
shift comes from its rank, scores as the null does; only a shift specific
to the reference group stands out.

Leave-one-genus-out (``rank_matched_null``): a genus's effect (1 - cosine
of a sample's embedding before and after its removal) is compared with
the effect of removing other genera at the same rank in sentences of
similar length: each draw replaces every sample's value by that of a
removal of another genus drawn from the same stratum of rank and
sentence length.
"""
import os

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .statistics import benjamini_hochberg, two_sided_empirical_p

NULL_COLUMNS = ("effect_beyond_null", "null_mean", "null_sd", "null_low",
                "null_high", "null_p", "null_q", "null_draws")
MOST_DRAWS = 20000
# Relative difference below which two null draws count as one value
# (float32 embeddings: about 1e-7 relative error each).
NULL_RESOLUTION = 1e-5


def unit_rows(vectors):
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def summarize_null(observed, null):
    """``NULL_COLUMNS`` of each row: observed value against its draws
    (NaN draws ignored; a row without draws gets NaN and 0 draws). The
    p-value is never below what the draws can resolve: at least
    2 / (distinct draws + 1), draws closer than ``NULL_RESOLUTION`` of
    the null's scale counting as one, so a null without spread gives 1."""
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float).reshape(len(observed), -1)
    stats = np.full((len(observed), 4), np.nan)
    distinct = np.zeros(len(observed))
    for i, row in enumerate(null):
        row = row[~np.isnan(row)]
        if len(row):
            stats[i] = (row.mean(), row.std(),
                        *np.quantile(row, [0.025, 0.975]))
            scale = NULL_RESOLUTION * max(np.abs(row).max(), 1e-300)
            distinct[i] = len(np.unique(np.round(row / scale)))
    mean, sd, low, high = stats.T
    p = np.maximum(two_sided_empirical_p(observed, null),
                   np.minimum(1.0, 2 / (distinct + 1)))
    return pd.DataFrame({
        "effect_beyond_null": observed - mean, "null_mean": mean,
        "null_sd": sd, "null_low": low, "null_high": high,
        "null_p": p, "null_q": benjamini_hochberg(p),
        "null_draws": (~np.isnan(null)).sum(1)})


# Working memory of one block of perturbations added to the null.
BLOCK_BYTES = 2 ** 28


def available_memory():
    """Bytes of memory available now (Linux: MemAvailable; elsewhere the
    physical memory)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_permutation_memory(samples, rows, width, draws, available=None):
    """Error before any work when a ``GroupPermutations`` of ``draws``
    relabellings of ``samples``, ``rows`` genus x mode rows and embeddings
    of ``width`` would not fit in the memory available, with the most
    draws that fit. Per draw: the membership of every sample while drawn
    (1 byte each), the shift and count sums of every row (16 bytes) and
    the reference group's embedding sums (16 bytes per dimension); and
    one block of perturbations."""
    available = available_memory() if available is None else available
    per_draw = samples + 16 * rows + 16 * width
    need = (draws + 1) * per_draw + BLOCK_BYTES
    if need > available:
        most = max(0, int((available - BLOCK_BYTES) // per_draw) - 1)
        raise ValueError(
            f"null_draws={draws} needs about {need / 2 ** 30:.1f} GiB of "
            f"memory for the null ({rows} genus x mode rows, {samples} "
            f"samples), but {available / 2 ** 30:.1f} GiB is available: "
            f"at most {most} draws fit. Lower null_draws (0 picks enough "
            "for Benjamini-Hochberg) or perturb fewer genera or modes.")


class GroupPermutations:
    """Running sums of the perturbation shifts of every genus and mode
    under the observed grouping (column 0) and ``draws`` relabellings.

    ``reference``: True for each compared sample of the reference group,
    in the order the samples are read; ``genus_ids``, ``modes``: what is
    perturbed.
    """

    def __init__(self, reference, genus_ids, modes, draws, random_state=0):
        reference = np.asarray(reference, dtype=bool)
        rng = np.random.default_rng(random_state)
        n, self.n_reference = len(reference), int(reference.sum())
        member = np.zeros((n, draws + 1), dtype=bool)
        member[:, 0] = reference
        for b in range(1, draws + 1):
            member[rng.permutation(n)[:self.n_reference], b] = True
        self.member = np.packbits(member, axis=1)
        self.columns = draws + 1
        self.genus_ids, self.modes = list(genus_ids), list(modes)
        self.key = {(g, m): i for i, (g, m) in enumerate(
            (g, m) for g in self.genus_ids for m in self.modes)}
        self.totals = np.zeros((draws + 1, 0))
        self.shift = np.zeros((len(self.key), draws + 1))
        self.count = np.zeros((len(self.key), draws + 1))

    def _reference(self, samples):
        return np.unpackbits(self.member[samples], axis=1,
                             count=self.columns).astype(bool)

    def add_embeddings(self, samples, vectors):
        """Add the unperturbed embeddings of some samples (positions in
        the order read) to the reference groups' sums."""
        part = self._reference(samples).T.astype(np.float64) @ vectors
        self.totals = part if not self.totals.size else self.totals + part

    @property
    def centroids(self):
        """Mean embedding of the reference group of each grouping."""
        return self.totals / self.n_reference

    def add(self, samples, tokens, modes, before, after):
        """Add perturbations: the sample (position in the order read),
        genus token and mode of each, the sample's unperturbed embedding
        and the perturbed one; in blocks of about ``BLOCK_BYTES`` (32
        bytes per perturbation and draw).

        Each similarity is a float32 dot product of one sample's vectors;
        the shifts are differenced and summed in float64, so how the
        samples are split into chunks does not change the sums."""
        block = int(np.clip(BLOCK_BYTES // (32 * self.columns), 1, 2048))
        centroids = unit_rows(self.centroids).astype(np.float32)
        keys = np.array([self.key[(int(t), m)]
                         for t, m in zip(tokens, modes)], dtype=np.int64)
        for start in range(0, len(samples), block):
            part = slice(start, start + block)
            shift = ((unit_rows(after[part]) @ centroids.T)
                     .astype(np.float64)
                     - unit_rows(before[part]) @ centroids.T)
            target = ~self._reference(samples[part])
            rows = keys[part]
            onehot = sp.csr_matrix(
                (np.ones(len(rows)), (rows, np.arange(len(rows)))),
                shape=(len(self.key), len(rows)))
            self.shift += onehot @ np.where(target, shift, 0)
            self.count += onehot @ target

    def result(self, vocabulary):
        """``NULL_COLUMNS`` per genus name and mode; the observed mean
        shift of the target samples is column 0 of the sums."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.shift / self.count
        out = summarize_null(mean[:, 0], mean[:, 1:])
        out.index = pd.MultiIndex.from_tuples(
            [(vocabulary.tokens[g], m) for g, m in self.key],
            names=["genus", "mode"])
        return out


MIN_NULL_GENERA = 5
MIN_NULL_REMOVALS = 20
NULL_RANKS = 64


def null_ranks(length, most=NULL_RANKS):
    """Ranks (from 1) of a sentence of ``length`` genera whose removals
    make the leave-one-genus-out null: every rank, or ``most`` evenly
    spaced ones; the same whichever genera are studied."""
    if length <= most:
        return np.arange(1, length + 1)
    return np.unique(np.round(np.linspace(1, length, most)).astype(int))


def _strata(rank, length):
    """Half-octave bins of rank and of sentence length (genera)."""
    return (np.floor(2 * np.log2(rank)).astype(np.int64) * 64
            + np.floor(2 * np.log2(length)).astype(np.int64))


def rank_matched_null(records, draws, random_state=0, genera=None):
    """``NULL_COLUMNS`` and ``null_genera`` per genus token of
    leave-one-genus-out records (``token``, ``rank`` of the genus in its
    sentence from 1, ``length``: genera in the sentence, ``effect``: 1 -
    similarity, ``null``: whether the removal belongs to the null's pool,
    see ``null_ranks``), index: token; ``genera``: the tokens to test
    (default: all).

    Each draw gives every record of a genus the effect of a pooled
    removal of another genus in the same stratum of rank and length, and
    averages them. A stratum is used when its pool holds at least
    ``MIN_NULL_GENERA`` other genera and ``MIN_NULL_REMOVALS`` removals;
    else the stratum widens to rank alone, then to every rank; a genus
    whose records find no such pool gets no null (NaN, ``null_draws`` 0).
    ``null_genera``: the other genera the null drew on. The pool and each
    genus's draws (seeded by the genus) do not depend on which other
    genera are tested.
    """
    token = records["token"].to_numpy()
    effect = records["effect"].to_numpy(dtype=np.float64)
    rank = records["rank"].to_numpy()
    pooled = records["null"].to_numpy(dtype=bool)
    levels = [_strata(rank, records["length"].to_numpy()),
              np.floor(2 * np.log2(rank)).astype(np.int64),
              np.zeros(len(rank), dtype=np.int64)]
    genera = np.unique(token) if genera is None else np.asarray(genera)
    observed = np.full(len(genera), np.nan)
    null = np.full((len(genera), draws), np.nan)
    drawn_on = np.zeros(len(genera), dtype=np.int64)
    for i, genus in enumerate(genera):
        rng = np.random.default_rng([random_state, int(genus)])
        own = token == genus
        observed[i] = effect[own].mean() if own.any() else np.nan
        sums, used = np.zeros(draws), set()
        unmatched = np.flatnonzero(own)
        for stratum in levels:
            pending = []
            for value in np.unique(stratum[unmatched]):
                rows = unmatched[stratum[unmatched] == value]
                pool = np.flatnonzero((stratum == value) & ~own & pooled)
                kinds = np.unique(token[pool])
                if (len(kinds) < MIN_NULL_GENERA
                        or len(pool) < MIN_NULL_REMOVALS):
                    pending.append(rows)
                    continue
                used.update(kinds.tolist())
                picks = pool[rng.integers(0, len(pool), (len(rows), draws))]
                sums += effect[picks].sum(0)
            unmatched = (np.concatenate(pending) if pending
                         else np.empty(0, dtype=np.int64))
            if not len(unmatched):
                break
        if own.any() and not len(unmatched):
            null[i] = sums / own.sum()
            drawn_on[i] = len(used)
        else:
            drawn_on[i] = len(np.unique(token[~own & pooled]))
    out = summarize_null(observed, null)
    out.insert(len(out.columns), "null_genera", drawn_on)
    out.index = pd.Index(genera, name="token")
    return out


def no_null_text(without, total):
    """Why ``without`` of ``total`` leave-one-genus-out rows have no
    p-value, in words."""
    return (f"{without} of {total} genera have no null and no p-value "
            "(null_draws 0): the table holds fewer than "
            f"{MIN_NULL_GENERA} other genera or {MIN_NULL_REMOVALS} "
            "removals of them to compare with, even at any rank "
            "(null_genera: the other genera there were). More null_draws "
            "cannot help; a table with more genera per sample can.")

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
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .statistics import benjamini_hochberg, two_sided_empirical_p

NULL_COLUMNS = ("effect_beyond_null", "null_mean", "null_sd", "null_low",
                "null_high", "null_p", "null_q", "null_draws")
MOST_DRAWS = 20000


def unit_rows(vectors):
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def summarize_null(observed, null):
    """``NULL_COLUMNS`` of each row: observed value against its draws."""
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(null, 1) if null.size else np.full(
            len(observed), np.nan)
    p = two_sided_empirical_p(observed, null)
    low, high = (np.nanquantile(null, [0.025, 0.975], 1)
                 if null.size else (mean, mean))
    return pd.DataFrame({
        "effect_beyond_null": observed - mean, "null_mean": mean,
        "null_sd": np.nanstd(null, 1), "null_low": low, "null_high": high,
        "null_p": p, "null_q": benjamini_hochberg(p),
        "null_draws": (~np.isnan(null)).sum(1)})


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

    def add(self, samples, tokens, modes, before, after, block=1024):
        """Add perturbations: the sample (position in the order read),
        genus token and mode of each, the sample's unperturbed embedding
        and the perturbed one.

        Each similarity is a float32 dot product of one sample's vectors;
        the shifts are differenced and summed in float64, so how the
        samples are split into chunks does not change the sums."""
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


def _strata(rank, length):
    """Half-octave bins of rank and of sentence length (genera)."""
    return (np.floor(2 * np.log2(rank)).astype(np.int64) * 64
            + np.floor(2 * np.log2(length)).astype(np.int64))


def rank_matched_null(records, draws, random_state=0):
    """``NULL_COLUMNS`` per genus token of leave-one-genus-out records
    (``token``, ``rank`` of the genus in its sentence from 1, ``length``:
    genera in the sentence, ``effect``: 1 - similarity), index: token.

    Each draw gives every record of a genus the effect of a record of
    another genus in the same stratum of rank and length (else of rank
    alone, else any other genus), and averages them.
    """
    rng = np.random.default_rng(random_state)
    token = records["token"].to_numpy()
    effect = records["effect"].to_numpy(dtype=np.float64)
    rank = records["rank"].to_numpy()
    levels = [_strata(rank, records["length"].to_numpy()),
              np.floor(2 * np.log2(rank)).astype(np.int64),
              np.zeros(len(rank), dtype=np.int64)]
    genera = np.unique(token)
    observed = np.empty(len(genera))
    null = np.full((len(genera), draws), np.nan)
    for i, genus in enumerate(genera):
        own = token == genus
        observed[i] = effect[own].mean()
        sums = np.zeros(draws)
        unmatched = np.flatnonzero(own)
        for stratum in levels:
            pending = []
            for value in np.unique(stratum[unmatched]):
                rows = unmatched[stratum[unmatched] == value]
                pool = np.flatnonzero((stratum == value) & ~own)
                if len(pool) == 0:
                    pending.append(rows)
                    continue
                picks = pool[rng.integers(0, len(pool), (len(rows), draws))]
                sums += effect[picks].sum(0)
            unmatched = (np.concatenate(pending) if pending
                         else np.empty(0, dtype=np.int64))
            if not len(unmatched):
                null[i] = sums / own.sum()
                break
    out = summarize_null(observed, null)
    out.index = pd.Index(genera, name="token")
    return out

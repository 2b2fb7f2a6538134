"""Multiple testing and empirical p-values shared by the interpretation
statistics."""
import numpy as np


def benjamini_hochberg(p_values):
    """Benjamini-Hochberg adjusted p-values (q-values); NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    n = ok.sum()
    if n:
        order = np.argsort(p[ok])
        ranked = p[ok][order] * n / np.arange(1, n + 1)
        adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
        out = np.empty(n)
        out[order] = np.minimum(adjusted, 1.0)
        q[ok] = out
    return q


def two_sided_empirical_p(observed, null):
    """Two-sided empirical p of each row's ``observed`` value against its
    row of ``null`` draws (NaN draws ignored): twice the smaller tail,
    each tail counting the observed value as one draw, so that p is never
    0. NaN where a row has no draw."""
    null = np.asarray(null, dtype=float)
    observed = np.asarray(observed, dtype=float)[:, None]
    valid = ~np.isnan(null)
    draws = valid.sum(1)
    upper = ((null >= observed) & valid).sum(1)
    lower = ((null <= observed) & valid).sum(1)
    p = 2 * (np.minimum(upper, lower) + 1) / (draws + 1)
    return np.where((draws > 0) & ~np.isnan(observed[:, 0]),
                    np.minimum(p, 1.0), np.nan)


def draws_for(tests, alpha=0.05, per_test=2):
    """Null draws enough for a two-sided empirical p to pass
    Benjamini-Hochberg at ``alpha`` among ``tests`` (``per_test`` times
    the least that lets the single strongest test pass), at least 999."""
    return max(999, int(np.ceil(per_test * 2 * tests / alpha)) - 1)

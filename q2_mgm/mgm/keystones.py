"""Keystone genera: three questions per genus and comparison of groups.

- ``prevalence``: is the genus present in more samples of one group?
  (Fisher's exact test of presence.)
- ``attention_present``: where the genus is present, does MGM attend to it
  more in one group? (Mann-Whitney U test of its attention, among the
  samples holding it only.)
- ``published``: the MGM paper's Kolmogorov-Smirnov test of per-sample
  attention counting absence as 0 attention, which mixes the two.

q-values are Benjamini-Hochberg within each comparison and each question.
Effect sizes carry bootstrap 95% intervals (samples resampled within each
side).
"""
import warnings

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact, ks_2samp, mannwhitneyu

from .statistics import benjamini_hochberg

RESAMPLES = 1000
ALPHA = 0.05
DESCRIBED = [f"{name}_{side}" for side in ("group", "others")
             for name in ("prevalence", "prevalence_low", "prevalence_high",
                          "median_attention", "median_attention_low",
                          "median_attention_high")]
COLUMNS = (["genus", "group", "compared_with", "finding", "prevalence_q",
            "attention_present_q", "published_q"] + DESCRIBED
           + ["prevalence_p", "attention_present_effect",
              "attention_present_p", "published_ks_statistic",
              "published_p", "mean_attention_group",
              "mean_attention_others"])


def comparisons(groups):
    """(group, others) pairs: one for two groups, one-vs-rest beyond."""
    names = sorted(groups.unique())
    if len(names) < 2:
        raise ValueError(
            f"The metadata column has only one group ({names[0]!r}) among "
            "the table's samples; at least two are needed to compare.")
    if len(names) == 2:
        return [(names[0], [names[1]])]
    return [(name, [n for n in names if n != name]) for name in names]


def joined(names):
    """Groups compared with, in words: joined by ' + ', each quoted when a
    name holds a '+' itself (so 'A + B' and 'B' never read as A + B + B)."""
    names = [str(n) for n in names]
    if len(names) > 1 and any("+" in n for n in names):
        names = [repr(n) for n in names]
    return " + ".join(names)


def _bootstrap(where_present, rng, resamples):
    """2.5% and 97.5% bootstrap quantiles of the prevalence and of the
    median attention where present, per genus (columns of
    ``where_present``: samples x genera, NaN where absent)."""
    values = where_present.to_numpy(dtype=float)
    n = len(values)
    prevalence = np.empty((resamples, values.shape[1]))
    median = np.empty_like(prevalence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for b in range(resamples):
            drawn = values[rng.integers(0, n, n)]
            prevalence[b] = (~np.isnan(drawn)).mean(0)
            median[b] = np.nanmedian(drawn, 0)
        return (np.nanquantile(prevalence, [0.025, 0.975], 0),
                np.nanquantile(median, [0.025, 0.975], 0))


def _describe(where_present, rng, resamples):
    """Prevalence and median attention where present, with intervals."""
    (p_low, p_high), (m_low, m_high) = _bootstrap(where_present, rng,
                                                  resamples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(where_present.to_numpy(dtype=float), 0)
    return {"prevalence": where_present.notna().mean().to_numpy(),
            "prevalence_low": p_low, "prevalence_high": p_high,
            "median_attention": median, "median_attention_low": m_low,
            "median_attention_high": m_high}


def _tests(weights, presence, inside, outside, genus):
    """p-values of the three questions for one genus."""
    a_present = presence.loc[inside, genus].to_numpy()
    b_present = presence.loc[outside, genus].to_numpy()
    _, prevalence_p = fisher_exact(
        [[a_present.sum(), (~a_present).sum()],
         [b_present.sum(), (~b_present).sum()]])
    a = weights.loc[inside, genus].to_numpy()
    b = weights.loc[outside, genus].to_numpy()
    if a_present.any() and b_present.any():
        test = mannwhitneyu(a[a_present], b[b_present],
                            alternative="two-sided")
        effect = test.statistic / (a_present.sum() * b_present.sum())
        attention_p = test.pvalue
    else:
        effect = attention_p = np.nan
    published = ks_2samp(a, b)
    return (prevalence_p, effect, attention_p, published.statistic,
            published.pvalue, a.mean(), b.mean())


def finding(row, alpha=ALPHA):
    """A plain sentence of what the tests of one genus say."""
    parts = []
    if row["prevalence_q"] < alpha:
        side = (row["group"] if row["prevalence_group"]
                > row["prevalence_others"] else row["compared_with"])
        parts.append(f"more prevalent in {side}")
    if row["attention_present_q"] < alpha:
        side = (row["group"] if row["attention_present_effect"] > 0.5
                else row["compared_with"])
        parts.append(f"more attended in {side} where present")
    if not parts:
        return (f"difference not detected at q < {alpha} in presence or in "
                "attention where present"
                + ("; the published KS test, which mixes the two, detects "
                   "one" if row["published_q"] < alpha else ""))
    return " and ".join(parts)


def keystone_tests(weights, presence, groups, min_prevalence=0.0,
                   random_state=0, resamples=RESAMPLES):
    """The three tests of every genus in every comparison, with effect
    sizes and a ``finding`` in words; strongest first within each
    comparison.

    ``weights``: samples x genera attention (0 where absent);
    ``presence``: the same shape, True where present; ``groups``: the
    group of each sample. Genera below ``min_prevalence`` on both sides of
    a comparison are not tested.
    """
    rng = np.random.default_rng(random_state)
    frames = []
    for group, others in comparisons(groups):
        inside = groups.index[groups == group]
        outside = groups.index[groups.isin(others)]
        keep = ((presence.loc[inside].mean() >= min_prevalence)
                | (presence.loc[outside].mean() >= min_prevalence))
        genera = weights.columns[keep.to_numpy()]
        if not len(genera):
            continue
        where = weights[genera].where(presence[genera])
        frame = pd.DataFrame({"genus": genera, "group": group,
                              "compared_with": joined(others)})
        for side, members in (("group", inside), ("others", outside)):
            for name, values in _describe(where.loc[members], rng,
                                          resamples).items():
                frame[f"{name}_{side}"] = values
        tests = pd.DataFrame(
            [_tests(weights, presence, inside, outside, g) for g in genera],
            columns=["prevalence_p", "attention_present_effect",
                     "attention_present_p", "published_ks_statistic",
                     "published_p", "mean_attention_group",
                     "mean_attention_others"])
        frame = pd.concat([frame, tests], axis=1)
        for question in ("prevalence", "attention_present", "published"):
            frame[f"{question}_q"] = benjamini_hochberg(
                frame[f"{question}_p"])
        frame["finding"] = frame.apply(finding, axis=1)
        strongest = np.fmin(frame["prevalence_q"],
                            frame["attention_present_q"])
        order = np.lexsort((frame["published_q"], strongest))
        frames.append(frame.iloc[order])
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]

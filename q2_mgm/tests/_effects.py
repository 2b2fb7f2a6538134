"""Effects tables with known numbers, as the interpretation actions write
them, for reading the summaries back."""
import numpy as np
import pandas as pd

from ..mgm.interpretation import MODES, REMOVAL_COLUMNS
from ..mgm.statistics import benjamini_hochberg


def _null(beyond, draws, rng):
    """Null columns around a null mean, and p-values that follow the
    effect beyond the null (large |beyond| -> the smallest p)."""
    n = len(beyond)
    null_mean = rng.uniform(0.01, 0.05, n)
    sd = np.full(n, 0.004)
    p = np.clip(2 * np.exp(-np.abs(beyond) / 0.002), 2 / (draws + 1), 1)
    return {"null_mean": null_mean, "null_sd": sd,
            "null_low": null_mean - 2 * sd, "null_high": null_mean + 2 * sd,
            "null_p": p, "null_q": benjamini_hochberg(p),
            "null_draws": np.full(n, draws)}


def removal_effects(beyond, samples=40, draws=999, seed=0):
    """Leave-one-genus-out effects of genera g__Genus0.., with the given
    effects beyond the null."""
    rng = np.random.default_rng(seed)
    beyond = np.asarray(beyond, dtype=float)
    null = _null(beyond, draws, rng)
    effect = null["null_mean"] + beyond
    held = rng.integers(5, samples + 1, len(beyond))
    frame = pd.DataFrame({
        "effect": effect, "mean_similarity": 1 - effect,
        "sd_similarity": 0.01, "q25_similarity": 1 - effect,
        "median_similarity": 1 - effect, "q75_similarity": 1 - effect,
        "min_similarity": 1 - effect, "samples": held,
        "prevalence": held / samples,
        "effect_beyond_null": beyond, **null,
        "null_genera": np.full(len(beyond), 30)},
        index=pd.Index([f"g__Genus{i}" for i in range(len(beyond))],
                       name="genus"))
    return frame[list(REMOVAL_COLUMNS)].sort_values(
        "effect", ascending=False)


def perturbation_effects(shift, beyond, draws=1599, seed=0):
    """Perturbation effects of the genera g__Genus0.. in every mode (rows
    genus by genus, modes in turn) with the given raw shifts and effects
    beyond the null (one per row)."""
    rng = np.random.default_rng(seed)
    shift, beyond = (np.asarray(v, dtype=float) for v in (shift, beyond))
    n = len(shift)
    null = _null(beyond, draws, rng)
    null["null_mean"] = shift - beyond
    null["null_low"] = null["null_mean"] - 0.004
    null["null_high"] = null["null_mean"] + 0.004
    genus = [f"g__Genus{i // len(MODES)}" for i in range(n)]
    mode = [MODES[i % len(MODES)] for i in range(n)]
    frame = pd.DataFrame({
        "genus": genus, "mode": mode, "samples": 20,
        "similarity_before": 0.9, "similarity_after": 0.9 + shift,
        "shift": shift, "wilcoxon_statistic": 10.0, "wilcoxon_p": 0.01,
        "wilcoxon_q": 0.02, "effect_beyond_null": beyond, **null,
        "metadata_column": "health", "reference_group": "Control",
        "target_group": "Case", "reference_samples": 30,
        "target_samples": 20, "pooling": "mean",
        "model_kind": "pretrained"})
    frame.index = pd.Index([f"{g}:{m}" for g, m in zip(genus, mode)],
                           name="id")
    return frame.sort_values("effect_beyond_null", ascending=False)

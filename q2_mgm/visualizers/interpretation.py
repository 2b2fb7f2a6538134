"""Visualizers: perturbation and leave-one-genus-out summaries."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..mgm import interpretation as interpret
from ..mgm import nulls
from ..mgm.keystones import ALPHA
from ..mgm.vocabulary import genus_name
from .report import Section, render

MOST_REMOVALS = 36     # bars in the leave-one-genus-out plot

EFFECT_HEADERS = {
    "effect_beyond_null": "effect beyond null", "null_mean": "null mean",
    "null_low": "null 2.5%", "null_high": "null 97.5%", "null_q": "null q",
    "versus_null": "versus null", "shift_direction": "shift direction",
    "beyond_null_direction": "direction beyond null",
    "wilcoxon_q": "Wilcoxon q", "null_genera": "null genera"}


def _null_note(effects, what):
    """The null's draws and the q-values they allow, as they are: the
    smallest empirical p-value is 2 / (draws + 1); Benjamini-Hochberg
    gives a row at that p a q-value between that p (every row as extreme)
    and that p times the number of rows (the row alone)."""
    draws = effects["null_draws"][effects["null_draws"] > 0]
    rows = len(draws)
    if not rows:
        return (f"Null: {what}; no draw could be made, so no row has a "
                "p- or q-value.")
    counted = (f"{int(draws.max())}" if draws.min() == draws.max() else
               f"{int(draws.min())} to {int(draws.max())}")
    p_min = 2 / (draws.max() + 1)
    alone = min(1.0, p_min * rows)
    return (f"Null: {what}; {counted} draws per row. The smallest "
            f"empirical p-value a row can get is 2 / (draws + 1) = "
            f"{p_min:.2g}; across the {rows} rows with a null, "
            "Benjamini-Hochberg "
            f"gives a row at that p a q-value from {p_min:.2g} (when every "
            f"row is as extreme) to {alone:.2g} (when it alone is)"
            + ("." if alone < ALPHA else
               f", so a lone strong row cannot reach q < {ALPHA}: run with "
               "more null_draws."))


# leave-one-genus-out-summary ---------------------------------------------

REMOVAL_SIDES = {"above": "#3b75af", "below": "#e08a2c",
                 "not different": "#bbbbbb"}
COLOUR_NAMES = {"#3b75af": "blue", "#e08a2c": "orange", "#bbbbbb": "grey"}


def removal_sides(effects, alpha=ALPHA):
    """Per genus: 'above' or 'below' the null at q < ``alpha`` (by the
    sign of the effect beyond it), else 'not different'."""
    significant = effects["null_q"] < alpha
    beyond = effects["effect_beyond_null"]
    return pd.Series(np.select([significant & (beyond > 0),
                                significant & (beyond < 0)],
                               ["above", "below"], "not different"),
                     index=effects.index, name="versus_null")


def removals_plotted(effects, sides, most=MOST_REMOVALS):
    """The genera the plot shows and its caption's first words: every
    genus that differs from the null when there are 1 to ``most``, else
    the ``most`` with the largest |effect beyond the null|."""
    significant = sides != "not different"
    if 0 < significant.sum() <= most:
        return (effects[significant],
                f"All {significant.sum()} genera whose effect differs "
                f"from the null at q < {ALPHA}")
    order = effects["effect_beyond_null"].abs().sort_values(
        ascending=False, kind="stable", na_position="last").index
    shown = effects.loc[order[:most]]
    what = (f"All {len(shown)} genera" if len(shown) == len(effects) else
            f"The {len(shown)} of {len(effects)} genera with the largest "
            "|effect beyond the null|")
    if significant.sum() > most:
        what += (f" ({significant.sum()} differ from the null at q < "
                 f"{ALPHA}; every one is in the table)")
    return shown, what


def _plot_removals(effects, sides, output_dir, section):
    shown, what = removals_plotted(effects, sides)
    shown = shown.sort_values("effect_beyond_null", kind="stable")
    side = sides[shown.index]
    fig, ax = plt.subplots(figsize=(7.5, 0.26 * len(shown) + 2))
    y = np.arange(len(shown))
    ax.barh(y, shown["effect_beyond_null"], color=side.map(REMOVAL_SIDES))
    ax.hlines(y, shown["null_low"] - shown["null_mean"],
              shown["null_high"] - shown["null_mean"], color="black",
              linewidth=1.5)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(shown.index.map(genus_name))
    counts = side.value_counts()
    for name, color in REMOVAL_SIDES.items():
        ax.barh([np.nan], [np.nan], color=color,
                label=f"{name} the null at q < {ALPHA} ({counts.get(name, 0)})"
                if name != "not different" else
                f"not different from the null ({counts.get(name, 0)})")
    ax.plot([], [], color="black", label="null's 95% range")
    ax.set_xlabel("effect beyond the null: change of the embedding when "
                  "the genus\nis removed, minus that of removing other "
                  "genera at the same rank")
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.01),
              ncol=2, frameon=False)
    words = {"above": "above the null (removing the genus changes the "
                      "embeddings more than removing other genera at the "
                      "same rank)",
             "below": "below it (less)",
             "not different": f"not different at q < {ALPHA}"}
    section.figure(
        fig, output_dir, "removal-effects",
        f"{what}, by effect beyond the null: " + "; ".join(
            f"{COLOUR_NAMES[REMOVAL_SIDES[name]]}, {counts[name]} {text}"
            for name, text in words.items() if counts.get(name, 0))
        + ". Black line: the null's 95% range around its mean.")


def _null_size_note(effects):
    """How many other genera the nulls drew on, and the rows without."""
    without = int((effects["null_draws"] == 0).sum())
    drawn = effects.loc[effects["null_draws"] > 0, "null_genera"]
    return ((f" Each null drew on {int(drawn.min())} to "
             f"{int(drawn.max())} other genera (null genera; at least "
             f"{nulls.MIN_NULL_GENERA} and {nulls.MIN_NULL_REMOVALS} "
             "removals per stratum)." if len(drawn) else "")
            + (" " + nulls.no_null_text(without, len(effects))
               if without else ""))


def leave_one_genus_out_summary(output_dir: str,
                                effects: pd.DataFrame) -> None:
    missing = [c for c in interpret.REMOVAL_COLUMNS if c not in effects]
    if missing:
        raise ValueError(
            "These effects do not come from `leave-one-genus-out` "
            f"(missing columns: {', '.join(missing)}). Summarize the output "
            "of `qiime mgm leave-one-genus-out`.")
    effects = effects.rename_axis("genus").sort_values(
        "effect_beyond_null", ascending=False, kind="stable")
    sides = removal_sides(effects)
    section = Section(
        "Genera ranked by their effect on the community's embedding, "
        "beyond other genera at the same rank",
        "For every sample and every genus it holds, the genus is removed "
        "from the sample's ranking and the cosine similarity between the "
        "sample's MGM embedding before and after is measured (the MGM "
        "paper's leave-one-genus-out; no reference group is involved). "
        "effect = 1 - the mean similarity over the samples holding the "
        "genus (the paper's statistic: a large effect marks what it calls "
        "a 'deleterious' genus). Removing a top-ranked genus changes any "
        "embedding more than removing a rare one, so genera are ranked by "
        "effect_beyond_null: the effect minus that of removing other "
        "genera of this run at the same rank in sentences of similar "
        "length (half-octave bins), with a two-sided empirical p-value "
        "and Benjamini-Hochberg q-value; 'versus null' says whether the "
        f"genus is above or below the null at q < {ALPHA}. "
        + _null_note(effects, "removals of other genera at the same rank")
        + _null_size_note(effects))
    _plot_removals(effects, sides, output_dir, section)
    section.table(effects.assign(versus_null=sides), output_dir,
                  "leave-one-genus-out",
                  shown_columns=["effect", "null_mean", "null_low",
                                 "null_high", "effect_beyond_null", "null_q",
                                 "versus_null", "null_genera", "samples",
                                 "prevalence"],
                  headers=EFFECT_HEADERS)
    samples = int(round(effects["samples"].iloc[0]
                        / effects["prevalence"].iloc[0]))
    counts = sides.value_counts()
    differ = counts.get("above", 0) + counts.get("below", 0)
    intro = (f"{len(effects)} genera removed one at a time from the "
             f"{samples} samples that hold them; "
             f"{differ} differ from the null at q < {ALPHA}: "
             f"{counts.get('above', 0)} above it (their removal changes the "
             "embeddings more than removing other genera at the same rank) "
             f"and {counts.get('below', 0)} below it (less)"
             + (f"; {int((effects['null_draws'] == 0).sum())} have no "
                "null (too few other genera in the table)."
                if (effects["null_draws"] == 0).any() else "."))
    render(output_dir, "MGM leave-one-genus-out", [section], intro=intro)


# perturbation-summary -------------------------------------------------------

MODE_VERBS = {"enrich": "Enriching", "reduce": "Reducing",
              "delete": "Removing"}
TOWARD, AWAY = "#4f9a55", "#c0504d"


def _direction(value, reference):
    return (f"toward {reference}" if value > 0 else
            f"away from {reference}" if value < 0 else "nowhere")


def perturbation_directions(effects):
    """Per row, in words: where the raw shift moves the target samples,
    and where the effect beyond the null does (the same reference)."""
    reference = effects["reference_group"].astype(str)
    return pd.DataFrame({
        "shift_direction": [_direction(v, r) for v, r in
                            zip(effects["shift"], reference)],
        "beyond_null_direction": [
            _direction(v, r) for v, r in
            zip(effects["effect_beyond_null"], reference)]},
        index=effects.index)


def _perturbation_findings(ranked, most=10):
    """One sentence per row that differs from the null, both directions
    said (the raw shift, then beyond the null)."""
    found = ranked[ranked["null_q"] < ALPHA]
    if found.empty:
        return [f"No perturbation differs from the null at q < {ALPHA}."]
    found = found.loc[found["effect_beyond_null"].abs().sort_values(
        ascending=False, kind="stable").index]
    lines = [f"{len(found)} of {len(ranked)} perturbations differ from the "
             f"null at q < {ALPHA}"
             + (f"; the {most} with the largest |effect beyond the null| "
                "are described, every one is in the table:"
                if len(found) > most else ":")]
    for row in found.head(most).itertuples():
        lines.append(
            f"{MODE_VERBS.get(row.mode, row.mode)} {genus_name(row.genus)}: "
            f"the {row.target_group} samples move "
            f"{_direction(row.shift, row.reference_group)} (shift "
            f"{row.shift:+.2g}); under random groupings the shift is "
            f"{row.null_mean:+.2g}, so beyond the null they move "
            f"{_direction(row.effect_beyond_null, row.reference_group)} "
            f"({row.effect_beyond_null:+.2g}, q = {row.null_q:.2g}).")
    return lines


def _plot_modes(effects, output_dir, section, most=40):
    """Per genus and mode, the effect beyond the null, coloured by its
    sign, with the null's 95% range around its mean."""
    modes = [m for m in interpret.MODES if m in set(effects["mode"])]
    strongest = effects.assign(size=effects["effect_beyond_null"].abs()) \
        .groupby("genus", sort=False)["size"].max() \
        .sort_values(ascending=False, kind="stable", na_position="last")
    order = list(strongest.index[:most])
    pivot = {column: effects.pivot(index="genus", columns="mode",
                                   values=column).loc[order[::-1]]
             for column in ("effect_beyond_null", "null_q", "null_mean",
                            "null_low", "null_high")}
    beyond = pivot["effect_beyond_null"]
    size = (3.4 * len(modes) + 2.2, 0.28 * len(order) + 2)
    fig, axes = plt.subplots(1, len(modes), squeeze=False, sharey=True,
                             sharex=True, figsize=size)
    labels = [genus_name(g) for g in beyond.index]
    reference = effects["reference_group"].iloc[0]
    for ax, mode in zip(axes[0], modes):
        values = beyond[mode].to_numpy()
        ax.barh(labels, values, color=np.where(values > 0, TOWARD, AWAY))
        ax.hlines(np.arange(len(labels)),
                  pivot["null_low"][mode] - pivot["null_mean"][mode],
                  pivot["null_high"][mode] - pivot["null_mean"][mode],
                  color="black", linewidth=1.5)
        for y, (v, q) in enumerate(zip(values, pivot["null_q"][mode])):
            if q < ALPHA:
                ax.text(v, y, " *", va="center",
                        ha="left" if v >= 0 else "right")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(mode)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.set_xlabel(f"effect beyond the null\n(+: toward {reference})")
    shown = effects[effects["genus"].isin(order)]
    toward = int((shown["effect_beyond_null"] > 0).sum())
    away = int((shown["effect_beyond_null"] < 0).sum())
    genera = (f"all {len(order)} genera" if len(order) == len(strongest)
              else f"the {len(order)} of {len(strongest)} genera with the "
                   "largest |effect beyond the null|")
    section.figure(
        fig, output_dir, "shift-by-mode",
        f"Effect beyond the null of each perturbation of {genera} (the "
        f"shift toward {reference} minus its mean under random "
        f"groupings): green, {toward} perturbation"
        f"{'' if toward == 1 else 's'} toward "
        f"{reference} beyond the null; red, {away} away from it. Black "
        "line: the null's 95% range around its mean; *: differs from the "
        f"null at q < {ALPHA}. The raw shift and its direction are in the "
        "table.")


QUADRANTS = {(True, True): ("both toward", "#4f9a55"),
             (True, False): ("enrich toward, reduce away", "#3b75af"),
             (False, True): ("reduce toward, enrich away", "#8e5ea2"),
             (False, False): ("both away", "#c0504d")}


def _plot_enrich_reduce(effects, output_dir, section):
    beyond = effects.pivot(index="genus", columns="mode",
                           values="effect_beyond_null")[["enrich", "reduce"]]
    beyond = beyond.dropna()
    reference = effects["reference_group"].iloc[0]
    fig, ax = plt.subplots(figsize=(7, 6))
    quadrant = [(e > 0, r > 0) for e, r in beyond.to_numpy()]
    counts = pd.Series(quadrant, dtype=object).value_counts()
    for key, (name, color) in QUADRANTS.items():
        ax.scatter([], [], s=18, color=color,
                   label=f"{name} ({counts.get(key, 0)})")
    ax.scatter(beyond["enrich"], beyond["reduce"], s=18,
               color=[QUADRANTS[key][1] for key in quadrant])
    for genus, (x, y) in zip(beyond.index, beyond.to_numpy()):
        ax.annotate(genus_name(genus), (x, y), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel(f"effect beyond the null when enriched\n(+: toward "
                  f"{reference})")
    ax.set_ylabel(f"effect beyond the null when reduced\n(+: toward "
                  f"{reference})")
    ax.legend(fontsize=8, title=f"beyond the null, toward {reference}",
              title_fontsize=8)
    section.figure(
        fig, output_dir, "enrich-vs-reduce",
        f"Enrichment against reduction, each as its effect beyond the "
        f"null (+: toward {reference} beyond random groupings), every one "
        f"of the {len(beyond)} genera labelled and coloured by its "
        "quadrant (counts in the legend): upper left, reducing the genus "
        f"moves the target samples toward {reference} beyond the null "
        "and enriching it away; lower right, the reverse.")


def perturbation_summary(output_dir: str, effects: pd.DataFrame) -> None:
    first = effects.iloc[0]
    modes = set(effects["mode"])
    ranked = effects.sort_values("effect_beyond_null", ascending=False,
                                 kind="stable")
    ranked = ranked.join(perturbation_directions(ranked))
    reference = first["reference_group"]
    section = Section(
        "Genera ranked by effect beyond the null (the shift toward "
        f"{reference} minus the shift toward random groupings)",
        "For each genus and perturbation, shift is the mean change of the "
        "cosine similarity between a target sample's MGM embedding and the "
        "mean embedding of the reference group, over the target samples "
        "that contain the genus; positive: toward the reference group "
        "('shift direction'). Enrich moves "
        "the genus to the top of the sample's ranking, reduce to the "
        "bottom, delete removes it. Any perturbation moves an embedding, "
        "so the same shift is computed for groupings drawn at random from "
        "the same samples (group sizes kept; every compared sample is "
        "perturbed): genera are ranked by effect_beyond_null, the shift "
        "minus the null's mean ('direction beyond null'), with a two-sided "
        "empirical p-value and Benjamini-Hochberg q-value over all rows "
        "(null_p, null_q). A perturbation can move the target samples "
        "away from the reference group and still be toward it beyond the "
        "null, when random groupings move them farther away. A "
        "shift that is only a rank effect, or that moves any community "
        "toward the centre of the data, matches the null. The paired "
        "Wilcoxon test of after against before (wilcoxon_p, wilcoxon_q) "
        "is kept: it asks only whether the perturbation moves the target "
        "samples at all. "
        + _null_note(effects, "relabellings of the compared samples"))
    section.lines = _perturbation_findings(ranked)
    _plot_modes(ranked, output_dir, section)
    if {"enrich", "reduce"} <= modes:
        _plot_enrich_reduce(effects, output_dir, section)
    section.table(ranked.set_index("genus"), output_dir,
                  "perturbation-effects",
                  shown_columns=["mode", "samples", "shift",
                                 "shift_direction", "null_mean",
                                 "null_low", "null_high",
                                 "effect_beyond_null",
                                 "beyond_null_direction", "null_q",
                                 "wilcoxon_q"],
                  headers=EFFECT_HEADERS)
    differ = ranked[ranked["null_q"] < ALPHA]
    intro = (f"Target group {first['target_group']!r} "
             f"({first['target_samples']} samples) perturbed toward reference "
             f"group {reference!r} "
             f"({first['reference_samples']} samples) of the metadata "
             f"column {first['metadata_column']!r}; "
             f"{effects['genus'].nunique()} genera; "
             f"{len(differ)} of {len(effects)} rows differ from the null at "
             f"q < {ALPHA}: "
             f"{int((differ['effect_beyond_null'] > 0).sum())} toward "
             f"{reference} beyond the null and "
             f"{int((differ['effect_beyond_null'] < 0).sum())} away from it; "
             f"modes: {', '.join(m for m in interpret.MODES if m in modes)}; "
             "model: "
             f"{first['model_kind']} ({first['pooling']} pooling).")
    render(output_dir, "MGM in-silico perturbation", [section], intro=intro)

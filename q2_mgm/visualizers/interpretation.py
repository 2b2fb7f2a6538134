"""Visualizers: keystone genera, perturbation and leave-one-genus-out
summaries."""
import biom
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import qiime2

from ..actions.common import prepare
from ..mgm import interpretation as interpret
from ..mgm import keystones
from ..mgm import model as mgm_model
from ..mgm.vocabulary import genus_name
from .report import Section, render

PLOT_GENERA = 12


# keystone-summary ---------------------------------------------------------

def _top_per_group(importance, groups, top_n, min_prevalence):
    """Long table of the ``top_n`` genera of each group by importance."""
    frames = []
    for group in sorted(groups.unique()):
        frame = importance[[f"importance:{group}", f"prevalence:{group}"]]
        frame.columns = ["importance", "prevalence"]
        frame = frame[frame["prevalence"] >= min_prevalence]
        frame = frame.sort_values("importance", ascending=False).head(top_n)
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        frame.insert(0, "group", group)
        frames.append(frame.reset_index())
    return pd.concat(frames, ignore_index=True)


def _plot_top(top, output_dir, section):
    groups = list(dict.fromkeys(top["group"]))
    height = max(3.0, 0.28 * top.groupby("group").size().max() + 1)
    fig, axes = plt.subplots(1, len(groups), squeeze=False,
                             figsize=(4.2 * len(groups), height))
    for ax, group in zip(axes[0], groups):
        frame = top[top["group"] == group].iloc[::-1]
        ax.barh(frame["genus"].map(genus_name),
                frame["importance"], color="#3b75af")
        ax.set_title(str(group))
        ax.set_xlabel("mean attention where present")
    section.figure(fig, output_dir, "top-genera",
                   "Genera receiving the most attention in each group")


def _plot_distributions(weights, presence, groups, genera, output_dir,
                        section):
    names = sorted(groups.unique())
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(genera) + 2), 4.5))
    width = 0.8 / len(names)
    colors = plt.cm.tab10.colors
    for k, name in enumerate(names):
        members = groups.index[groups == name]
        data = [weights.loc[members, g][presence.loc[members, g]].to_numpy()
                for g in genera]
        positions = np.arange(len(genera)) + (k - (len(names) - 1) / 2) * width
        box = ax.boxplot(data, positions=positions, widths=width * 0.9,
                         patch_artist=True, showfliers=True,
                         flierprops={"markersize": 2})
        for patch in box["boxes"]:
            patch.set_facecolor(colors[k % 10])
        ax.plot([], [], "s", color=colors[k % 10], label=str(name))
    ax.set_xticks(np.arange(len(genera)))
    ax.set_xticklabels([genus_name(g) for g in genera], rotation=45,
                       ha="right")
    ax.set_ylabel("attention received per sample\n(samples holding the "
                  "genus only)")
    ax.legend(title=groups.name, fontsize=8)
    section.figure(fig, output_dir, "attention-by-group",
                   "Attention where present of the genera that differ most "
                   "between groups (smallest prevalence or attention "
                   "q-values); how often each is present is in the table")


def _plot_layers(profiles, output_dir, section):
    names = sorted(profiles)
    fig, axes = plt.subplots(1, len(names), squeeze=False, sharey=True,
                             figsize=(3.6 * len(names) + 1.5, 5))
    vmax = max(p.fillna(0).to_numpy().max() for p in profiles.values()) or 1
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#dddddd")
    for ax, name in zip(axes[0], names):
        frame = profiles[name]
        image = ax.imshow(np.ma.masked_invalid(frame.to_numpy()),
                          aspect="auto", cmap=cmap, vmin=0, vmax=vmax)
        ax.set_title(str(name))
        ax.set_xticks(range(frame.shape[1]))
        ax.set_xticklabels(range(1, frame.shape[1] + 1))
        ax.set_xlabel("layer")
        ax.set_yticks(range(len(frame)))
        ax.set_yticklabels([genus_name(g) for g in frame.index])
    fig.colorbar(image, ax=axes[0, -1], label="attention received")
    section.figure(fig, output_dir, "attention-by-layer",
                   "Attention received in each layer (mean over heads and "
                   "over the samples where the genus is present; grey: "
                   "absent from the group)")


def keystone_summary(
        output_dir: str, table: biom.Table, taxonomy: pd.Series,
        metadata: qiime2.CategoricalMetadataColumn,
        model: mgm_model.MGMModel = None, top_n: int = 20,
        min_prevalence: float = 0.1, drop_unmapped: bool = False,
        batch_size: int = 64, device: str = "auto",
        threads: int = 0, precision: str = "float32") -> None:
    model, sentences, groups, engine = prepare(
        table, taxonomy, model, metadata, drop_unmapped, batch_size, device,
        threads, precision)
    keystones.comparisons(groups)
    att = interpret.attention(engine, sentences, model.vocabulary)
    weights = att.matrix(model.vocabulary)
    presence = att.presence(model.vocabulary)
    importance = interpret.AttentionTotals(model.vocabulary).add(
        att, groups).importance()
    tests = keystones.keystone_tests(weights, presence, groups,
                                     min_prevalence)
    top = _top_per_group(importance, groups, top_n, min_prevalence)
    strongest = tests.assign(q=np.fmin(tests["prevalence_q"],
                                       tests["attention_present_q"]))
    strongest = strongest.sort_values("q", kind="stable")
    genera = list(dict.fromkeys(strongest["genus"]))[:PLOT_GENERA]

    findings = Section(
        "What differs between groups",
        "Three questions per genus, "
        + ("between the two groups" if groups.nunique() == 2 else
           "each group against all the others")
        + ". Prevalence: is the genus present in more samples of one "
          "group? (Fisher's exact test; a fact of the table, not of "
          "the model.) Attention where present: among the samples holding "
          "the genus, does MGM attend to it more in one group? "
          "(Mann-Whitney U test; attention_present_effect is the chance "
          "that a holder of the first group gets more attention than a "
          "holder of the other.) Published: the MGM paper's "
          "Kolmogorov-Smirnov test of attention counting absence as 0, "
          "which cannot tell the two apart. q-values are "
          "Benjamini-Hochberg within each comparison and question; "
          "intervals are bootstrap 95% intervals (1,000 resamples of the "
          "samples of each side).")
    findings.lines = _findings(strongest)
    findings.table(
        tests.set_index("genus"), output_dir, "keystone-tests",
        label="Download every test with its effect sizes and intervals "
              f"({len(tests)} rows, TSV)", max_rows=30,
        shown_columns=["group", "compared_with", "finding", "prevalence_q",
                       "attention_present_q", "published_q",
                       "prevalence_group", "prevalence_others",
                       "median_attention_group", "median_attention_others"])
    if genera:
        _plot_distributions(weights, presence, groups, genera, output_dir,
                            findings)
        _plot_layers(interpret.layer_profile(att, model.vocabulary, groups,
                                             genera), output_dir, findings)

    ranking = Section(
        "Top genera per group",
        f"A genus's attention in a sample is the attention it receives "
        f"from itself and every token ranked after it, averaged over the "
        f"{model.network.config.n_layer} layers and all heads of the model; "
        f"its importance in a group is the mean over the group's samples "
        f"where it is present. Only genera present in at least "
        f"{min_prevalence:.0%} of a group's samples are ranked.")
    _plot_top(top, output_dir, ranking)
    ranking.table(top.set_index("genus"), output_dir, "top-genera")
    importance.to_csv(f"{output_dir}/attention-importance.tsv", sep="\t")
    ranking.downloads.append({
        "file": "attention-importance.tsv",
        "label": "Download the importance and prevalence of every genus "
                 f"({len(importance)} genera, TSV)"})

    counts = groups.value_counts().sort_index()
    intro = (f"{len(groups)} samples grouped by {metadata.name!r}: "
             + ", ".join(f"{g} ({n})" for g, n in counts.items())
             + f"; {weights.shape[1]} genera; model: {model.kind}.")
    warnings = [f"Group {g!r} has fewer than 5 samples; its tests have "
                "little power." for g, n in counts.items() if n < 5]
    render(output_dir, "MGM keystone genera (attention)",
           [findings, ranking], intro=intro, warnings=warnings)


def _findings(tests, most=10, alpha=keystones.ALPHA):
    """One sentence per genus with a q-value below ``alpha`` in presence
    or attention where present (the strongest first)."""
    found = tests[tests["q"] < alpha].head(most)
    if found.empty:
        return [f"No genus differs at q < {alpha} in presence or in "
                "attention where present."]
    return [f"{genus_name(row.genus)} ({row.group} vs {row.compared_with}): "
            f"{row.finding}; present in {row.prevalence_group:.0%} vs "
            f"{row.prevalence_others:.0%} of samples, median attention "
            f"where present {row.median_attention_group:.3g} vs "
            f"{row.median_attention_others:.3g} (prevalence q = "
            f"{row.prevalence_q:.2g}, attention q = "
            f"{row.attention_present_q:.2g})."
            for row in found.itertuples()]


def _null_note(effects, what):
    """How many null draws were used and what they allow."""
    draws = int(effects["null_draws"].max())
    rows = len(effects)
    smallest = min(1.0, 2 / (draws + 1) * rows)
    return (f"Null: {what}; {draws} draws per row, so the smallest "
            f"attainable q-value across these {rows} rows is "
            f"{smallest:.2g}" + (" (below 0.05: enough for "
                                 "Benjamini-Hochberg at 0.05)."
                                 if smallest < 0.05 else
                                 " (not below 0.05: run with more "
                                 "null_draws)."))


def _plot_removals(effects, output_dir, section):
    top = effects.head(PLOT_GENERA * 3).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.26 * len(top) + 1.6))
    labels = top.index.map(genus_name)
    y = np.arange(len(top))
    ax.barh(labels, top["effect"], color=np.where(
        top["null_q"] < 0.05, "#3b75af", "#a9c4de"),
        label="1 - mean similarity (dark: null q < 0.05)")
    ax.errorbar(top["null_mean"], y, xerr=[
        top["null_mean"] - top["null_low"],
        top["null_high"] - top["null_mean"]], fmt="|", color="black",
        markersize=8, linewidth=1,
        label="null: other genera at the same rank (mean, 95%)")
    ax.set_xlabel("change of the sample's embedding when the genus is "
                  "removed\n(1 - cosine similarity)")
    ax.legend(fontsize=8, loc="lower right")
    section.figure(fig, output_dir, "removal-effects",
                   f"The {len(top)} genera whose removal changes the "
                   "samples' embeddings most beyond the null, beside the "
                   "null's mean and 95% range")


def leave_one_genus_out_summary(output_dir: str,
                                effects: pd.DataFrame) -> None:
    missing = [c for c in interpret.REMOVAL_COLUMNS if c not in effects]
    if missing:
        raise ValueError(
            "These importances do not come from `leave-one-genus-out` "
            f"(missing columns: {', '.join(missing)}). Summarize the output "
            "of `qiime mgm leave-one-genus-out`.")
    effects = effects.rename_axis("genus").sort_values(
        "effect_beyond_null", ascending=False, kind="stable")
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
        "and Benjamini-Hochberg q-value. "
        + _null_note(effects, "removals of other genera at the same rank"))
    _plot_removals(effects, output_dir, section)
    section.table(effects, output_dir, "leave-one-genus-out",
                  shown_columns=["effect", "null_mean", "null_low",
                                 "null_high", "effect_beyond_null", "null_q",
                                 "samples", "prevalence"])
    samples = int(round(effects["samples"].iloc[0]
                        / effects["prevalence"].iloc[0]))
    intro = (f"{len(effects)} genera removed one at a time from the "
             f"{samples} samples that hold them; "
             f"{int((effects['null_q'] < 0.05).sum())} differ from the "
             "null at q < 0.05.")
    render(output_dir, "MGM leave-one-genus-out", [section], intro=intro)


# perturbation-summary -------------------------------------------------------

def _plot_modes(effects, output_dir, section):
    """Fig. 7 style: per genus, the shift under each mode side by side,
    with the null's 95% range."""
    modes = [m for m in interpret.MODES if m in set(effects["mode"])]
    order = list(dict.fromkeys(effects["genus"]))[:40]
    pivot = {column: effects.pivot(index="genus", columns="mode",
                                   values=column).loc[order[::-1]]
             for column in ("shift", "null_q", "null_low", "null_high")}
    shifts, qs = pivot["shift"], pivot["null_q"]
    size = (3.4 * len(modes) + 2, 0.28 * len(order) + 1.6)
    fig, axes = plt.subplots(1, len(modes), squeeze=False, sharey=True,
                             sharex=True, figsize=size)
    labels = [genus_name(g) for g in shifts.index]
    for ax, mode in zip(axes[0], modes):
        values = shifts[mode].to_numpy()
        colors = np.where(values >= 0, "#4f9a55", "#c0504d")
        ax.barh(labels, values, color=colors)
        ax.hlines(np.arange(len(labels)), pivot["null_low"][mode],
                  pivot["null_high"][mode], color="black", linewidth=2)
        for y, (v, q) in enumerate(zip(values, qs[mode])):
            if q < 0.05:
                ax.text(v, y, " *", va="center",
                        ha="left" if v >= 0 else "right")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(mode)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.set_xlabel("shift in cosine similarity\nto the reference group")
    section.figure(fig, output_dir, "shift-by-mode",
                   "Mean shift toward the reference group per genus and "
                   "perturbation (green: toward, red: away), the 95% range "
                   "of the null of random groupings (black line) and * "
                   "where the shift differs from the null at q < 0.05; "
                   "genera in the order of their largest effect beyond "
                   "the null")


def _plot_enrich_reduce(effects, output_dir, section):
    shifts = effects.pivot(index="genus", columns="mode", values="shift")
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.scatter(shifts["enrich"], shifts["reduce"], s=18, color="#3b75af")
    label = np.hypot(shifts["enrich"], shifts["reduce"]) \
        .sort_values(ascending=False).index[:8]
    for genus in label:
        ax.annotate(genus_name(genus),
                    (shifts.at[genus, "enrich"], shifts.at[genus, "reduce"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("shift when enriched (moved to the top)")
    ax.set_ylabel("shift when reduced (moved to the bottom)")
    section.figure(fig, output_dir, "enrich-vs-reduce",
                   "Enrichment against reduction: genera in the upper-left "
                   "move the target samples toward the reference group when "
                   "reduced, those in the lower-right when enriched")


def perturbation_summary(output_dir: str, effects: pd.DataFrame) -> None:
    first = effects.iloc[0]
    modes = set(effects["mode"])
    ranked = effects.sort_values("effect_beyond_null", ascending=False,
                                 kind="stable")
    section = Section(
        "Genera ranked by shift toward the reference group beyond the null",
        "For each genus and perturbation, shift is the mean change of the "
        "cosine similarity between a target sample's MGM embedding and the "
        "mean embedding of the reference group, over the target samples "
        "that contain the genus. Positive: the perturbation makes the "
        "target samples look more like the reference group. Enrich moves "
        "the genus to the top of the sample's ranking, reduce to the "
        "bottom, delete removes it. Any perturbation moves an embedding, "
        "so the same shift is computed for groupings drawn at random from "
        "the same samples (group sizes kept; every compared sample is "
        "perturbed): genera are ranked by effect_beyond_null, the shift "
        "minus the null's mean, with a two-sided empirical p-value and "
        "Benjamini-Hochberg q-value over all rows (null_p, null_q). A "
        "shift that is only a rank effect, or that moves any community "
        "toward the centre of the data, matches the null. The paired "
        "Wilcoxon test of after against before (wilcoxon_p, wilcoxon_q) "
        "is kept: it asks only whether the perturbation moves the target "
        "samples at all. "
        + _null_note(effects, "relabellings of the compared samples"))
    _plot_modes(ranked, output_dir, section)
    if {"enrich", "reduce"} <= modes:
        _plot_enrich_reduce(effects, output_dir, section)
    section.table(ranked.set_index("genus"), output_dir,
                  "perturbation-effects",
                  shown_columns=["mode", "samples", "shift", "null_mean",
                                 "null_low", "null_high",
                                 "effect_beyond_null", "null_q",
                                 "wilcoxon_q"])
    intro = (f"Target group {first['target_group']!r} "
             f"({first['target_samples']} samples) perturbed toward reference "
             f"group {first['reference_group']!r} "
             f"({first['reference_samples']} samples) of the metadata "
             f"column {first['metadata_column']!r}; "
             f"{effects['genus'].nunique()} genera; "
             f"{int((effects['null_q'] < 0.05).sum())} of {len(effects)} "
             "rows differ from the null at q < 0.05; modes: "
             f"{', '.join(m for m in interpret.MODES if m in modes)}; "
             "model: "
             f"{first['model_kind']} ({first['pooling']} pooling).")
    render(output_dir, "MGM in-silico perturbation", [section], intro=intro)

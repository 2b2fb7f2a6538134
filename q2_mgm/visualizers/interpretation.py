"""Visualizers: keystone genera, perturbation and leave-one-genus-out
summaries."""
import biom
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import qiime2

from ..actions.common import prepare
from ..mgm import interpretation as interpret
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


def _plot_distributions(weights, groups, genera, output_dir, section):
    names = sorted(groups.unique())
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(genera) + 2), 4.5))
    width = 0.8 / len(names)
    colors = plt.cm.tab10.colors
    for k, name in enumerate(names):
        members = groups.index[groups == name]
        data = [weights.loc[members, g].to_numpy() for g in genera]
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
    ax.set_ylabel("attention received per sample\n(0 where absent)")
    ax.legend(title=groups.name, fontsize=8)
    section.figure(fig, output_dir, "attention-by-group",
                   "Per-sample attention of the genera that differ most "
                   "between groups (smallest KS q-values)")


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
    interpret.comparisons(groups)
    att = interpret.attention(engine, sentences, model.vocabulary)
    weights = att.matrix(model.vocabulary)
    presence = att.presence(model.vocabulary)
    importance = interpret.AttentionTotals(model.vocabulary).add(
        att, groups).importance()
    tests = interpret.ks_tests(weights, presence, groups, min_prevalence)
    top = _top_per_group(importance, groups, top_n, min_prevalence)
    strongest = tests.sort_values(["q_value", "ks_statistic"],
                                  ascending=[True, False], kind="stable")
    genera = list(dict.fromkeys(strongest["genus"]))[:PLOT_GENERA]

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

    differences = Section(
        "Genera whose attention differs between groups",
        "Two-sample Kolmogorov-Smirnov test of the per-sample attention of "
        "each genus (0 in samples where it is absent), "
        + ("between the two groups" if groups.nunique() == 2 else
           "each group against all the others")
        + "; q-values are Benjamini-Hochberg adjusted within each "
          "comparison. 'higher_in' is the side with the larger mean "
          "attention.")
    if genera:
        _plot_distributions(weights, groups, genera, output_dir,
                            differences)
        _plot_layers(interpret.layer_profile(att, model.vocabulary, groups,
                                             genera), output_dir, differences)
    differences.table(tests.set_index("genus"), output_dir, "ks-tests")

    counts = groups.value_counts().sort_index()
    intro = (f"{len(groups)} samples grouped by {metadata.name!r}: "
             + ", ".join(f"{g} ({n})" for g, n in counts.items())
             + f"; {weights.shape[1]} genera; model: {model.kind}.")
    warnings = [f"Group {g!r} has fewer than 5 samples; its tests have "
                "little power." for g, n in counts.items() if n < 5]
    render(output_dir, "MGM keystone genera (attention)",
           [ranking, differences], intro=intro, warnings=warnings)


def _plot_removals(effects, output_dir, section):
    top = effects.head(PLOT_GENERA * 3).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.26 * len(top) + 1.6))
    labels = top.index.map(genus_name)
    low = (1 - top["q75_similarity"]).to_numpy()
    high = (1 - top["q25_similarity"]).to_numpy()
    middle = (1 - top["median_similarity"]).to_numpy()
    ax.barh(labels, top["effect"], color="#3b75af",
            label="1 - mean similarity")
    ax.errorbar(middle, np.arange(len(top)), xerr=[middle - low,
                                                   high - middle],
                fmt="o", color="black", markersize=3, linewidth=1,
                label="median and interquartile range")
    ax.set_xlabel("change of the sample's embedding when the genus is "
                  "removed\n(1 - cosine similarity)")
    ax.legend(fontsize=8, loc="lower right")
    section.figure(fig, output_dir, "removal-effects",
                   f"The {len(top)} genera whose removal changes the "
                   "samples' embeddings most")


def leave_one_genus_out_summary(output_dir: str,
                                effects: pd.DataFrame) -> None:
    missing = [c for c in interpret.REMOVAL_COLUMNS if c not in effects]
    if missing:
        raise ValueError(
            "These importances do not come from `leave-one-genus-out` "
            f"(missing columns: {', '.join(missing)}). Summarize the output "
            "of `qiime mgm leave-one-genus-out`.")
    effects = effects.sort_values("effect", ascending=False, kind="stable")
    section = Section(
        "Genera ranked by their effect on the community's embedding",
        "For every sample and every genus it holds, the genus is removed "
        "from the sample's ranking and the cosine similarity between the "
        "sample's MGM embedding before and after is measured (the MGM "
        "paper's leave-one-genus-out; no reference group is involved). "
        "effect = 1 - the mean similarity over the samples holding the "
        "genus: a large effect marks a genus the model's view of the "
        "community depends on (the paper's 'deleterious' genera).")
    _plot_removals(effects, output_dir, section)
    section.table(effects, output_dir, "leave-one-genus-out")
    samples = int(round(effects["samples"].iloc[0]
                        / effects["prevalence"].iloc[0]))
    intro = (f"{len(effects)} genera removed one at a time from the "
             f"{samples} samples that hold them.")
    render(output_dir, "MGM leave-one-genus-out", [section], intro=intro)


# perturbation-summary -------------------------------------------------------

def _plot_modes(effects, output_dir, section):
    """Fig. 7 style: per genus, the shift under each mode side by side."""
    shifts = effects.pivot(index="genus", columns="mode", values="shift")
    qs = effects.pivot(index="genus", columns="mode", values="q_value")
    modes = [m for m in interpret.MODES if m in shifts]
    order = shifts[modes[0]].sort_values(ascending=False).index[:40]
    shifts, qs = shifts.loc[order[::-1]], qs.loc[order[::-1]]
    size = (3.4 * len(modes) + 2, 0.28 * len(order) + 1.6)
    fig, axes = plt.subplots(1, len(modes), squeeze=False, sharey=True,
                             sharex=True, figsize=size)
    labels = [genus_name(g) for g in shifts.index]
    for ax, mode in zip(axes[0], modes):
        values = shifts[mode].to_numpy()
        colors = np.where(values >= 0, "#4f9a55", "#c0504d")
        ax.barh(labels, values, color=colors)
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
                   "perturbation (green: toward, red: away; * q < 0.05); "
                   f"genera sorted by the {modes[0]} shift")


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
    ranked = effects.sort_values("shift", ascending=False)
    section = Section(
        "Genera ranked by shift toward the reference group",
        "For each genus and perturbation, the mean change of the cosine "
        "similarity between a target sample's MGM embedding and the mean "
        "embedding of the reference group, over the target samples that "
        "contain the genus. Positive: the perturbation makes the target "
        "samples look more like the reference group. Enrich moves the "
        "genus to the top of the sample's ranking, reduce to the bottom, "
        "delete removes it. p-values: paired Wilcoxon signed-rank test "
        "(after vs before); q-values: Benjamini-Hochberg over all rows.")
    _plot_modes(effects, output_dir, section)
    if {"enrich", "reduce"} <= modes:
        _plot_enrich_reduce(effects, output_dir, section)
    section.table(ranked.set_index("genus"), output_dir,
                  "perturbation-effects")
    intro = (f"Target group {first['target_group']!r} "
             f"({first['target_samples']} samples) perturbed toward reference "
             f"group {first['reference_group']!r} "
             f"({first['reference_samples']} samples) of the metadata "
             f"column {first['metadata_column']!r}; "
             f"{effects['genus'].nunique()} genera; modes: "
             f"{', '.join(m for m in interpret.MODES if m in modes)}; "
             "model: "
             f"{first['model_kind']} ({first['pooling']} pooling).")
    render(output_dir, "MGM in-silico perturbation", [section], intro=intro)

"""Visualizer: keystone genera, MGM attention compared between groups."""
import biom
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import qiime2

from ..actions.common import notice, prepare
from ..mgm import interpretation as interpret
from ..mgm import keystones
from ..mgm import model as mgm_model
from ..mgm.tokens import unmapped_features
from ..mgm.vocabulary import genus_name
from .report import Section, render

PLOT_GENERA = 12
ALPHA = keystones.ALPHA


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


def prevalence_by_group(tests, genera):
    """Prevalence of each genus in each group with its bootstrap 95%
    interval, from the keystone tests (the group's own side; with two
    groups the compared side gives the second)."""
    rows = {}
    two = tests["group"].nunique() == 1
    for row in tests[tests["genus"].isin(genera)].itertuples():
        sides = [("group", row.group)]
        if two:
            sides.append(("others", row.compared_with))
        for side, name in sides:
            rows[(row.genus, name)] = [
                getattr(row, f"prevalence_{side}"),
                getattr(row, f"prevalence_low_{side}"),
                getattr(row, f"prevalence_high_{side}")]
    return pd.DataFrame(list(rows.values()),
                        columns=["prevalence", "low", "high"],
                        index=pd.MultiIndex.from_tuples(
                            list(rows), names=["genus", "group"]))


def questions_in_order(tests, alpha=ALPHA):
    """'prevalence' and 'attention_present', the one with more q-values
    below ``alpha`` first (prevalence on a tie), with those counts."""
    counts = {question: int((tests[f"{question}_q"] < alpha).sum())
              for question in ("prevalence", "attention_present")}
    order = sorted(counts, key=lambda q: -counts[q])
    return order, counts


def _plot_differences(weights, presence, groups, tests, genera, output_dir,
                      section):
    """Per genus and group: prevalence with its interval, and attention
    where present; the question with more findings in the left panel."""
    names = sorted(groups.unique())
    colors = plt.cm.tab10.colors
    order, counts = questions_in_order(tests)
    prevalence = prevalence_by_group(tests, genera)
    height = 0.45 * len(genera) * max(1, len(names) / 2) + 2
    fig, axes = plt.subplots(1, 2, sharey=True, figsize=(11, height))
    y = np.arange(len(genera))[::-1]
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        offset = y + ((len(names) - 1) / 2 - k) * width
        color = colors[k % 10]
        ax = axes[order.index("prevalence")]
        values = prevalence.reindex(
            pd.MultiIndex.from_product([genera, [name]]))
        ax.errorbar(values["prevalence"], offset,
                    xerr=[values["prevalence"] - values["low"],
                          values["high"] - values["prevalence"]],
                    fmt="o", color=color, markersize=4, capsize=2,
                    label=f"{name} ({int((groups == name).sum())})")
        ax = axes[order.index("attention_present")]
        members = groups.index[groups == name]
        data = [weights.loc[members, g][presence.loc[members, g]].to_numpy()
                for g in genera]
        kept = [i for i, d in enumerate(data) if len(d)]
        if kept:
            box = ax.boxplot([data[i] for i in kept], positions=offset[kept],
                             vert=False, widths=width * 0.9,
                             patch_artist=True, manage_ticks=False,
                             flierprops={"markersize": 2})
            for patch in box["boxes"]:
                patch.set_facecolor(color)
    titles = {"prevalence": "prevalence (95% interval)",
              "attention_present": "attention where present"}
    for question, ax in zip(order, axes):
        ax.set_title(f"{titles[question]}: {counts[question]} at q < "
                     f"{ALPHA}", fontsize=10)
    axes[order.index("prevalence")].set_xlabel(
        "fraction of the group's samples holding the genus")
    axes[order.index("prevalence")].set_xlim(-0.02, 1.02)
    axes[order.index("attention_present")].set_xlabel(
        "attention received per sample (samples holding the genus)")
    axes[0].set_yticks(y)
    axes[0].set_yticklabels([genus_name(g) for g in genera])
    axes[order.index("prevalence")].legend(title=groups.name, fontsize=8)
    first = {"prevalence": "prevalence", "attention_present":
             "attention where present"}
    section.figure(
        fig, output_dir, "prevalence-and-attention",
        f"The {len(genera)} genera with the smallest prevalence or "
        "attention q-values: how many of each group's samples hold them "
        "(with bootstrap 95% intervals) and how much attention they "
        "receive where present (box: quartiles). "
        f"{first[order[0]].capitalize()} is on the left: "
        f"{counts[order[0]]} tests differ at q < {ALPHA} in "
        f"{first[order[0]]}, {counts[order[1]]} in {first[order[1]]}.")


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
    findings.lines = _findings(strongest, groups.nunique() == 2)
    if genera:
        _plot_differences(weights, presence, groups, tests, genera,
                          output_dir, findings)
        _plot_layers(interpret.layer_profile(att, model.vocabulary, groups,
                                             genera), output_dir, findings)
    findings.table(
        tests.set_index("genus"), output_dir, "keystone-tests",
        label="Download every test with its effect sizes and intervals "
              f"({len(tests)} rows, TSV)", max_rows=30,
        shown_columns=["group", "compared_with", "finding", "prevalence_q",
                       "attention_present_q", "published_q",
                       "prevalence_group", "prevalence_others",
                       "median_attention_group", "median_attention_others"],
        headers=TEST_HEADERS)

    ranking = Section(
        "Top genera per group",
        f"A genus's attention in a sample is the attention it receives "
        f"from itself and every token ranked after it, averaged over the "
        f"{model.network.config.n_layer} layers and all heads of the model; "
        f"its importance in a group is the mean over the group's samples "
        f"where it is present. Only genera present in at least "
        f"{min_prevalence:.0%} of a group's samples are ranked.")
    if top.empty:
        ranking.lines = [
            f"No genus is present in at least {min_prevalence:.0%} of the "
            "samples of any group: nothing to rank. Lower min_prevalence."]
        notice(ranking.lines[0])
    else:
        _plot_top(top, output_dir, ranking)
    ranking.table(top.set_index("genus"), output_dir, "top-genera")
    importance.to_csv(f"{output_dir}/attention-importance.tsv", sep="\t")
    ranking.downloads.append({
        "file": "attention-importance.tsv",
        "label": "Download the importance and prevalence of every genus "
                 f"({len(importance)} genera, TSV)"})

    left_out, left_out_note = _left_out_section(table, taxonomy, model,
                                                groups, output_dir)
    counts = groups.value_counts().sort_index()
    intro = (f"{len(groups)} samples grouped by {metadata.name!r}: "
             + ", ".join(f"{g} ({n})" for g, n in counts.items())
             + f"; {weights.shape[1]} genera; model: {model.kind}."
             + left_out_note)
    warnings = [f"Group {g!r} has fewer than 5 samples; its tests have "
                "little power." for g, n in counts.items() if n < 5]
    dropped = groups.attrs.get("dropped_groups", [])
    if dropped:
        warnings.append(
            f"drop_unmapped removed every sample of the group(s) "
            f"{', '.join(map(repr, dropped))}: no genus of the MGM "
            "vocabulary. They are left out of every comparison.")
    if top.empty:
        warnings.append(ranking.lines[0])
    render(output_dir, "MGM keystone genera (attention)",
           [s for s in (findings, ranking, left_out) if s], intro=intro,
           warnings=warnings)


def _finding_line(row):
    """One genus's finding with its numbers, saying where it is absent
    instead of printing NaN."""
    sides = ((row.group, row.prevalence_group, row.median_attention_group),
             (row.compared_with, row.prevalence_others,
              row.median_attention_others))
    absent = [name for name, prevalence, _ in sides if prevalence == 0]
    if absent:
        attention = (f"attention where present not compared (absent from "
                     f"{' and '.join(map(str, absent))})")
        attention_q = ""
    else:
        attention = ("median attention where present "
                     f"{sides[0][2]:.3g} vs {sides[1][2]:.3g}")
        attention_q = f", attention q = {row.attention_present_q:.2g}"
    return (f"{genus_name(row.genus)} ({row.group} vs {row.compared_with}): "
            f"{row.finding}; present in {row.prevalence_group:.0%} vs "
            f"{row.prevalence_others:.0%} of samples, {attention} "
            f"(prevalence q = {row.prevalence_q:.2g}{attention_q}).")


def _findings(tests, two_groups, most=10, alpha=ALPHA):
    """Sentences of the genera with a q-value below ``alpha`` in presence
    or attention where present (the strongest first): how many qualify,
    up to ``most`` described, the rest named."""
    found = tests[tests["q"] < alpha]
    what = "genera" if two_groups else "genus-group comparisons"
    if found.empty:
        return [f"No genus differs at q < {alpha} in presence or in "
                f"attention where present ({len(tests)} {what} tested)."]
    lines = [f"{len(found)} of {len(tests)} {what} tested differ at "
             f"q < {alpha} in presence or in attention where present"
             + (":" if len(found) <= most else
                f"; the {most} strongest are described, the other "
                f"{len(found) - most} named after them (all are in the "
                "table):")]
    lines += [_finding_line(row) for row in found.head(most).itertuples()]
    if len(found) > most:
        lines.append("Also at q < " f"{alpha}: " + ", ".join(
            f"{genus_name(row.genus)} ({row.group} vs {row.compared_with}; "
            f"{row.finding})" for row in found.iloc[most:].itertuples())
            + ".")
    return lines


TEST_HEADERS = {
    "compared_with": "compared with",
    "prevalence_q": "prevalence q",
    "attention_present_q": "attention where present q",
    "published_q": "published KS q",
    "prevalence_group": "prevalence in group",
    "prevalence_others": "prevalence compared",
    "median_attention_group": "median attention in group",
    "median_attention_others": "median attention compared"}


def _left_out_section(table, taxonomy, model, groups, output_dir):
    """The features outside the vocabulary, with their reads and
    samples (``None`` when every feature has a vocabulary genus)."""
    analysed = table.filter(list(groups.index), axis="sample",
                            inplace=False)
    left_out = unmapped_features(analysed, taxonomy, model.vocabulary)
    if left_out.empty:
        return None, ""
    share = left_out["reads"].sum() / analysed.sum()
    features = int(left_out["features"].sum())
    held = int((analysed.sum(axis="observation") > 0).sum())
    section = Section(
        "Features left out: outside the MGM vocabulary",
        f"{features} of the {held} features with reads ({share:.1%} of the "
        f"reads of the {len(groups)} samples compared), under "
        f"{len(left_out)} taxonomy assignments, have no genus of the MGM "
        "vocabulary (no genus-level name, 'uncultured', or a genus absent "
        "from the pre-training corpus); they take no part in any sentence, "
        "attention or test above. Each assignment with its features, reads "
        "and the samples holding it, most reads first.")
    section.table(left_out, output_dir, "left-out-features")
    return section, (f" {features} features ({share:.1%} of reads) are "
                     "outside the MGM vocabulary and left out (listed at "
                     "the end).")

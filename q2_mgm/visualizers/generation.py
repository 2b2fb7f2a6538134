"""Visualizer: generated against real communities."""
import biom
import matplotlib.pyplot as plt
import pandas as pd
import qiime2

from ..mgm import model as mgm_model
from ..mgm.realism import aligned, genus_presence, group_labels, summary_tables
from ..mgm.vocabulary import Vocabulary
from .report import Section, render


def prevalence_figure(real, real_labels, generated, generated_labels):
    labels = sorted(set(real_labels) & set(generated_labels))
    fig, axes = plt.subplots(1, max(len(labels), 1),
                             figsize=(4 * max(len(labels), 1), 4),
                             squeeze=False)
    real, generated = aligned(real, generated)
    for ax, label in zip(axes[0], labels):
        ax.scatter(real[real_labels.reindex(real.index) == label].mean(),
                   generated[generated_labels.reindex(generated.index)
                             == label].mean(), s=10, alpha=0.6)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_xlabel("prevalence in real samples")
        ax.set_ylabel("prevalence in generated samples")
        ax.set_title(label)
    return fig


def richness_figure(richness):
    fig, ax = plt.subplots(figsize=(7, 3.5))
    groups = richness.groupby(["label", "source"])["genera"]
    names = [f"{label}\n{source}" for label, source in groups.groups]
    ax.boxplot([values.to_numpy() for _, values in groups], labels=names)
    ax.set_ylabel("genera per sample")
    return fig


def generation_summary(output_dir: str, table: biom.Table,
                       taxonomy: pd.Series, generated_table: biom.Table,
                       generated_taxonomy: pd.Series,
                       generated_labels: pd.Series = None,
                       metadata: qiime2.CategoricalMetadataColumn = None,
                       random_state: int = 0) -> None:
    vocabulary = Vocabulary.from_files(
        mgm_model.packaged_model_path() / "vocabulary.txt",
        mgm_model.packaged_model_path() / "normalization.tsv")
    real = genus_presence(table, taxonomy, vocabulary)
    generated = genus_presence(generated_table, generated_taxonomy,
                               vocabulary)
    labelled = metadata is not None and generated_labels is not None
    if labelled:
        check_labels_cover(generated.index, generated_labels,
                           "generated table", "generated labels (the "
                           "generated_labels output of the same generate "
                           "run)")
        check_labels_cover(real.index, metadata.to_series(), "real table",
                           f"metadata column {metadata.name!r}",
                           every=False)
    real_labels = group_labels(
        real.index, metadata.to_series() if labelled else None)
    generated_labels = group_labels(
        generated.index, generated_labels if labelled else None)
    correlations, richness, realism = summary_tables(
        real, real_labels, generated, generated_labels, random_state,
        vocabulary)
    render(output_dir, "Generated versus real communities", [
        prevalence_section(output_dir, correlations, real, real_labels,
                           generated, generated_labels),
        richness_section(output_dir, richness),
        realism_section(output_dir, realism)],
        intro=(f"{len(real_labels)} real and {len(generated_labels)} "
               f"generated samples, compared by genus."),
        warnings=summary_warnings(real_labels, generated_labels, realism))


def check_labels_cover(sample_ids, labels, table, source, every=True):
    """Every sample (or, with ``every=False``, some sample) has a label,
    or an error saying the inputs do not belong together."""
    missing = pd.Index(sample_ids).difference(labels.dropna().index)
    if len(missing) if every else len(missing) == len(sample_ids):
        raise ValueError(
            f"{len(missing)} of the {len(sample_ids)} samples of the "
            f"{table} have no label in the {source} (for example "
            f"{', '.join(map(str, missing[:3]))}): the inputs do not belong "
            "together. Pass the labels made for this table.")


def summary_warnings(real_labels, generated_labels, realism):
    warnings = []
    unmatched = sorted(set(generated_labels) - set(real_labels))
    if unmatched:
        warnings.append(f"Generated label(s) with no real samples of the "
                        f"same label: {', '.join(unmatched)}.")
    if len(realism) and realism["ROC-AUC real vs generated"].isna().any():
        warnings.append("Some labels have too few samples (fewer than 2 on "
                        "a side) for the real-versus-generated test.")
    return warnings


def prevalence_section(output_dir, correlations, real, real_labels,
                       generated, generated_labels):
    section = Section(
        "Genus prevalence",
        "Prevalence is the fraction of samples in which a genus occurs. "
        "Realistic generated communities have prevalences that correlate "
        "with those of real samples of the same label, and better than with "
        "real samples of another label. Only genera seen in either group "
        "are compared.")
    section.figure(prevalence_figure(real, real_labels, generated,
                                     generated_labels),
                   output_dir, "prevalence",
                   "Genus prevalence, real versus generated, per label")
    section.table(correlations.set_index(["generated label", "real label"]),
                  output_dir, "prevalence-correlations")
    return section


def richness_section(output_dir, richness):
    section = Section(
        "Richness",
        "Number of genera per sample, real versus generated. The comparison "
        "counts only the genera of the model's vocabulary (the only ones it "
        "can generate): mean generated richness as a fraction of the real "
        "one (1: equal).")
    section.figure(richness_figure(richness), output_dir, "richness",
                   "Genera per sample, real against generated, per label "
                   "(boxes: quartiles and median)")
    means = richness.groupby(["label", "source"])["MGM genera"].mean() \
        .unstack()
    comparison = pd.DataFrame({
        "real": means.get("real"), "generated": means.get("generated")})
    comparison["generated / real"] = (comparison["generated"]
                                      / comparison["real"])
    comparison.index.name = "label"
    section.table(comparison, output_dir, "richness-comparison")
    summary = richness.groupby(["label", "source"])["genera"].describe()
    section.table(summary)
    richness.index.name = "sample-id"
    section.table(richness, output_dir, "richness-per-sample", max_rows=20)
    return section


def realism_section(output_dir, realism):
    section = Section(
        "Can a classifier tell them apart?",
        "A random forest is trained, with stratified cross-validation, to "
        "tell real from generated samples of the same label using which "
        "genera are present. ROC-AUC 0.5 means the generated communities "
        "are indistinguishable from real ones; 1.0 means they are trivially "
        "told apart. Lower is more realistic. Abundances are not used: "
        "they come from a rank-abundance profile, not from the model.")
    if len(realism):
        section.table(realism.set_index("label"), output_dir,
                      "real-vs-generated")
    return section

"""Visualizer: how much of a table the MGM vocabulary understands and,
given a classifier or regressor, how well the table fits it."""
import biom
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..mgm import fit
from ..mgm import model as mgm_model
from ..mgm.tables import whole_counts
from ..actions.common import model_or_pretrained
from .report import Section, render
from ..mgm.tokens import genus_table, rank_sentences


def coverage_table(table, taxonomy, model):
    """Per sample: reads, mapped reads, genera and sentence length."""
    genera = genus_table(table, taxonomy, model.vocabulary)
    sentences, n_genera = rank_sentences(genera, model.vocabulary,
                                         model.max_length)
    mapped = np.asarray(genera.counts.sum(axis=1)).ravel()
    total = genera.total_counts
    report = pd.DataFrame({
        "total reads": whole_counts(total),
        "mapped reads": whole_counts(mapped),
        "mapped fraction": np.divide(mapped, total,
                                     out=np.zeros_like(mapped),
                                     where=total > 0),
        "vocabulary genera": n_genera,
        "sentence length": sentences.lengths,
        f"genera cut at {model.max_length} tokens": np.maximum(
            n_genera - (model.max_length - 2), 0),
    }, index=genera.sample_ids)
    return report, genera


def predictor_section(genera, model, output_dir):
    """The fit of each sample to a classifier or regressor (its columns
    are ``fit.table_fit``'s) and the warnings it gives."""
    table_fit = fit.table_fit(genera, model)
    reads, importance = fit.THRESHOLDS.values()
    section = Section(
        f"Fit to the {model.kind}",
        f"The share of all of each sample's reads (unmapped and unassigned "
        f"ones included) in {fit.described(model)} "
        "(the genera of its training samples; for a fine-tuned network, "
        "the vocabulary), how many of them it holds and, with a random "
        "forest, the share of the forest's importance in genera it holds. "
        "A sample with none of them cannot be predicted; 'poor' marks "
        f"samples below {reads:.0%} of the reads or "
        f"{importance:.0%} of the importance, whose predictions lean "
        "toward the training samples' most common outcome. Samples are "
        "sorted with the worst fit first (the smallest share of a "
        "threshold reached).")
    section.table(fit.worst_first(table_fit), output_dir,
                  "predictor-fit")
    warnings = [fit.warning(table_fit, genera, model)]
    blind = table_fit.index[table_fit[fit.READS] == 0]
    if len(blind):
        warnings.append(
            f"{len(blind)} sample(s) have none of {fit.described(model)} "
            f"and cannot be predicted: {', '.join(map(str, blind[:20]))}.")
    return section, [w for w in warnings if w]


def summarize_coverage(output_dir: str, table: biom.Table,
                       taxonomy: pd.Series,
                       model: mgm_model.MGMModel = None) -> None:
    model = model_or_pretrained(model)
    report, genera = coverage_table(table, taxonomy, model)
    unmapped = genera.unmapped
    report = report.sort_values("mapped fraction")
    no_genus = report.index[report["vocabulary genera"] == 0]
    truncated = report.index[report.iloc[:, -1] > 0]
    warnings = []
    if len(no_genus):
        warnings.append(
            f"{len(no_genus)} sample(s) have no genus of the MGM vocabulary "
            f"and cannot be analysed: {', '.join(map(str, no_genus[:20]))}.")
    if len(truncated):
        warnings.append(
            f"{len(truncated)} sample(s) have more than "
            f"{model.max_length - 2} vocabulary genera; their least-ranked "
            "genera are left out of the sentence.")

    overview = Section(
        "Per-sample coverage",
        f"Mapped reads are reads whose genus is one of the "
        f"{len(model.vocabulary.genus_tokens):,} genera this model knows. "
        "Samples are sorted with the least covered first. The sentence is "
        "<bos>, the genera ranked by standardized abundance, <eos> (at most "
        f"{model.max_length} tokens).")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].hist(report["mapped fraction"], bins=20, range=(0, 1),
                 color="#3b75af")
    axes[0].set_xlabel("fraction of reads mapped to the vocabulary")
    axes[0].set_ylabel("samples")
    axes[1].hist(report["vocabulary genera"], bins=20, color="#4f9a55")
    axes[1].set_xlabel("vocabulary genera per sample")
    axes[1].set_ylabel("samples")
    overview.figure(fig, output_dir, "coverage",
                    "Left: the share of each sample's reads in genera MGM "
                    "knows; right: how many of those genera each sample "
                    "holds")
    overview.table(report, output_dir, "per-sample-coverage")

    missing = Section(
        "Genera MGM does not know",
        "Taxonomy assignments whose genus could not be matched to the MGM "
        "vocabulary (no genus-level name, 'uncultured', or a genus absent "
        "from the pre-training corpus), ranked by reads.")
    unmapped_df = pd.DataFrame({
        "reads": pd.Series(whole_counts(unmapped), index=unmapped.index),
        "fraction of all reads": unmapped / max(report["total reads"].sum(),
                                                1)})
    unmapped_df.index.name = "taxonomy"
    missing.table(unmapped_df, output_dir, "unmapped-taxa")

    totals = report[["total reads", "mapped reads"]].sum()
    mapped = totals["mapped reads"] / max(totals["total reads"], 1)
    intro = (f"{len(report)} samples; {mapped:.1%} "
             f"of all reads map to the MGM vocabulary; median "
             f"{report['vocabulary genera'].median():.0f} genera per sample.")
    sections = [overview, missing]
    if model.kind != "pretrained":
        section, fit_warnings = predictor_section(genera, model, output_dir)
        sections.insert(1, section)
        warnings.extend(fit_warnings)
    render(output_dir, "MGM vocabulary coverage", sections,
           intro=intro, warnings=warnings)

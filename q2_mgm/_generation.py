"""Actions: continued pre-training, generation and its summary."""
import biom
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import qiime2
import scipy.sparse as sp
from scipy.stats import pearsonr, spearmanr
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from . import model as mgm_model
from ._embedding import model_or_pretrained
from ._report import Section, render
from .generation import Sampling, generate_samples
from .pretraining import pretrain_model
from .training import TrainingSettings
from .vocabulary import (GENUS_PREFIX, Vocabulary, genus_candidates,
                         genus_of_lineage)

ALL = "all samples"


def pretrain(table: biom.Table, taxonomy: pd.Series,
             model: mgm_model.MGMModel = None,
             metadata: qiime2.CategoricalMetadataColumn = None,
             from_scratch: bool = False, extend_vocabulary: bool = False,
             epochs: int = 30, learning_rate: float = 1e-3,
             batch_size: int = 50, weight_decay: float = 0.001,
             warmup_fraction: float = 0.1, validation_fraction: float = 0.1,
             patience: int = 3, random_state: int = 0, device: str = "auto",
             threads: int = 0) -> mgm_model.MGMModel:
    settings = TrainingSettings(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
        weight_decay=weight_decay, warmup_fraction=warmup_fraction,
        patience=patience, random_state=random_state, device=device,
        threads=threads)
    labels = None if metadata is None else metadata.to_series()
    return pretrain_model(model_or_pretrained(model), table, taxonomy,
                          labels, from_scratch, extend_vocabulary,
                          validation_fraction, settings)


def generate(model: mgm_model.MGMModel = None, n_samples: int = 10,
             labels: list = None, temperature: float = 1.0, top_k: int = 50,
             top_p: float = 1.0, max_length: int = 512,
             random_state: int = 0, batch_size: int = 64,
             device: str = "auto", threads: int = 0
             ) -> (biom.Table, pd.Series, pd.Series):
    sampling = Sampling(temperature, top_k, top_p, max_length, random_state,
                        batch_size, device, threads)
    return generate_samples(model_or_pretrained(model), n_samples, labels,
                            sampling)


def genus_names(taxonomy, feature_ids, vocabulary):
    """Genus name of each feature (vocabulary spelling where known)."""
    names = {}
    for lineage in pd.unique(taxonomy.reindex(feature_ids).to_numpy()):
        position = vocabulary.genus_position(lineage)
        candidates = genus_candidates(genus_of_lineage(lineage))
        names[lineage] = (vocabulary.genus_tokens[position] if position >= 0
                          else GENUS_PREFIX + candidates[0] if candidates
                          else "")
    return taxonomy.reindex(feature_ids).map(names).fillna("").to_numpy()


def genus_presence(table, taxonomy, vocabulary):
    """Samples x genera presence (bool DataFrame) of a feature table."""
    names = genus_names(taxonomy, table.ids(axis="observation"), vocabulary)
    named = names != ""
    genera, column = np.unique(names[named], return_inverse=True)
    collapse = sp.csr_matrix(
        (np.ones(named.sum()), (np.flatnonzero(named), column)),
        shape=(len(names), len(genera)))
    counts = table.matrix_data.T.tocsr() @ collapse
    return pd.DataFrame(counts.toarray() > 0,
                        index=pd.Index(table.ids(), name="sample-id"),
                        columns=genera)


def group_labels(sample_ids, labels):
    """Each sample's label (``ALL`` when no labels), unlabelled dropped."""
    if labels is None:
        return pd.Series(ALL, index=sample_ids)
    return pd.Series(labels).reindex(sample_ids).dropna().astype(str)


def prevalence_correlations(real, real_labels, generated, generated_labels):
    """Spearman and Pearson correlation of genus prevalence between every
    generated label and every real label (genera seen in either group)."""
    rows = []
    for g_label in sorted(set(generated_labels)):
        g_prev = generated[generated_labels == g_label].mean()
        for r_label in sorted(set(real_labels)):
            r_prev = real[real_labels == r_label].mean()
            seen = (g_prev > 0) | (r_prev > 0)
            x, y = g_prev[seen].to_numpy(), r_prev[seen].to_numpy()
            rows.append({"generated label": g_label, "real label": r_label,
                         "Spearman": spearmanr(x, y)[0],
                         "Pearson": pearsonr(x, y)[0],
                         "genera compared": int(seen.sum())})
    return pd.DataFrame(rows)


def real_vs_generated_auc(real, generated, random_state):
    """Cross-validated ROC-AUC of a random forest telling real from
    generated samples by genus presence (0.5: indistinguishable)."""
    features = pd.concat([real, generated]).to_numpy(float)
    target = np.r_[np.zeros(len(real)), np.ones(len(generated))]
    folds = min(5, len(real), len(generated))
    if folds < 2:
        return np.nan
    forest = RandomForestClassifier(n_estimators=200,
                                    random_state=random_state)
    scores = cross_val_predict(
        forest, features, target, method="predict_proba",
        cv=StratifiedKFold(folds, shuffle=True, random_state=random_state))
    return roc_auc_score(target, scores[:, 1])


def aligned(real, generated):
    genera = real.columns.union(generated.columns)
    return (real.reindex(columns=genera, fill_value=False),
            generated.reindex(columns=genera, fill_value=False))


def summary_tables(real, real_labels, generated, generated_labels,
                   random_state, vocabulary):
    """Correlations, richness and realism (AUC) per label. Richness counts
    all genera and, separately, the genera of the model's vocabulary (the
    only ones it can generate)."""
    real, generated = aligned(real.loc[real_labels.index],
                              generated.loc[generated_labels.index])
    correlations = prevalence_correlations(real, real_labels, generated,
                                           generated_labels)
    known = real.columns.isin(vocabulary.genus_tokens)
    richness = pd.concat([
        pd.DataFrame({"source": "real", "label": real_labels,
                      "genera": real.sum(1),
                      "MGM genera": real.loc[:, known].sum(1)}),
        pd.DataFrame({"source": "generated", "label": generated_labels,
                      "genera": generated.sum(1),
                      "MGM genera": generated.loc[:, known].sum(1)})])
    realism = []
    for label in sorted(set(real_labels) & set(generated_labels)):
        realism.append({
            "label": label,
            "real samples": int((real_labels == label).sum()),
            "generated samples": int((generated_labels == label).sum()),
            "ROC-AUC real vs generated": real_vs_generated_auc(
                real[real_labels == label],
                generated[generated_labels == label], random_state)})
    return correlations, richness, pd.DataFrame(realism)


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
                   "Genera per sample")
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

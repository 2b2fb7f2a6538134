"""How realistic generated communities are: genus presence, prevalence
correlations, richness and a real-versus-generated classifier."""
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import pearsonr, spearmanr
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from .labels import sample_labels
from .vocabulary import GENUS_PREFIX, genus_candidates, genus_of_lineage

ALL = "all samples"


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
    return sample_labels(sample_ids, labels)


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

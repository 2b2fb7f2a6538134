"""Usage examples of every action; they run offline on the example data.

Each example calls exactly one action. Inputs that another action makes (a
fitted classifier, embeddings, generated samples) come from factories that
compute them once per process on the example data and share the result, so
the examples, q2galaxy's tests and the test suite do not re-train them.
"""
import functools
from importlib import resources

import qiime2

EXAMPLE_DATA = resources.files("q2_mgm") / "example_data"


def example_path(name):
    return str(EXAMPLE_DATA / name)


# Factories ------------------------------------------------------------------

def table_factory():
    return qiime2.Artifact.load(example_path("mouse-table.qza"))


def taxonomy_factory():
    return qiime2.Artifact.load(example_path("mouse-taxonomy.qza"))


def metadata_factory():
    return qiime2.Metadata.load(example_path("mouse-metadata.tsv"))


def actions():
    from qiime2.plugins import mgm
    return mgm.actions


def diet():
    return metadata_factory().get_column("diet")


@functools.cache
def embeddings_factory():
    embeddings, = actions().embed(table_factory(), taxonomy_factory())
    return embeddings


def mice():
    return metadata_factory().get_column("mouseID")


def days():
    return metadata_factory().get_column("relativeTime")


@functools.cache
def classifier_factory():
    classifier, _ = actions().fit_classifier(
        table_factory(), taxonomy_factory(), diet(), groups=mice())
    return classifier


@functools.cache
def cross_validation():
    return actions().classify_samples_cv(
        table_factory(), taxonomy_factory(), diet(), groups=mice(), cv=3)


def cv_probabilities_factory():
    return cross_validation().probabilities


def cv_forest_probabilities_factory():
    return cross_validation().forest_probabilities


def cv_probe_probabilities_factory():
    return cross_validation().probe_probabilities


@functools.cache
def regressor_factory():
    regressor, _ = actions().fit_regressor(
        table_factory(), taxonomy_factory(), days(), groups=mice())
    return regressor


@functools.cache
def regression_cv():
    return actions().regress_samples_cv(
        table_factory(), taxonomy_factory(), days(), groups=mice(), cv=3)


def regression_cv_factory():
    return regression_cv().predictions


def regression_cv_forest_factory():
    return regression_cv().forest_predictions


def regression_cv_probe_factory():
    return regression_cv().probe_predictions


def folds_factory():
    """The folds of ``cross_validation``, as sample metadata."""
    from ..actions.classification import cv_fold_metadata
    return cv_fold_metadata(diet(), 3, 0, mice())


def regression_folds_factory():
    """The folds of ``regression_cv``, as sample metadata."""
    from ..actions.regression import cv_fold_metadata
    return cv_fold_metadata(days(), 3, 0, mice())


@functools.cache
def perturbation_effects_factory():
    effects, = actions().perturb(
        table_factory(), taxonomy_factory(), diet(), reference_group="BK",
        target_group="Western", top_n=5)
    return effects


@functools.cache
def removal_effects_factory():
    effects, _ = actions().leave_one_genus_out(table_factory(),
                                               taxonomy_factory(), top_n=10)
    return effects


def diet_model_factory():
    """A small MGM pre-trained with diet labels on the example data (made
    by scripts/make_example_data.py; 1.5 MB where the packaged MGM is
    33 MB)."""
    return qiime2.Artifact.load(example_path("mouse-diet-model.qza"))


@functools.cache
def generated():
    return actions().generate(model=diet_model_factory(), n_samples=5,
                              labels=["BK", "Western"], max_length=40)


def generated_table_factory():
    return generated().generated_table


def generated_taxonomy_factory():
    return generated().generated_taxonomy


def generated_labels_factory():
    return generated().generated_labels


# Helpers --------------------------------------------------------------------

def run(use, action, inputs, outputs):
    return use.action(use.UsageAction(plugin_id="mgm", action_id=action),
                      use.UsageInputs(**inputs),
                      use.UsageOutputNames(**outputs))


def table_inputs(use):
    """The example table and taxonomy."""
    return {"table": use.init_artifact("table", table_factory),
            "taxonomy": use.init_artifact("taxonomy", taxonomy_factory)}


def diet_column(use):
    metadata = use.init_metadata("metadata", metadata_factory)
    return use.get_metadata_column("diet", "diet", metadata)


def labelled_inputs(use):
    """Table, taxonomy and the diet column."""
    return {**table_inputs(use), "metadata": diet_column(use)}


def grouped_inputs(use):
    """Table, taxonomy, the diet column and the mouse of each sample."""
    metadata = use.init_metadata("metadata", metadata_factory)
    return {**table_inputs(use),
            "metadata": use.get_metadata_column("diet", "diet", metadata),
            "groups": use.get_metadata_column("mouse", "mouseID", metadata)}


def timed_inputs(use):
    """Table, taxonomy, the day of each sample and its mouse."""
    metadata = use.init_metadata("metadata", metadata_factory)
    return {**table_inputs(use),
            "metadata": use.get_metadata_column("day", "relativeTime",
                                                metadata),
            "groups": use.get_metadata_column("mouse", "mouseID", metadata)}


# Foundation -----------------------------------------------------------------

def pretrained_model_example(use):
    run(use, "pretrained_model", {}, {"model": "mgm_model"})


def embed_example(use):
    run(use, "embed", table_inputs(use), {"embeddings": "embeddings"})


def embedding_distance_example(use):
    embeddings = use.init_artifact("embeddings", embeddings_factory)
    run(use, "embedding_distance", {"embeddings": embeddings},
        {"distance_matrix": "mgm_distance"})


def embedding_pcoa_example(use):
    embeddings = use.init_artifact("embeddings", embeddings_factory)
    run(use, "embedding_pcoa", {"embeddings": embeddings,
                                "number_of_dimensions": 5},
        {"pcoa": "mgm_pcoa"})


def summarize_coverage_example(use):
    run(use, "summarize_coverage", table_inputs(use),
        {"visualization": "coverage"})


def summarize_predictor_coverage_example(use):
    classifier = use.init_artifact("diet_classifier", classifier_factory)
    run(use, "summarize_coverage", {**table_inputs(use), "model": classifier},
        {"visualization": "diet_classifier_coverage"})


def collapse_genera_example(use):
    run(use, "collapse_genera", table_inputs(use),
        {"genus_table": "mgm_genera"})


# Classification -------------------------------------------------------------

def fit_classifier_example(use):
    run(use, "fit_classifier", grouped_inputs(use),
        {"classifier": "diet_classifier",
         "feature_importance": "diet_importance"})


def predict_classification_example(use):
    classifier = use.init_artifact("diet_classifier", classifier_factory)
    run(use, "predict_classification",
        {**table_inputs(use), "model": classifier},
        {"predictions": "predictions", "probabilities": "probabilities",
         "predictor_fit": "diet_fit"})


def summarize_training_example(use):
    classifier = use.init_artifact("diet_classifier", classifier_factory)
    run(use, "summarize_training", {"model": classifier},
        {"visualization": "training_summary"})


def classify_samples_example(use):
    run(use, "classify_samples", grouped_inputs(use),
        {"sample_estimator": "sample_estimator",
         "feature_importance": "feature_importance",
         "predictions": "predictions", "training_summary": "training_summary",
         "accuracy_results": "accuracy_results",
         "probabilities": "probabilities", "heatmap": "heatmap",
         "forest_predictions": "forest_predictions",
         "forest_probabilities": "forest_probabilities",
         "probe_predictions": "probe_predictions",
         "probe_probabilities": "probe_probabilities"})


def classify_samples_cv_example(use):
    run(use, "classify_samples_cv", {**grouped_inputs(use), "cv": 3},
        {"predictions": "cv_predictions",
         "probabilities": "cv_probabilities",
         "accuracy_results": "cv_accuracy",
         "feature_importance": "cv_importance", "heatmap": "cv_heatmap",
         "forest_predictions": "cv_forest_predictions",
         "forest_probabilities": "cv_forest_probabilities",
         "probe_predictions": "cv_probe_predictions",
         "probe_probabilities": "cv_probe_probabilities"})


def summarize_cross_validation_example(use):
    run(use, "summarize_cross_validation",
        {"probabilities": use.init_artifact("cv_probabilities",
                                            cv_probabilities_factory),
         "forest_probabilities": use.init_artifact(
             "cv_forest_probabilities", cv_forest_probabilities_factory),
         "probe_probabilities": use.init_artifact(
             "cv_probe_probabilities", cv_probe_probabilities_factory),
         "truth": diet_column(use),
         "folds": use.init_metadata("folds", folds_factory)},
        {"visualization": "cv_summary"})


# Regression -----------------------------------------------------------------

def fit_regressor_example(use):
    run(use, "fit_regressor", timed_inputs(use),
        {"regressor": "day_regressor",
         "feature_importance": "day_importance"})


def predict_regression_example(use):
    regressor = use.init_artifact("day_regressor", regressor_factory)
    run(use, "predict_regression",
        {**table_inputs(use), "model": regressor},
        {"predictions": "predicted_days", "predictor_fit": "day_fit"})


def regress_samples_example(use):
    run(use, "regress_samples", timed_inputs(use),
        {"sample_estimator": "day_estimator",
         "feature_importance": "day_estimator_importance",
         "predictions": "predicted_days",
         "training_summary": "day_training_summary",
         "accuracy_results": "day_accuracy",
         "forest_predictions": "forest_days",
         "probe_predictions": "probe_days"})


def regress_samples_cv_example(use):
    run(use, "regress_samples_cv", {**timed_inputs(use), "cv": 3},
        {"predictions": "cv_days", "accuracy_results": "cv_day_accuracy",
         "feature_importance": "cv_day_importance",
         "forest_predictions": "cv_forest_days",
         "probe_predictions": "cv_probe_days"})


def summarize_regression_example(use):
    metadata = use.init_metadata("metadata", metadata_factory)
    run(use, "summarize_regression",
        {"predictions": use.init_artifact("cv_days", regression_cv_factory),
         "forest_predictions": use.init_artifact(
             "cv_forest_days", regression_cv_forest_factory),
         "probe_predictions": use.init_artifact(
             "cv_probe_days", regression_cv_probe_factory),
         "truth": use.get_metadata_column("day", "relativeTime", metadata),
         "folds": use.init_metadata("day_folds", regression_folds_factory)},
        {"visualization": "cv_day_summary"})


# Interpretation -------------------------------------------------------------

def attention_importance_example(use):
    run(use, "attention_importance", labelled_inputs(use),
        {"importance": "attention_importance",
         "statistics": "attention_statistics"})


def keystone_summary_example(use):
    run(use, "keystone_summary", labelled_inputs(use),
        {"visualization": "keystone_summary"})


def perturb_example(use):
    run(use, "perturb",
        {**labelled_inputs(use), "reference_group": "BK",
         "target_group": "Western", "top_n": 5},
        {"effects": "perturbation_effects"})


def perturbation_summary_example(use):
    effects = use.init_artifact("perturbation_effects",
                                perturbation_effects_factory)
    run(use, "perturbation_summary", {"effects": effects},
        {"visualization": "perturbation_summary"})


def leave_one_genus_out_example(use):
    run(use, "leave_one_genus_out", {**table_inputs(use), "top_n": 10},
        {"effects": "removal_effects", "importance": "removal_importance"})


def leave_one_genus_out_summary_example(use):
    effects = use.init_artifact("removal_effects", removal_effects_factory)
    run(use, "leave_one_genus_out_summary", {"effects": effects},
        {"visualization": "leave_one_genus_out_summary"})


# Pre-training and generation ----------------------------------------------

def pretrain_example(use):
    run(use, "pretrain", {**labelled_inputs(use), "epochs": 1},
        {"pretrained_model": "diet_model"})


def generate_example(use):
    model = use.init_artifact("diet_model", diet_model_factory)
    run(use, "generate",
        {"model": model, "n_samples": 5, "labels": ["BK", "Western"],
         "max_length": 40},
        {"generated_table": "generated_table",
         "generated_taxonomy": "generated_taxonomy",
         "generated_labels": "generated_labels"})


def generate_unconditioned_example(use):
    run(use, "generate", {"n_samples": 5, "max_length": 40},
        {"generated_table": "generated_table",
         "generated_taxonomy": "generated_taxonomy",
         "generated_labels": "generated_labels"})


def generation_summary_example(use):
    run(use, "generation_summary",
        {**labelled_inputs(use),
         "generated_table": use.init_artifact("generated_table",
                                              generated_table_factory),
         "generated_taxonomy": use.init_artifact(
             "generated_taxonomy", generated_taxonomy_factory),
         "generated_labels": use.init_artifact("generated_labels",
                                               generated_labels_factory)},
        {"visualization": "generation_summary"})

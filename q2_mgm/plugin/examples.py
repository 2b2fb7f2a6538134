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
EXAMPLE_EPOCHS = 2


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
def pretrained_factory():
    model, = actions().pretrained_model()
    return model


@functools.cache
def embeddings_factory():
    embeddings, = actions().embed(table_factory(), taxonomy_factory())
    return embeddings


@functools.cache
def classifier_factory():
    classifier, = actions().fit_classifier(
        table_factory(), taxonomy_factory(), diet(), epochs=EXAMPLE_EPOCHS)
    return classifier


@functools.cache
def cross_validation():
    metadata = metadata_factory()
    return actions().classify_samples_cv(
        table_factory(), taxonomy_factory(), metadata.get_column("diet"),
        groups=metadata.get_column("mouseID"), cv=3, epochs=1)


def cv_predictions_factory():
    return cross_validation().predictions


def cv_probabilities_factory():
    return cross_validation().probabilities


def folds_factory():
    """The folds of ``cross_validation``, as sample metadata."""
    from ..actions.classification import cv_fold_metadata
    metadata = metadata_factory()
    return cv_fold_metadata(metadata.get_column("diet"), 3, 0,
                            metadata.get_column("mouseID"))


@functools.cache
def perturbation_effects_factory():
    effects, = actions().perturb(
        table_factory(), taxonomy_factory(), diet(), reference_group="BK",
        target_group="Western", top_n=5)
    return effects


@functools.cache
def removal_effects_factory():
    effects, = actions().leave_one_genus_out(table_factory(),
                                             taxonomy_factory(), top_n=10)
    return effects


@functools.cache
def diet_model_factory():
    model, = actions().pretrain(table_factory(), taxonomy_factory(),
                                metadata=diet(), epochs=1)
    return model


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


def collapse_genera_example(use):
    run(use, "collapse_genera", table_inputs(use),
        {"genus_table": "mgm_genera"})


# Classification -------------------------------------------------------------

def fit_classifier_example(use):
    run(use, "fit_classifier",
        {**labelled_inputs(use), "epochs": EXAMPLE_EPOCHS},
        {"classifier": "diet_classifier"})


def predict_classification_example(use):
    classifier = use.init_artifact("diet_classifier", classifier_factory)
    run(use, "predict_classification",
        {**table_inputs(use), "model": classifier},
        {"predictions": "predictions", "probabilities": "probabilities"})


def summarize_training_example(use):
    classifier = use.init_artifact("diet_classifier", classifier_factory)
    run(use, "summarize_training", {"model": classifier},
        {"visualization": "training_summary"})


def classify_samples_example(use):
    run(use, "classify_samples",
        {**labelled_inputs(use), "epochs": EXAMPLE_EPOCHS},
        {"sample_estimator": "sample_estimator",
         "feature_importance": "feature_importance",
         "predictions": "predictions", "training_summary": "training_summary",
         "accuracy_results": "accuracy_results",
         "probabilities": "probabilities"})


def classify_samples_cv_example(use):
    metadata = use.init_metadata("metadata", metadata_factory)
    run(use, "classify_samples_cv",
        {**table_inputs(use),
         "metadata": use.get_metadata_column("diet", "diet", metadata),
         "groups": use.get_metadata_column("mouse", "mouseID", metadata),
         "cv": 3, "epochs": 1},
        {"predictions": "cv_predictions",
         "probabilities": "cv_probabilities",
         "accuracy_results": "cv_accuracy"})


def summarize_cross_validation_example(use):
    folds = use.init_metadata("folds", folds_factory)
    run(use, "summarize_cross_validation",
        {"predictions": use.init_artifact("cv_predictions",
                                          cv_predictions_factory),
         "probabilities": use.init_artifact("cv_probabilities",
                                            cv_probabilities_factory),
         "truth": diet_column(use),
         "folds": use.get_metadata_column("fold", "fold", folds)},
        {"visualization": "cv_summary"})


# Interpretation -------------------------------------------------------------

def attention_importance_example(use):
    run(use, "attention_importance", labelled_inputs(use),
        {"importance": "attention_importance"})


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
        {"effects": "removal_effects"})


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
    model = use.init_artifact("mgm_model", pretrained_factory)
    run(use, "generate", {"model": model, "n_samples": 5, "max_length": 40},
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

"""Registration of the classification actions and their usage examples."""
import qiime2
from q2_sample_classifier import ClassifierPredictions, Importance, \
    Probabilities
from q2_types.feature_data import FeatureData
from q2_types.sample_data import SampleData
from qiime2.plugin import (Bool, Categorical, Choices, Float, Int,
                           MetadataColumn, Numeric, Range, Str,
                           Visualization)

from . import _classification, _classification_report
from . import classification as clf
from ._examples import metadata_factory, run, table_inputs
from ._parameters import (ANY_MODEL, DROP_DESCRIPTION, ENGINE_DESCRIPTIONS,
                          ENGINE_PARAMETERS, TABLE_DESCRIPTIONS,
                          TABLE_INPUTS)
from ._types import Classifier, MGMModel
from .plugin_setup import citations, plugin

CITATIONS = [citations["mgm2025"], citations["bokulich2018q2samplecl"],
             citations["wolf2020transformers"]]
EXAMPLE_EPOCHS = 2

# --- parameters -------------------------------------------------------------
LABELS = {"metadata": MetadataColumn[Categorical]}
LABELS_DESCRIPTION = {
    "metadata": "Categorical metadata column with the class of each sample "
                "(for example diet or disease status)."}
FIT_PARAMETERS = {
    "epochs": Int % Range(1, None),
    "learning_rate": Float % Range(0, None, inclusive_start=False),
    "batch_size": Int % Range(1, None),
    "validation_fraction": Float % Range(0, 1, inclusive_end=False),
    "patience": Int % Range(1, None),
    "class_weight": Str % Choices(*clf.CLASS_WEIGHTS),
    "random_state": Int % Range(0, None),
    "missing_samples": Str % Choices(*clf.MISSING_SAMPLES),
    "drop_unmapped": Bool,
    "device": ENGINE_PARAMETERS["device"],
    "threads": ENGINE_PARAMETERS["threads"],
}
FIT_DESCRIPTIONS = {
    "epochs": "Most passes over the training samples; training usually "
              "stops earlier, when the validation loss stops improving. "
              "Default 20, where the published recipe allows 1000 and "
              "relies on early stopping alone: 20 bounds the run time on a "
              "CPU. Raise it for large cohorts.",
    "learning_rate": "Peak step size of the optimizer: AdamW, weight decay "
                     "0.001 sparing biases and LayerNorm weights, gradients "
                     "clipped at norm 1 (all as published). The rate rises "
                     "linearly over the first 10% of the steps (published: "
                     "100 steps, which can exceed a whole run on a small "
                     "cohort) and falls linearly to 0 at the last epoch. The "
                     "default, 1e-4, is lower than the published 1e-3, "
                     "which was unstable on cohorts of tens of samples. "
                     "Lower it if the loss jumps around.",
    "batch_size": "Training samples per optimization step. Default 16, "
                  "smaller than the published 64, so that a cohort of about "
                  "a hundred samples gets several steps per epoch.",
    "validation_fraction": "Fraction of the training samples held out, "
                           "stratified by class, to decide when to stop "
                           "(early stopping) and which epoch to keep. "
                           "Default 0.2 where the published recipe holds "
                           "out 0.1 at random: with tens of samples a 10% "
                           "random set is too small, and can miss a class. "
                           "With 0 every sample trains, and stopping and "
                           "the kept epoch follow the training loss instead.",
    "patience": "Stop after this many epochs without a lower validation "
                "loss. Default 3, where the published fine-tuning waits 10: "
                "within 20 epochs a patience of 10 would seldom stop early.",
    "class_weight": "'balanced' weighs each class by the inverse of its "
                    "frequency, so that a rare class counts as much as a "
                    "common one; 'none' weighs every sample equally, as the "
                    "published fine-tuning does. Default 'balanced', so "
                    "that unbalanced cohorts do not learn to ignore the "
                    "smaller class.",
    "random_state": "Seed for every random choice (splits, shuffling, "
                    "dropout, head initialisation). The same seed gives "
                    "the same model on the CPU.",
    "missing_samples": "How to handle table samples that are absent from "
                       "the metadata or have no value in the column: "
                       "'error' stops and names them; 'ignore' leaves them "
                       "out.",
    "drop_unmapped": DROP_DESCRIPTION,
    "device": ENGINE_DESCRIPTIONS["device"],
    "threads": ENGINE_DESCRIPTIONS["threads"],
}
START_MODEL = {"model": ANY_MODEL}
START_DESCRIPTION = {
    "model": "Model to start from. Default: the published MGM pre-trained "
             "on 263,302 MGnify samples. A classifier fine-tuned on another "
             "cohort can be fine-tuned further: with the same class labels "
             "its classification head is kept, otherwise it is "
             "re-initialised."}
TEST_SIZE = {"test_size": Float % Range(0, 1, inclusive_start=False,
                                        inclusive_end=False)}
TEST_SIZE_DESCRIPTION = {
    "test_size": "Fraction of the samples held out, stratified by class, "
                 "to test the classifier; they are never used for "
                 "training."}
CV_PARAMETERS = {"cv": Int % Range(2, None),
                 "groups": MetadataColumn[Categorical | Numeric]}
CV_DESCRIPTIONS = {
    "cv": "Number of cross-validation folds. Every class needs at least "
          "this many samples (or groups).",
    "groups": "Optional column of subjects (for example mouse or patient "
              "ID): all samples of one subject are kept in the same fold, "
              "so that the model is never tested on a subject it was "
              "trained on."}
PREDICTIONS = SampleData[ClassifierPredictions]
PROBABILITIES = SampleData[Probabilities]
PREDICTION_DESCRIPTIONS = {
    "predictions": "Predicted class of each sample.",
    "probabilities": "Probability of each class for each sample."}
RUNTIME = ("On 2 CPU cores, the default run on the 139 mouse samples of the "
           "example data (two classes, sentences of 13-25 tokens) takes about "
           "{} minutes; longer sentences (hundreds of genera) take longer.")
IMPORTANCE_DESCRIPTION = (
    "Attention each genus receives in the fine-tuned model (averaged over "
    "layers and heads, then over the training samples that contain the "
    "genus). Feature IDs are MGM genus tokens such as 'g__Bacteroides', so "
    "q2-sample-classifier's heatmap needs a table whose features are "
    "named the same way (genus-level, with the 'g__' prefix).")


# --- usage examples ---------------------------------------------------------
def example_inputs(use):
    """Table, taxonomy and the diet column, plus the sample metadata."""
    table, taxonomy = table_inputs(use)
    metadata = use.init_metadata("metadata", metadata_factory)
    diet = use.get_metadata_column("diet", "diet", metadata)
    return {"table": table, "taxonomy": taxonomy, "metadata": diet}, metadata


def fit_example_classifier(use, inputs):
    classifier, = run(use, "fit_classifier",
                      {**inputs, "epochs": EXAMPLE_EPOCHS},
                      {"classifier": "diet_classifier"})
    return classifier


def fit_classifier_example(use):
    fit_example_classifier(use, example_inputs(use)[0])


def predict_classification_example(use):
    inputs, _ = example_inputs(use)
    classifier = fit_example_classifier(use, inputs)
    run(use, "predict_classification",
        {"table": inputs["table"], "taxonomy": inputs["taxonomy"],
         "model": classifier},
        {"predictions": "predictions", "probabilities": "probabilities"})


def summarize_training_example(use):
    classifier = fit_example_classifier(use, example_inputs(use)[0])
    run(use, "summarize_training", {"model": classifier},
        {"visualization": "training_summary"})


def classify_samples_example(use):
    run(use, "classify_samples",
        {**example_inputs(use)[0], "epochs": EXAMPLE_EPOCHS},
        {"sample_estimator": "sample_estimator",
         "feature_importance": "feature_importance",
         "predictions": "predictions", "training_summary": "training_summary",
         "accuracy_results": "accuracy_results",
         "probabilities": "probabilities"})


def cv_example_run(use, inputs, metadata):
    mice = use.get_metadata_column("mouse", "mouseID", metadata)
    return run(use, "classify_samples_cv",
               {**inputs, "groups": mice, "cv": 3, "epochs": 1},
               {"predictions": "cv_predictions",
                "probabilities": "cv_probabilities",
                "accuracy_results": "cv_accuracy"})


def classify_samples_cv_example(use):
    cv_example_run(use, *example_inputs(use))


def folds_factory():
    """The folds of the cross-validation example, as sample metadata."""
    metadata = metadata_factory()
    labels = clf.sample_labels(metadata.ids, metadata.get_column("diet"))
    folds = clf.cv_folds(labels, 3, 0,
                         metadata.get_column("mouseID").to_series())
    return qiime2.Metadata(folds.astype(str).to_frame())


def summarize_cross_validation_example(use):
    inputs, metadata = example_inputs(use)
    predictions, probabilities, _ = cv_example_run(use, inputs, metadata)
    folds = use.init_metadata("folds", folds_factory)
    run(use, "summarize_cross_validation",
        {"predictions": predictions, "probabilities": probabilities,
         "truth": inputs["metadata"],
         "folds": use.get_metadata_column("fold", "fold", folds)},
        {"visualization": "cv_summary"})


# --- registration -----------------------------------------------------------
plugin.methods.register_function(
    function=_classification.fit_classifier,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**LABELS, **FIT_PARAMETERS},
    outputs=[("classifier", MGMModel[Classifier])],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**LABELS_DESCRIPTION, **FIT_DESCRIPTIONS},
    output_descriptions={
        "classifier": "MGM fine-tuned to predict the metadata column, with "
                      "its class labels, settings and per-epoch losses."},
    name="Fine-tune MGM to classify samples",
    description=(
        "Fine-tune MGM to predict a categorical sample property. A "
        "classification head on the end-of-sample token is added to the "
        "model (its transformer weights copied from the starting model) and "
        "the whole network is trained with cross-entropy, AdamW, warm-up "
        "and early stopping on a stratified validation set; the best "
        "epoch's weights are kept. " + RUNTIME.format("1-2")),
    citations=CITATIONS,
    examples={"fit_classifier": fit_classifier_example},
)

plugin.methods.register_function(
    function=_classification.predict_classification,
    inputs={**TABLE_INPUTS, "model": MGMModel[Classifier]},
    parameters={"drop_unmapped": Bool, **ENGINE_PARAMETERS},
    outputs=[("predictions", PREDICTIONS), ("probabilities", PROBABILITIES)],
    input_descriptions={
        **TABLE_DESCRIPTIONS,
        "model": "An MGM classifier from fit-classifier or classify-samples."},
    parameter_descriptions={"drop_unmapped": DROP_DESCRIPTION,
                            **ENGINE_DESCRIPTIONS},
    output_descriptions=PREDICTION_DESCRIPTIONS,
    name="Predict sample classes with a fine-tuned MGM",
    description=(
        "Predict the class of each sample with an MGM classifier. The "
        "outputs are q2-sample-classifier's types: use its "
        "confusion-matrix to compare them with the true classes."),
    citations=CITATIONS,
    examples={"predict_classification": predict_classification_example},
)

plugin.visualizers.register_function(
    function=_classification_report.summarize_training,
    inputs={"model": MGMModel[Classifier]},
    parameters={},
    input_descriptions={"model": "An MGM classifier."},
    name="Summarize how an MGM classifier was trained",
    description=(
        "Training and validation loss per epoch, the epoch that was kept "
        "(early stopping), the class balance and the settings used."),
    citations=CITATIONS,
    examples={"summarize_training": summarize_training_example},
)

plugin.visualizers.register_function(
    function=_classification_report.summarize_cross_validation,
    inputs={"predictions": PREDICTIONS, "probabilities": PROBABILITIES},
    parameters={"truth": MetadataColumn[Categorical],
                "folds": MetadataColumn[Categorical]},
    input_descriptions={
        "predictions": "Out-of-fold predictions.",
        "probabilities": "Out-of-fold class probabilities."},
    parameter_descriptions={
        "truth": "Metadata column with the true class of each sample.",
        "folds": "Metadata column with the fold in which each sample was "
                 "predicted."},
    name="Summarize cross-validated classification",
    description=(
        "Accuracy, macro F1 and ROC-AUC of each fold, their mean and "
        "standard deviation, ROC curves and the confusion matrix."),
    citations=CITATIONS,
    examples={"summarize_cross_validation":
              summarize_cross_validation_example},
)

plugin.pipelines.register_function(
    function=_classification.classify_samples,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**LABELS, **TEST_SIZE, **FIT_PARAMETERS},
    outputs=[("sample_estimator", MGMModel[Classifier]),
             ("feature_importance", FeatureData[Importance]),
             ("predictions", PREDICTIONS),
             ("training_summary", Visualization),
             ("accuracy_results", Visualization),
             ("probabilities", PROBABILITIES)],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**LABELS_DESCRIPTION, **TEST_SIZE_DESCRIPTION,
                            **FIT_DESCRIPTIONS},
    output_descriptions={
        "sample_estimator": "MGM fine-tuned on the training samples.",
        "feature_importance": IMPORTANCE_DESCRIPTION,
        "predictions": "Predicted class of each test sample.",
        "training_summary": "Loss curves and class balance of training.",
        "accuracy_results": "Confusion matrix and ROC curves of the test "
                            "samples (q2-sample-classifier's "
                            "confusion-matrix).",
        "probabilities": "Class probabilities of each test sample."},
    name="Train and test an MGM sample classifier",
    description=(
        "Split the samples into a stratified training and test set, "
        "fine-tune MGM on the training set (fit-classifier), predict the "
        "test set and report its accuracy, like q2-sample-classifier's "
        "classify-samples. " + RUNTIME.format("1-2")),
    citations=CITATIONS,
    examples={"classify_samples": classify_samples_example},
)

plugin.pipelines.register_function(
    function=_classification.classify_samples_cv,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**LABELS, **CV_PARAMETERS, **FIT_PARAMETERS},
    outputs=[("predictions", PREDICTIONS), ("probabilities", PROBABILITIES),
             ("accuracy_results", Visualization)],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**LABELS_DESCRIPTION, **CV_DESCRIPTIONS,
                            **FIT_DESCRIPTIONS},
    output_descriptions={
        **PREDICTION_DESCRIPTIONS,
        "accuracy_results": "Accuracy, F1 and ROC-AUC per fold and on "
                            "average, ROC curves and confusion matrix."},
    name="Cross-validate an MGM sample classifier",
    description=(
        "Stratified k-fold cross-validation: MGM is fine-tuned once per "
        "fold on the other folds, so every sample gets an out-of-fold "
        "prediction. With groups, the samples of one subject stay in one "
        "fold. Takes about as long as one fit-classifier run per fold. " +
        RUNTIME.format("6-10")),
    citations=CITATIONS,
    examples={"classify_samples_cv": classify_samples_cv_example},
)

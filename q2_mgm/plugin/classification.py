"""Registration of the classification actions and their usage examples."""
from q2_sample_classifier import ClassifierPredictions, Importance, \
    Probabilities
from q2_types.feature_data import FeatureData
from q2_types.sample_data import SampleData
from qiime2.plugin import (Bool, Categorical, Float, Int, MetadataColumn,
                           Numeric, Range, Visualization)

from ..actions import classification as actions
from ..visualizers import classification as visualizers
from .parameters import (ANY_MODEL, DROP_DESCRIPTION, ENGINE_DESCRIPTIONS,
                         FIT_DESCRIPTIONS, FIT_PARAMETERS,
                         ENGINE_PARAMETERS, TABLE_DESCRIPTIONS,
                         TABLE_INPUTS)
from .types import Classifier, MGMModel
from ..plugin_setup import citations, plugin
from . import examples

CITATIONS = [citations["mgm2025"], citations["bokulich2018q2samplecl"],
             citations["wolf2020transformers"]]

# --- parameters -------------------------------------------------------------
LABELS = {"metadata": MetadataColumn[Categorical]}
LABELS_DESCRIPTION = {
    "metadata": "Categorical metadata column with the class of each sample "
                "(for example diet or disease status)."}
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


# --- registration -----------------------------------------------------------
plugin.methods.register_function(
    function=actions.fit_classifier,
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
    examples={"fit_classifier": examples.fit_classifier_example},
)

plugin.methods.register_function(
    function=actions.predict_classification,
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
    examples={"predict_classification":
              examples.predict_classification_example},
)

plugin.visualizers.register_function(
    function=visualizers.summarize_training,
    inputs={"model": MGMModel[Classifier]},
    parameters={},
    input_descriptions={"model": "An MGM classifier."},
    name="Summarize how an MGM classifier was trained",
    description=(
        "Training and validation loss per epoch, the epoch that was kept "
        "(early stopping), the class balance and the settings used."),
    citations=CITATIONS,
    examples={"summarize_training": examples.summarize_training_example},
)

plugin.visualizers.register_function(
    function=visualizers.summarize_cross_validation,
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
              examples.summarize_cross_validation_example},
)

plugin.pipelines.register_function(
    function=actions.classify_samples,
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
    examples={"classify_samples": examples.classify_samples_example},
)

plugin.pipelines.register_function(
    function=actions.classify_samples_cv,
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
    examples={"classify_samples_cv": examples.classify_samples_cv_example},
)

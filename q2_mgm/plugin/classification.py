"""Registration of the classification actions and their usage examples."""
from q2_sample_classifier import ClassifierPredictions, Importance, \
    Probabilities
from q2_types.feature_data import FeatureData
from q2_types.sample_data import SampleData
from qiime2.plugin import (Bool, Categorical, Choices, Float, Int, Metadata,
                           MetadataColumn, Numeric, Range, Str,
                           Visualization)

from ..actions import classification as actions
from ..mgm.importance import PERMUTED_GENERA, REPEATS
from ..mgm.strategies import STRATEGIES
from ..visualizers import evaluation, training
from .parameters import (ANY_MODEL, ENGINE_DESCRIPTIONS,
                         EVALUATION_DROP_DESCRIPTION, FIT_DESCRIPTIONS,
                         FIT_OUTPUT, FIT_OUTPUT_DESCRIPTION, FIT_PARAMETERS,
                         ENGINE_PARAMETERS, PREDICTION_DROP_DESCRIPTION,
                         TABLE_DESCRIPTIONS, TABLE_INPUTS)
from .types import Classifier, MGMModel, Regressor
from ..plugin_setup import citations, plugin
from . import examples

CITATIONS = [citations["mgm2025"], citations["bokulich2018q2samplecl"],
             citations["wolf2020transformers"], citations["breiman2001"],
             citations["pedregosa2011"], citations["kumar2022lpft"]]

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
GROUPS = {"groups": MetadataColumn[Categorical | Numeric]}
GROUPS_DESCRIPTION = {
    "groups": "Optional column of subjects (for example mouse or patient "
              "ID): all samples of one subject stay on the same side of "
              "every split (test set, folds, validation set, and the "
              "inner folds that choose penalties and blend weights), so "
              "that the model is never tested on a subject it was trained "
              "on."}
CV_PARAMETERS = {"cv": Int % Range(2, None)}
CV_DESCRIPTIONS = {
    "cv": "Number of cross-validation folds. Every class needs at least "
          "this many samples (or groups)."}
BASELINE_OUTPUTS = [
    ("forest_predictions", SampleData[ClassifierPredictions]),
    ("forest_probabilities", SampleData[Probabilities]),
    ("probe_predictions", SampleData[ClassifierPredictions]),
    ("probe_probabilities", SampleData[Probabilities])]
BASELINE_DESCRIPTIONS = {
    "forest_predictions": "Baseline: predictions of a random forest (500 "
                          "trees, scikit-learn defaults) on the genus "
                          "relative abundances, trained on the same "
                          "samples.",
    "forest_probabilities": "Baseline: the random forest's class "
                            "probabilities.",
    "probe_predictions": "Baseline: predictions of a logistic regression "
                         "on the frozen MGM embeddings (penalty chosen by "
                         "cross-validation), trained on the same samples.",
    "probe_probabilities": "Baseline: the logistic regression's class "
                           "probabilities."}
COMPARISON_DESCRIPTION = (
    "The strategy beside both baselines on the same samples: which won "
    "and by how much (in words), ROC-AUC, PR-AUC, F1, accuracy, "
    "sensitivity and specificity per fold, ROC curves of all methods on "
    "one plot, a paired comparison and confusion matrices.")
REPORT_PARAMETERS = {"truth": MetadataColumn[Categorical],
                     "folds": Metadata,
                     "strategy": Str % Choices(*STRATEGIES)}
REPORT_DESCRIPTIONS = {
    "truth": "Metadata column with the true value of each sample.",
    "folds": "Sample metadata with a 'fold' column (the fold in which each "
             "sample was predicted) and, for the blend, the 'forest "
             "weight' chosen in each fold.",
    "strategy": "The strategy that made the main predictions (names them "
                "in the report)."}
EVALUATION_DESCRIPTIONS = {**FIT_DESCRIPTIONS,
                           "drop_unmapped": EVALUATION_DROP_DESCRIPTION}
PREDICTIONS = SampleData[ClassifierPredictions]
PROBABILITIES = SampleData[Probabilities]
PREDICTION_DESCRIPTIONS = {
    "predictions": "Predicted class of each sample.",
    "probabilities": "Probability of each class for each sample."}
RUNTIME = ("On 2 CPU cores, the default strategy takes seconds to a minute "
           "for a few hundred samples; fine-tuning ('fine-tune', 'lp-ft', "
           "'ensemble') takes about {} minutes on the 139 mouse samples of "
           "the example data (sentences of 13-25 tokens), and longer on "
           "longer sentences.")
IMPORTANCE = ("feature_importance", FeatureData[Importance])
IMPORTANCE_DESCRIPTION = (
    "The fitted {kind}'s own importance of each genus, one column "
    "'importance' (highest first), as q2-sample-classifier writes it. "
    "Strategy 'forest': the random forest's impurity importance (mean "
    "decrease in impurity, summing to 1). Strategies with MGM: "
    "permutation importance on the training samples, the rise in the "
    "{kind}'s {loss} when one genus's abundances are shuffled among the "
    "samples ({repeats}; only the {genera} genera present "
    "in the most training samples are measured; near 0 or below: the "
    "{kind} does not rely on the genus); the blend's is that of its mixed "
    "prediction. "
    "Feature IDs are MGM genus tokens such as 'g__Bacteroides', as "
    "collapse-genera names the genera of a table, so "
    "q2-sample-classifier's heatmap reads it with that table. The "
    "attention MGM gives each genus is a different quantity: "
    "attention-importance.")
SHUFFLES = ("one shuffle" if REPEATS == 1
            else f"the mean of {REPEATS} shuffles")
CLASSIFIER_IMPORTANCE = IMPORTANCE_DESCRIPTION.format(
    kind="classifier", loss="log loss", repeats=SHUFFLES,
    genera=PERMUTED_GENERA)
CV_IMPORTANCE = (
    "The mean over the folds' {kind}s of each one's importance of each "
    "genus (a genus one of them did not rank counts as 0 there). ")
HEATMAP = ("heatmap", Visualization)
HEATMAP_DESCRIPTION = (
    "q2-sample-classifier's heatmap of the genus table (collapse-genera) "
    "with the 50 genera of highest feature_importance, samples summed per "
    "class, as its classify-samples draws it (a relative-frequency table "
    "is drawn in parts per million).")


# --- registration -----------------------------------------------------------
plugin.methods.register_function(
    function=actions.fit_classifier,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**LABELS, **GROUPS, **FIT_PARAMETERS},
    outputs=[("classifier", MGMModel[Classifier]), IMPORTANCE],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**LABELS_DESCRIPTION, **GROUPS_DESCRIPTION,
                            **FIT_DESCRIPTIONS},
    output_descriptions={
        "classifier": "The classifier, with its strategy, class labels, "
                      "settings and (when MGM was fine-tuned) per-epoch "
                      "losses.",
        "feature_importance": CLASSIFIER_IMPORTANCE},
    name="Fit a sample classifier with MGM",
    description=(
        "Fit a classifier of a categorical sample property with one of "
        "the strategies (see 'strategy'). Fine-tuning adds a "
        "classification head on the end-of-sample token and trains the "
        "network with cross-entropy, AdamW, warm-up and early stopping on "
        "a stratified validation set, keeping the best epoch. "
        + RUNTIME.format("1-2")),
    citations=CITATIONS,
    examples={"fit_classifier": examples.fit_classifier_example},
)

plugin.methods.register_function(
    function=actions.predict_classification,
    inputs={**TABLE_INPUTS, "model": MGMModel[Classifier]},
    parameters={"drop_unmapped": Bool, **ENGINE_PARAMETERS},
    outputs=[("predictions", PREDICTIONS), ("probabilities", PROBABILITIES),
             FIT_OUTPUT],
    input_descriptions={
        **TABLE_DESCRIPTIONS,
        "model": "An MGM classifier from fit-classifier or classify-samples "
                 "(any strategy)."},
    parameter_descriptions={"drop_unmapped": PREDICTION_DROP_DESCRIPTION,
                            **ENGINE_DESCRIPTIONS},
    output_descriptions={**PREDICTION_DESCRIPTIONS, **FIT_OUTPUT_DESCRIPTION},
    name="Predict sample classes with an MGM classifier",
    description=(
        "Predict the class of each sample with an MGM classifier, in the "
        "way its strategy prescribes. The predictions and probabilities "
        "are q2-sample-classifier's types: use its confusion-matrix to "
        "compare them with the true classes. A sample with none of the "
        "genera the classifier knows is an error (or skipped with "
        "drop_unmapped), and predictor_fit says how well each sample fits: "
        "a table classified against another reference database can share "
        "few genera with the training table. summarize-coverage with the "
        "classifier as its model shows the same before predicting."),
    citations=CITATIONS,
    examples={"predict_classification":
              examples.predict_classification_example},
)

plugin.visualizers.register_function(
    function=training.summarize_training,
    inputs={"model": MGMModel[Classifier | Regressor]},
    parameters={},
    input_descriptions={"model": "An MGM classifier or regressor."},
    name="Summarize how an MGM classifier or regressor was fitted",
    description=(
        "The strategy and its parts, the blend weight and how it was "
        "chosen, training and validation loss per epoch with the epoch "
        "that was kept (when MGM was fine-tuned), the class balance and "
        "the settings used."),
    citations=CITATIONS,
    examples={"summarize_training": examples.summarize_training_example},
)

plugin.visualizers.register_function(
    function=evaluation.summarize_cross_validation,
    inputs={"probabilities": PROBABILITIES,
            "forest_probabilities": PROBABILITIES,
            "probe_probabilities": PROBABILITIES},
    parameters=REPORT_PARAMETERS,
    input_descriptions={
        "probabilities": "Class probabilities of held-out samples (the "
                         "strategy's).",
        "forest_probabilities": "The random forest baseline's, on the same "
                                "samples (optional).",
        "probe_probabilities": "The embedding probe baseline's, on the same "
                               "samples (optional)."},
    parameter_descriptions=REPORT_DESCRIPTIONS,
    name="Compare held-out classification with the baselines",
    description=COMPARISON_DESCRIPTION,
    citations=CITATIONS,
    examples={"summarize_cross_validation":
              examples.summarize_cross_validation_example},
)

plugin.pipelines.register_function(
    function=actions.classify_samples,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**LABELS, **GROUPS, **TEST_SIZE, **FIT_PARAMETERS},
    outputs=[("sample_estimator", MGMModel[Classifier]), IMPORTANCE,
             ("predictions", PREDICTIONS),
             ("training_summary", Visualization),
             ("accuracy_results", Visualization),
             ("probabilities", PROBABILITIES), HEATMAP, *BASELINE_OUTPUTS],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**LABELS_DESCRIPTION, **GROUPS_DESCRIPTION,
                            **TEST_SIZE_DESCRIPTION,
                            **EVALUATION_DESCRIPTIONS},
    output_descriptions={
        "sample_estimator": "The classifier fitted on the training samples.",
        "feature_importance": CLASSIFIER_IMPORTANCE,
        "predictions": "Predicted class of each test sample.",
        "training_summary": "How the classifier was fitted.",
        "accuracy_results": COMPARISON_DESCRIPTION,
        "probabilities": "Class probabilities of each test sample.",
        "heatmap": HEATMAP_DESCRIPTION,
        **BASELINE_DESCRIPTIONS},
    name="Train and test an MGM sample classifier beside the baselines",
    description=(
        "Split the samples into a stratified training and test set (whole "
        "subjects with groups), fit the strategy (fit-classifier) and both "
        "baselines on the training set, predict the test set and report "
        "who won, like q2-sample-classifier's classify-samples. "
        + RUNTIME.format("1-2")),
    citations=CITATIONS,
    examples={"classify_samples": examples.classify_samples_example},
)

plugin.pipelines.register_function(
    function=actions.classify_samples_cv,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**LABELS, **GROUPS, **CV_PARAMETERS, **FIT_PARAMETERS},
    outputs=[("predictions", PREDICTIONS), ("probabilities", PROBABILITIES),
             ("accuracy_results", Visualization), IMPORTANCE, HEATMAP,
             *BASELINE_OUTPUTS],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**LABELS_DESCRIPTION, **GROUPS_DESCRIPTION,
                            **CV_DESCRIPTIONS, **EVALUATION_DESCRIPTIONS},
    output_descriptions={
        **PREDICTION_DESCRIPTIONS,
        "accuracy_results": COMPARISON_DESCRIPTION,
        "feature_importance": CV_IMPORTANCE.format(kind="classifier")
        + CLASSIFIER_IMPORTANCE,
        "heatmap": HEATMAP_DESCRIPTION,
        **BASELINE_DESCRIPTIONS},
    name="Cross-validate an MGM sample classifier beside the baselines",
    description=(
        "Stratified k-fold cross-validation: the strategy and both "
        "baselines are fitted once per fold on the other folds, so every "
        "sample gets an out-of-fold prediction from each. With groups, "
        "the samples of one subject stay in one fold. Each fold takes "
        "about as long as one fit-classifier run (three with the "
        "baselines, which are fast). " + RUNTIME.format("1-2")),
    citations=CITATIONS,
    examples={"classify_samples_cv": examples.classify_samples_cv_example},
)

"""Registration of the regression actions and their usage examples."""
from q2_sample_classifier import RegressorPredictions
from q2_types.sample_data import SampleData
from qiime2.plugin import Bool, Float, Int, MetadataColumn, Numeric, Range, \
    Visualization

from ..actions import regression as actions
from ..mgm.importance import PERMUTED_GENERA
from ..visualizers import evaluation
from .classification import (CITATIONS, CV_IMPORTANCE, GROUPS,
                             GROUPS_DESCRIPTION, IMPORTANCE,
                             IMPORTANCE_DESCRIPTION, REPORT_DESCRIPTIONS,
                             REPORT_PARAMETERS, RUNTIME, SHUFFLES,
                             START_DESCRIPTION, START_MODEL)
from .parameters import (ENGINE_DESCRIPTIONS, ENGINE_PARAMETERS,
                         EVALUATION_DROP_DESCRIPTION, FIT_DESCRIPTIONS,
                         FIT_OUTPUT, FIT_OUTPUT_DESCRIPTION,
                         PREDICTION_DROP_DESCRIPTION, REGRESSION_PARAMETERS,
                         TABLE_DESCRIPTIONS, TABLE_INPUTS)
from .types import MGMModel, Regressor
from ..plugin_setup import plugin
from . import examples

VALUES = {"metadata": MetadataColumn[Numeric]}
VALUES_DESCRIPTION = {
    "metadata": "Numeric metadata column to predict (for example age, BMI "
                "or a biomarker)."}
DESCRIPTIONS = {k: v for k, v in FIT_DESCRIPTIONS.items()
                if k in REGRESSION_PARAMETERS}
EVALUATION_DESCRIPTIONS = {**DESCRIPTIONS,
                           "drop_unmapped": EVALUATION_DROP_DESCRIPTION}
PREDICTIONS = SampleData[RegressorPredictions]
TEST_SIZE = {"test_size": Float % Range(0, 1, inclusive_start=False,
                                        inclusive_end=False)}
TEST_SIZE_DESCRIPTION = {
    "test_size": "Fraction of the samples (or subjects, with groups) held "
                 "out to test the regressor; they are never used for "
                 "training. At least 5 test samples and 6 training "
                 "samples are needed to score it."}
CV_PARAMETERS = {"cv": Int % Range(2, None)}
CV_DESCRIPTIONS = {"cv": "Number of cross-validation folds."}
REGRESSOR_IMPORTANCE = IMPORTANCE_DESCRIPTION.format(
    kind="regressor", loss="1 - R²", repeats=SHUFFLES,
    genera=PERMUTED_GENERA)
BASELINE_OUTPUTS = [("forest_predictions", PREDICTIONS),
                    ("probe_predictions", PREDICTIONS)]
BASELINE_DESCRIPTIONS = {
    "forest_predictions": "Baseline: predictions of a random forest "
                          "regressor (500 trees, scikit-learn defaults) on "
                          "the genus relative abundances, trained on the "
                          "same samples.",
    "probe_predictions": "Baseline: predictions of a ridge regression on "
                         "the frozen MGM embeddings (penalty chosen by "
                         "cross-validation), trained on the same samples."}
COMPARISON_DESCRIPTION = (
    "The strategy beside both baselines on the same samples: which won "
    "and by how much (in words), R², mean absolute error and Spearman "
    "correlation per fold, predicted against true values of all methods "
    "on one plot and a paired comparison.")

plugin.methods.register_function(
    function=actions.fit_regressor,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**VALUES, **GROUPS, **REGRESSION_PARAMETERS},
    outputs=[("regressor", MGMModel[Regressor]), IMPORTANCE],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**VALUES_DESCRIPTION, **GROUPS_DESCRIPTION,
                            **DESCRIPTIONS},
    output_descriptions={
        "regressor": "The regressor, with its strategy, settings and (when "
                     "MGM was fine-tuned) per-epoch losses.",
        "feature_importance": REGRESSOR_IMPORTANCE},
    name="Fit a regressor of a numeric sample property with MGM",
    description=(
        "Fit a predictor of a numeric sample property with one of the "
        "strategies (see 'strategy'). Fine-tuning adds a one-output head "
        "on the end-of-sample token and trains the network on the "
        "standardised value with squared error, AdamW, warm-up and early "
        "stopping. " + RUNTIME.format("1-2")),
    citations=CITATIONS,
    examples={"fit_regressor": examples.fit_regressor_example},
)

plugin.methods.register_function(
    function=actions.predict_regression,
    inputs={**TABLE_INPUTS, "model": MGMModel[Regressor]},
    parameters={"drop_unmapped": Bool, **ENGINE_PARAMETERS},
    outputs=[("predictions", PREDICTIONS), FIT_OUTPUT],
    input_descriptions={**TABLE_DESCRIPTIONS,
                        "model": "An MGM regressor from fit-regressor or "
                                 "regress-samples."},
    parameter_descriptions={"drop_unmapped": PREDICTION_DROP_DESCRIPTION,
                            **ENGINE_DESCRIPTIONS},
    output_descriptions={"predictions": "Predicted value of each sample.",
                         **FIT_OUTPUT_DESCRIPTION},
    name="Predict a numeric sample property with an MGM regressor",
    description=(
        "Predict a numeric property of each sample with an MGM regressor. "
        "The predictions are q2-sample-classifier's type: its scatterplot "
        "compares them with the true values. A sample with none of the "
        "genera the regressor knows is an error (or skipped with "
        "drop_unmapped), and predictor_fit says how well each sample fits "
        "(summarize-coverage with the regressor as its model shows the "
        "same before predicting)."),
    citations=CITATIONS,
    examples={"predict_regression": examples.predict_regression_example},
)

plugin.visualizers.register_function(
    function=evaluation.summarize_regression,
    inputs={"predictions": PREDICTIONS, "forest_predictions": PREDICTIONS,
            "probe_predictions": PREDICTIONS},
    parameters={**REPORT_PARAMETERS, "truth": MetadataColumn[Numeric]},
    input_descriptions={
        "predictions": "Predicted values of held-out samples (the "
                       "strategy's).",
        "forest_predictions": "The random forest baseline's, on the same "
                              "samples (optional).",
        "probe_predictions": "The embedding probe baseline's, on the same "
                             "samples (optional)."},
    parameter_descriptions=REPORT_DESCRIPTIONS,
    name="Compare held-out regression with the baselines",
    description=COMPARISON_DESCRIPTION,
    citations=CITATIONS,
    examples={"summarize_regression": examples.summarize_regression_example},
)

plugin.pipelines.register_function(
    function=actions.regress_samples,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**VALUES, **GROUPS, **TEST_SIZE, **REGRESSION_PARAMETERS},
    outputs=[("sample_estimator", MGMModel[Regressor]), IMPORTANCE,
             ("predictions", PREDICTIONS),
             ("training_summary", Visualization),
             ("accuracy_results", Visualization), *BASELINE_OUTPUTS],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**VALUES_DESCRIPTION, **GROUPS_DESCRIPTION,
                            **TEST_SIZE_DESCRIPTION,
                            **EVALUATION_DESCRIPTIONS},
    output_descriptions={
        "sample_estimator": "The regressor fitted on the training samples.",
        "feature_importance": REGRESSOR_IMPORTANCE,
        "predictions": "Predicted value of each test sample.",
        "training_summary": "How the regressor was fitted.",
        "accuracy_results": COMPARISON_DESCRIPTION,
        **BASELINE_DESCRIPTIONS},
    name="Train and test an MGM regressor beside the baselines",
    description=(
        "Split the samples into a training and test set (whole subjects "
        "with groups), fit the strategy (fit-regressor) and both baselines "
        "on the training set, predict the test set and report who won, "
        "like q2-sample-classifier's regress-samples."),
    citations=CITATIONS,
    examples={"regress_samples": examples.regress_samples_example},
)

plugin.pipelines.register_function(
    function=actions.regress_samples_cv,
    inputs={**TABLE_INPUTS, **START_MODEL},
    parameters={**VALUES, **GROUPS, **CV_PARAMETERS,
                **REGRESSION_PARAMETERS},
    outputs=[("predictions", PREDICTIONS),
             ("accuracy_results", Visualization), IMPORTANCE,
             *BASELINE_OUTPUTS],
    input_descriptions={**TABLE_DESCRIPTIONS, **START_DESCRIPTION},
    parameter_descriptions={**VALUES_DESCRIPTION, **GROUPS_DESCRIPTION,
                            **CV_DESCRIPTIONS, **EVALUATION_DESCRIPTIONS},
    output_descriptions={
        "predictions": "Out-of-fold predicted value of each sample.",
        "accuracy_results": COMPARISON_DESCRIPTION,
        "feature_importance": CV_IMPORTANCE.format(kind="regressor")
        + REGRESSOR_IMPORTANCE,
        **BASELINE_DESCRIPTIONS},
    name="Cross-validate an MGM regressor beside the baselines",
    description=(
        "k-fold cross-validation: the strategy and both baselines are "
        "fitted once per fold on the other folds, so every sample gets an "
        "out-of-fold prediction from each. With groups, the samples of "
        "one subject stay in one fold."),
    citations=CITATIONS,
    examples={"regress_samples_cv": examples.regress_samples_cv_example},
)

"""The q2-mgm plugin: created here, wired in ``q2_mgm.plugin``.

Types, formats and artifact classes are registered below; the modules of
``q2_mgm.plugin`` then register the transformers and the actions, one module
per domain.
"""
import importlib
import logging
import sys

from q2_types.feature_data import FeatureData
from q2_types.sample_data import SampleData
from qiime2.plugin import Citations, Plugin

from . import __version__
from .plugin import formats
from .plugin.types import (AttentionStatistics, Classifier,
                           GenerationLabels, MGMEmbeddings, MGMModel,
                           MGMPredictorFit, PerturbationEffects, Pretrained,
                           Regressor, RemovalEffects)

# Progress (epochs, folds, perturbations) on stderr: shown by the Python
# API, and by the qiime command with --verbose.
progress = logging.getLogger("q2_mgm")
if not progress.handlers:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("q2-mgm: %(message)s"))
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)

citations = Citations.load("citations.bib", package="q2_mgm")

plugin = Plugin(
    name="mgm",
    version=__version__,
    website="https://doi.org/10.1002/advs.202513333",
    package="q2_mgm",
    description=(
        "MGM, the Microbial General Model: a transformer pre-trained on "
        "263,302 microbial communities, used to embed, classify, interpret "
        "and generate communities from a feature table and its taxonomy."),
    short_description="MGM, a pretrained transformer for microbiomes.",
    citations=[citations["mgm2025"]],
)

plugin.register_formats(
    formats.MGMModelDirectoryFormat, formats.JSONFormat,
    formats.SafetensorsFormat, formats.TokenListFormat,
    formats.NormalizationFormat, formats.LicenceFormat,
    formats.ChecksumsFormat, formats.EmbeddingsFormat,
    formats.EmbeddingsDirectoryFormat, formats.PerturbationEffectsFormat,
    formats.PerturbationEffectsDirectoryFormat,
    formats.GenerationLabelsFormat, formats.GenerationLabelsDirectoryFormat,
    formats.PredictorFitFormat, formats.PredictorFitDirectoryFormat,
    formats.RemovalEffectsFormat, formats.RemovalEffectsDirectoryFormat,
    formats.AttentionStatisticsFormat,
    formats.AttentionStatisticsDirectoryFormat)
plugin.register_semantic_types(MGMModel, Pretrained, MGMEmbeddings,
                               MGMPredictorFit, GenerationLabels,
                               PerturbationEffects, RemovalEffects,
                               AttentionStatistics)
plugin.register_artifact_class(
    MGMModel[Pretrained], formats.MGMModelDirectoryFormat,
    description="A pretrained MGM language model (next-genus prediction).")
plugin.register_artifact_class(
    MGMModel[Classifier], formats.MGMModelDirectoryFormat,
    description="An MGM sample classifier (see its manifest's strategy).")
plugin.register_artifact_class(
    MGMModel[Regressor], formats.MGMModelDirectoryFormat,
    description="An MGM predictor of a numeric sample property.")
plugin.register_artifact_class(
    SampleData[MGMEmbeddings], formats.EmbeddingsDirectoryFormat,
    description="One MGM embedding vector per sample.")
plugin.register_artifact_class(
    SampleData[MGMPredictorFit], formats.PredictorFitDirectoryFormat,
    description="How well each sample fits an MGM classifier or regressor: "
                "its share of reads in the genera the predictor knows and, "
                "with a random forest, of the forest's importance.")
plugin.register_artifact_class(
    SampleData[GenerationLabels], formats.GenerationLabelsDirectoryFormat,
    description="The label each generated sample was conditioned on.")
plugin.register_artifact_class(
    PerturbationEffects, formats.PerturbationEffectsDirectoryFormat,
    description="Effects of in-silico perturbations of genera on MGM "
                "embeddings: one row per genus and perturbation mode.")
plugin.register_artifact_class(
    FeatureData[RemovalEffects], formats.RemovalEffectsDirectoryFormat,
    description="Leave-one-genus-out effects of each genus on MGM "
                "embeddings, with their null; the ranking score alone is "
                "the FeatureData[Importance] beside it.")
plugin.register_artifact_class(
    FeatureData[AttentionStatistics],
    formats.AttentionStatisticsDirectoryFormat,
    description="MGM attention received by each genus where present and "
                "its prevalence, overall or per group; the ranking score "
                "alone is the FeatureData[Importance] beside it.")

for module in ("transformers", "embedding", "classification", "regression",
               "interpretation", "pretraining", "generation"):
    importlib.import_module(f"q2_mgm.plugin.{module}")

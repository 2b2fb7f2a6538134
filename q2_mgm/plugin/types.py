"""Semantic types of q2-mgm.

``MGMModel[Classifier]`` and ``MGMModel[Regressor]`` reuse
q2-sample-classifier's ``Classifier`` and ``Regressor`` fragments, so there
is one meaning of each across plugins.
"""
from q2_sample_classifier import Classifier, Regressor
from q2_types.feature_data import FeatureData
from q2_types.sample_data import SampleData
from qiime2.plugin import SemanticType

Pretrained = SemanticType("Pretrained")
MGMModel = SemanticType("MGMModel", field_names="kind",
                        field_members={
                            "kind": (Pretrained, Classifier, Regressor)})

MGMEmbeddings = SemanticType("MGMEmbeddings",
                             variant_of=SampleData.field["type"])
MGMPredictorFit = SemanticType("MGMPredictorFit",
                               variant_of=SampleData.field["type"])
GenerationLabels = SemanticType("GenerationLabels",
                                variant_of=SampleData.field["type"])
PerturbationEffects = SemanticType("PerturbationEffects")
# Full per-genus statistics; the single ranked column beside them is a
# FeatureData[Importance], which other plugins read as one score.
RemovalEffects = SemanticType("RemovalEffects",
                              variant_of=FeatureData.field["type"])
AttentionStatistics = SemanticType("AttentionStatistics",
                                   variant_of=FeatureData.field["type"])

__all__ = ["MGMModel", "Pretrained", "Classifier", "Regressor",
           "MGMEmbeddings", "MGMPredictorFit",
           "GenerationLabels", "PerturbationEffects", "RemovalEffects",
           "AttentionStatistics"]

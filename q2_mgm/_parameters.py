"""Inputs and parameters shared by many actions, with their descriptions."""
from q2_types.feature_data import FeatureData, Taxonomy
from q2_types.feature_table import FeatureTable, Frequency, RelativeFrequency
from qiime2.plugin import Choices, Int, Range, Str

from ._types import Classifier, MGMModel, Pretrained

TABLE = FeatureTable[Frequency | RelativeFrequency]
ANY_MODEL = MGMModel[Pretrained | Classifier]

TABLE_INPUTS = {"table": TABLE, "taxonomy": FeatureData[Taxonomy]}
TABLE_DESCRIPTIONS = {
    "table": "Feature table of counts or relative frequencies (ASVs, OTUs "
             "or taxa). Features are collapsed to genus with the taxonomy.",
    "taxonomy": "Taxonomy of the table's features (Greengenes, SILVA, GTDB, "
                "RDP or plain lineages). It must cover every feature.",
}
MODEL_DESCRIPTION = ("MGM model to use. Default: the published MGM "
                     "pre-trained on 263,302 MGnify samples.")
ENGINE_PARAMETERS = {
    "batch_size": Int % Range(1, None),
    "device": Str % Choices("auto", "cpu", "cuda"),
    "threads": Int % Range(0, None),
}
ENGINE_DESCRIPTIONS = {
    "batch_size": "Samples per forward pass. Larger is faster on a GPU and "
                  "needs more memory.",
    "device": "Where the model runs: 'auto' uses a CUDA GPU when one is "
              "available, else the CPU.",
    "threads": "CPU threads for the model (0: all cores).",
}
POOLING = Str % Choices("auto", "mean", "eos")
POOLING_DESCRIPTION = (
    "How a sample's vector is made from the model's last layer: 'mean' "
    "averages every token (the published choice for the pre-trained model), "
    "'eos' takes the end-of-sample token (the choice for a fine-tuned "
    "classifier); 'auto' picks by the kind of model.")
DROP_DESCRIPTION = (
    "Skip samples that have no genus of the MGM vocabulary (they are listed "
    "in the log) instead of stopping with an error naming them.")

"""Registration of the q2-mgm plugin: types, formats and actions."""
import importlib

from qiime2.plugin import Citations, Plugin

from . import __version__
from ._formats import (ChecksumsFormat, EmbeddingsDirectoryFormat,
                       EmbeddingsFormat, JSONFormat, LicenceFormat,
                       MGMModelDirectoryFormat, NormalizationFormat,
                       SafetensorsFormat, TokenListFormat)
from ._types import Classifier, MGMEmbeddings, MGMModel, Pretrained
from q2_types.sample_data import SampleData

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

plugin.register_formats(MGMModelDirectoryFormat, JSONFormat,
                        SafetensorsFormat, TokenListFormat,
                        NormalizationFormat, LicenceFormat, ChecksumsFormat,
                        EmbeddingsFormat, EmbeddingsDirectoryFormat)
plugin.register_semantic_types(MGMModel, Pretrained,
                               MGMEmbeddings)
plugin.register_artifact_class(
    MGMModel[Pretrained], MGMModelDirectoryFormat,
    description="A pretrained MGM language model (next-genus prediction).")
plugin.register_artifact_class(
    MGMModel[Classifier], MGMModelDirectoryFormat,
    description="An MGM model fine-tuned to classify samples.")
plugin.register_artifact_class(
    SampleData[MGMEmbeddings], EmbeddingsDirectoryFormat,
    description="One MGM embedding vector per sample.")

for module in ("_transformers", "_setup_embedding", "_setup_classification",
               "_setup_interpretation", "_setup_generation"):
    importlib.import_module(f"q2_mgm.{module}")

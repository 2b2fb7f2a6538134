"""Registration of the foundation actions: model, genera, embeddings,
coverage."""
from q2_types.distance_matrix import DistanceMatrix
from q2_types.feature_table import FeatureTable, Frequency
from q2_types.ordination import PCoAResults
from q2_types.sample_data import SampleData
from qiime2.plugin import Bool, Int, Range

from ..actions import embedding
from ..visualizers import coverage
from .parameters import (ANY_MODEL, DROP_DESCRIPTION, ENGINE_DESCRIPTIONS,
                         ENGINE_PARAMETERS, MODEL_DESCRIPTION, POOLING,
                         POOLING_DESCRIPTION, TABLE_DESCRIPTIONS,
                         TABLE_INPUTS)
from .types import MGMEmbeddings, MGMModel, Pretrained
from ..plugin_setup import citations, plugin
from . import examples

plugin.methods.register_function(
    function=embedding.pretrained_model,
    inputs={},
    parameters={},
    outputs=[("model", MGMModel[Pretrained])],
    output_descriptions={
        "model": "The published pre-trained MGM (GPT-2, 8 layers, 9,665 "
                 "genera), with its vocabulary and normalization table."},
    name="The published pre-trained MGM model",
    description=(
        "Export the pre-trained Microbial General Model that ships with "
        "q2-mgm as an artifact, so that it can be inspected, fine-tuned "
        "and cited with provenance."),
    citations=[citations["mgm2025"], citations["radford2019gpt2"]],
    examples={"pretrained_model": examples.pretrained_model_example},
)

plugin.methods.register_function(
    function=embedding.collapse_genera,
    inputs={**TABLE_INPUTS, "table": FeatureTable[Frequency],
            "model": ANY_MODEL},
    parameters={},
    outputs=[("genus_table", FeatureTable[Frequency])],
    input_descriptions={
        **TABLE_DESCRIPTIONS, "model": MODEL_DESCRIPTION,
        "table": "Feature table of counts (ASVs, OTUs or taxa)."},
    output_descriptions={
        "genus_table": "Reads per sample and MGM genus, the features named "
                       "as MGM names them (e.g. g__Bacteroides); features "
                       "without a vocabulary genus are left out."},
    name="Collapse a table to the genera MGM knows",
    description=(
        "Sum the features of each vocabulary genus, with the same taxonomy "
        "matching as every MGM action. Its feature IDs match the genus IDs "
        "of MGM's importance outputs, so `qiime sample-classifier heatmap` "
        "can combine the two."),
    citations=[citations["mgm2025"]],
    examples={"collapse_genera": examples.collapse_genera_example},
)

plugin.methods.register_function(
    function=embedding.embed,
    inputs={**TABLE_INPUTS, "model": ANY_MODEL},
    parameters={"pooling": POOLING, "drop_unmapped": Bool,
                **ENGINE_PARAMETERS},
    outputs=[("embeddings", SampleData[MGMEmbeddings])],
    input_descriptions={**TABLE_DESCRIPTIONS, "model": MODEL_DESCRIPTION},
    parameter_descriptions={"pooling": POOLING_DESCRIPTION,
                            "drop_unmapped": DROP_DESCRIPTION,
                            **ENGINE_DESCRIPTIONS},
    output_descriptions={
        "embeddings": "One 256-dimensional MGM vector per sample; view it as "
                      "metadata or compare samples with embedding-distance."},
    name="Embed samples with MGM",
    description=(
        "Turn each sample into its MGM sentence (genera ranked by "
        "standardized abundance) and return the model's contextual vector "
        "of the sample. Similar communities get similar vectors."),
    citations=[citations["mgm2025"]],
    examples={"embed": examples.embed_example},
)

plugin.methods.register_function(
    function=embedding.embedding_distance,
    inputs={"embeddings": SampleData[MGMEmbeddings]},
    parameters={},
    outputs=[("distance_matrix", DistanceMatrix)],
    input_descriptions={"embeddings": "Sample embeddings from `embed`."},
    output_descriptions={
        "distance_matrix": "Cosine distance (1 - cosine similarity) between "
                           "the samples' MGM vectors; usable by q2-diversity "
                           "(beta-group-significance, pcoa) like any beta "
                           "diversity matrix."},
    name="Cosine distances between MGM embeddings",
    description="Pairwise cosine distances between sample embeddings.",
    citations=[citations["mgm2025"]],
    examples={"embedding_distance": examples.embedding_distance_example},
)

plugin.methods.register_function(
    function=embedding.embedding_pcoa,
    inputs={"embeddings": SampleData[MGMEmbeddings]},
    parameters={"number_of_dimensions": Int % Range(1, None)},
    outputs=[("pcoa", PCoAResults)],
    input_descriptions={"embeddings": "Sample embeddings from `embed`."},
    parameter_descriptions={
        "number_of_dimensions": "Axes to keep (at most samples - 1)."},
    output_descriptions={
        "pcoa": "Principal coordinates of the cosine distances, for "
                "`qiime emperor plot`."},
    name="PCoA of MGM embeddings",
    description="Principal coordinates analysis of the cosine distances "
                "between sample embeddings.",
    citations=[citations["mgm2025"]],
    examples={"embedding_pcoa": examples.embedding_pcoa_example},
)

plugin.visualizers.register_function(
    function=coverage.summarize_coverage,
    inputs={**TABLE_INPUTS, "model": ANY_MODEL},
    parameters={},
    input_descriptions={
        **TABLE_DESCRIPTIONS,
        "model": MODEL_DESCRIPTION + " Give a classifier or regressor "
                 "(from fit-classifier, fit-regressor or the pipelines) to "
                 "see how well the table fits it before predicting: per "
                 "sample, the share of all its reads in the genera it was "
                 "trained on and, with a random forest, of the forest's "
                 "importance."},
    name="How much of a table MGM understands",
    description=(
        "Per sample, the reads and genera that map to the MGM vocabulary and "
        "the length of its MGM sentence, plus the unrecognised taxa ranked "
        "by reads; with a classifier or regressor as the model, how well "
        "each sample fits it. Run this first on new data."),
    citations=[citations["mgm2025"]],
    examples={"summarize_coverage": examples.summarize_coverage_example,
              "summarize_predictor_coverage":
              examples.summarize_predictor_coverage_example},
)

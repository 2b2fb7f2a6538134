"""Registration of pre-training and generation: the label type of generated
samples, its format and transformers, the actions and their examples."""
import pandas as pd
import qiime2
import qiime2.plugin.model as model
from q2_types.feature_data import FeatureData, Taxonomy
from q2_types.feature_table import FeatureTable, RelativeFrequency
from q2_types.sample_data import SampleData
from qiime2.plugin import (Bool, Float, Int, List, MetadataColumn, Range,
                           SemanticType, Str, ValidationError, Categorical)

from . import _generation
from ._examples import (metadata_factory, pretrained_factory, run,
                        table_inputs)
from ._parameters import (ENGINE_DESCRIPTIONS, ENGINE_PARAMETERS,
                          TABLE, TABLE_DESCRIPTIONS, TABLE_INPUTS)
from ._types import MGMModel, Pretrained
from .plugin_setup import citations, plugin

GenerationLabels = SemanticType("GenerationLabels",
                                variant_of=SampleData.field["type"])


class GenerationLabelsFormat(model.TextFileFormat):
    """TSV: sample ID and the label each generated sample was drawn for."""

    def _validate_(self, level):
        with self.open() as fh:
            header = fh.readline().rstrip("\n").split("\t")
            if len(header) != 2 or header[1] != "label":
                raise ValidationError("Generation labels need the columns "
                                      "sample-id and label.")
            for i, line in enumerate(fh, start=2):
                if len(line.rstrip("\n").split("\t")) != 2:
                    raise ValidationError(f"Line {i} does not have 2 fields.")


GenerationLabelsDirectoryFormat = model.SingleFileDirectoryFormat(
    "GenerationLabelsDirectoryFormat", "labels.tsv", GenerationLabelsFormat)

plugin.register_formats(GenerationLabelsFormat,
                        GenerationLabelsDirectoryFormat)
plugin.register_semantic_types(GenerationLabels)
plugin.register_artifact_class(
    SampleData[GenerationLabels], GenerationLabelsDirectoryFormat,
    description="The label each generated sample was conditioned on.")


def _read_labels(fmt):
    series = pd.read_csv(str(fmt), sep="\t", index_col=0,
                         dtype=str)["label"]
    series.index.name = "sample-id"
    return series


@plugin.register_transformer
def _generation_1(data: pd.Series) -> GenerationLabelsFormat:
    fmt = GenerationLabelsFormat()
    data.rename("label").rename_axis("sample-id").to_csv(str(fmt), sep="\t")
    return fmt


@plugin.register_transformer
def _generation_2(fmt: GenerationLabelsFormat) -> pd.Series:
    return _read_labels(fmt)


@plugin.register_transformer
def _generation_3(fmt: GenerationLabelsFormat) -> qiime2.Metadata:
    return qiime2.Metadata(_read_labels(fmt).to_frame())


# Usage examples (offline, on the example data, one quick epoch).

def diet_inputs(use):
    """The example table, taxonomy and diet column."""
    table, taxonomy = table_inputs(use)
    metadata = use.init_metadata("metadata", metadata_factory)
    return table, taxonomy, use.get_metadata_column("diet", "diet", metadata)


def diet_model(use, table, taxonomy, diet):
    model, = run(use, "pretrain",
                 {"table": table, "taxonomy": taxonomy, "metadata": diet,
                  "epochs": 1},
                 {"pretrained_model": "diet_model"})
    return model


def generated_by_diet(use, model):
    return run(use, "generate",
               {"model": model, "n_samples": 5, "labels": ["BK", "Western"],
                "max_length": 40},
               {"generated_table": "generated_table",
                "generated_taxonomy": "generated_taxonomy",
                "generated_labels": "generated_labels"})


def pretrain_example(use):
    diet_model(use, *diet_inputs(use))


def generate_example(use):
    generated_by_diet(use, diet_model(use, *diet_inputs(use)))


def generate_unconditioned_example(use):
    model = use.init_artifact("mgm_model", pretrained_factory)
    run(use, "generate", {"model": model, "n_samples": 5, "max_length": 40},
        {"generated_table": "generated_table",
         "generated_taxonomy": "generated_taxonomy",
         "generated_labels": "generated_labels"})


def generation_summary_example(use):
    table, taxonomy, diet = diet_inputs(use)
    g_table, g_taxonomy, g_labels = generated_by_diet(
        use, diet_model(use, table, taxonomy, diet))
    run(use, "generation_summary",
        {"table": table, "taxonomy": taxonomy, "generated_table": g_table,
         "generated_taxonomy": g_taxonomy, "generated_labels": g_labels,
         "metadata": diet},
        {"visualization": "generation_summary"})


# Actions.

STARTING_MODEL = ("Pretrained MGM to continue from (its architecture is used "
                  "when from_scratch). Default: the published MGM.")
GENERATOR_MODEL = ("Pretrained MGM to sample from; pre-train it with "
                   "metadata to condition on labels. Default: the published "
                   "MGM (no labels).")
TRAINING_PARAMETERS = {
    "epochs": Int % Range(1, None),
    "learning_rate": Float % Range(0, None, inclusive_start=False),
    "batch_size": Int % Range(1, None),
    "weight_decay": Float % Range(0, None),
    "warmup_fraction": Float % Range(0, 1),
    "validation_fraction": Float % Range(0, 1),
    "patience": Int % Range(1, None),
    "random_state": Int % Range(0, None),
    "device": ENGINE_PARAMETERS["device"],
    "threads": ENGINE_PARAMETERS["threads"],
}
TRAINING_DESCRIPTIONS = {
    "epochs": "Maximum passes over the samples (training stops earlier "
              "when the validation loss stops improving). Default 30, "
              "where the published pre-training allows 50.",
    "learning_rate": "Peak learning rate of AdamW (published: 0.001); "
                     "gradients are clipped at norm 1, as published.",
    "batch_size": "Samples per training step (published: 50).",
    "weight_decay": "AdamW weight decay, sparing biases and LayerNorm "
                    "weights (published: 0.001, with the same exemptions).",
    "warmup_fraction": "Fraction of the training steps during which the "
                       "learning rate rises linearly to its peak; it then "
                       "falls linearly to 0. The published pre-training "
                       "warms up for 1000 steps, more than a whole run on "
                       "a corpus of a few thousand samples, hence a "
                       "fraction.",
    "validation_fraction": "Fraction of samples held out at random to "
                           "monitor the next-genus loss (published: 0.1).",
    "patience": "Evaluations (one per epoch) without improvement of the "
                "validation loss before stopping; the best epoch's weights "
                "are kept. Published: 3, with an evaluation every 500 "
                "steps.",
    "random_state": "Seed of every random choice (validation split, "
                    "shuffling, initialisation); the same seed gives the "
                    "same model on the CPU.",
    "device": ENGINE_DESCRIPTIONS["device"],
    "threads": ENGINE_DESCRIPTIONS["threads"],
}

plugin.methods.register_function(
    function=_generation.pretrain,
    inputs={**TABLE_INPUTS, "model": MGMModel[Pretrained]},
    parameters={"metadata": MetadataColumn[Categorical],
                "from_scratch": Bool, "extend_vocabulary": Bool,
                **TRAINING_PARAMETERS},
    outputs=[("pretrained_model", MGMModel[Pretrained])],
    input_descriptions={**TABLE_DESCRIPTIONS, "model": STARTING_MODEL},
    parameter_descriptions={
        "metadata": "Optional sample labels (for example diet or disease). "
                    "Each label becomes a token right after the start of "
                    "its samples, so that `generate` can draw communities "
                    "of that label. Samples without a label are used "
                    "unlabelled.",
        "from_scratch": "Start from random weights (the published "
                        "architecture) instead of the model's weights.",
        "extend_vocabulary": "Add the table's genera that MGM does not know "
                             "as new tokens, standardized with their mean "
                             "and standard deviation in this table.",
        **TRAINING_DESCRIPTIONS},
    output_descriptions={
        "pretrained_model": "The model after further next-genus training, "
                            "with its label tokens and the table's "
                            "rank-abundance profile (used by `generate`)."},
    name="Continue pre-training MGM on your samples",
    description=(
        "Teach MGM the communities of your own study by continuing its "
        "pre-training: the model learns to predict each next genus of a "
        "sample's ranked genus list (causal language modelling, published "
        "hyper-parameters). With labels it learns label-specific "
        "communities that `generate` can sample."),
    citations=[citations["mgm2025"], citations["radford2019gpt2"],
               citations["wolf2020transformers"]],
    examples={"pretrain": pretrain_example},
)

plugin.methods.register_function(
    function=_generation.generate,
    inputs={"model": MGMModel[Pretrained]},
    parameters={
        "n_samples": Int % Range(1, None),
        "labels": List[Str],
        "temperature": Float % Range(0, None, inclusive_start=False),
        "top_k": Int % Range(0, None),
        "top_p": Float % Range(0, 1, inclusive_start=False,
                               inclusive_end=True),
        "max_length": Int % Range(3, 513),
        "random_state": Int % Range(0, None),
        **ENGINE_PARAMETERS},
    outputs=[("generated_table", FeatureTable[RelativeFrequency]),
             ("generated_taxonomy", FeatureData[Taxonomy]),
             ("generated_labels", SampleData[GenerationLabels])],
    input_descriptions={"model": GENERATOR_MODEL},
    parameter_descriptions={
        "n_samples": "Synthetic samples to generate (for each label when "
                     "labels are given).",
        "labels": "Labels to condition on; each must be a label the model "
                  "was pre-trained with. Without labels generation is "
                  "unconditioned.",
        "temperature": "Below 1 favours the most likely genera (more "
                       "typical communities), above 1 more diverse ones.",
        "top_k": "Sample only among the k most likely next genera (0: all). "
                 "Default 50, as the published sampler.",
        "top_p": "Sample only among the most likely next genera that "
                 "together reach this probability (1: all).",
        "max_length": "Longest sentence in tokens, <bos>, label and <eos> "
                      "included (at most 512).",
        "random_state": "Seed of the sampler: the same seed, batch size and "
                        "parameters give the same samples.",
        **ENGINE_DESCRIPTIONS},
    output_descriptions={
        "generated_table": "Relative abundances of the generated genera. "
                           "MGM generates a ranked list of genera and ranks "
                           "genera by abundance standardized with its "
                           "corpus mean and deviation; the abundances "
                           "invert that standardization, so the table "
                           "reads back into MGM as exactly the generated "
                           "ranking. Their shape follows the model's "
                           "rank-abundance profile (the published model has "
                           "none: a Zipf law, 1/rank): typical, not exact.",
        "generated_taxonomy": "Lineage of each generated genus (only the "
                              "genus is known, e.g. 'k__; p__; c__; o__; "
                              "f__; g__Bacteroides').",
        "generated_labels": "The label each sample was generated for; "
                            "usable as metadata."},
    name="Generate synthetic microbial communities",
    description=(
        "Sample new communities from a pretrained MGM, genus by genus, "
        "optionally conditioned on a label the model was pre-trained with "
        "(for example a diet). Useful to augment small studies or to see "
        "what the model has learned about a group. As the published "
        "sampler, it draws among the 50 most likely next genera and never "
        "generates label or special tokens; unlike it, a genus is never "
        "drawn twice in one sample, since a community lists each genus "
        "once."),
    citations=[citations["mgm2025"], citations["radford2019gpt2"],
               citations["wolf2020transformers"]],
    examples={"generate_by_label": generate_example,
              "generate_unconditioned": generate_unconditioned_example},
)

plugin.visualizers.register_function(
    function=_generation.generation_summary,
    inputs={**TABLE_INPUTS,
            "generated_table": TABLE,
            "generated_taxonomy": FeatureData[Taxonomy],
            "generated_labels": SampleData[GenerationLabels]},
    parameters={"metadata": MetadataColumn[Categorical],
                "random_state": Int % Range(0, None)},
    input_descriptions={
        **TABLE_DESCRIPTIONS,
        "generated_table": "Generated samples, from `generate`.",
        "generated_taxonomy": "Taxonomy of the generated table.",
        "generated_labels": "Labels of the generated samples, from "
                            "`generate`."},
    parameter_descriptions={
        "metadata": "Labels of the real samples (the column used to "
                    "pre-train). With generated_labels, samples are "
                    "compared label by label.",
        "random_state": "Seed of the real-versus-generated classifier."},
    name="How realistic are generated communities?",
    description=(
        "Compare generated with real samples, label by label: correlation "
        "of genus prevalence, genera per sample, and how well a random "
        "forest tells real from generated samples (ROC-AUC; 0.5 is "
        "indistinguishable)."),
    citations=[citations["mgm2025"], citations["bokulich2018q2samplecl"]],
    examples={"generation_summary": generation_summary_example},
)

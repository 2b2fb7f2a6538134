"""Registration of generation and its summary."""
from q2_types.feature_data import FeatureData, Taxonomy
from q2_types.feature_table import FeatureTable, RelativeFrequency
from q2_types.sample_data import SampleData
from qiime2.plugin import (Categorical, Float, Int, List, MetadataColumn,
                           Range, Str)

from ..actions import generation as actions
from ..visualizers import generation as visualizers
from .parameters import (ENGINE_DESCRIPTIONS, ENGINE_PARAMETERS,
                         TABLE, TABLE_DESCRIPTIONS, TABLE_INPUTS)
from .types import GenerationLabels, MGMModel, Pretrained
from ..plugin_setup import citations, plugin
from . import examples

# Actions.

GENERATOR_MODEL = ("Pretrained MGM to sample from; pre-train it with "
                   "metadata to condition on labels. Default: the published "
                   "MGM (no labels).")
plugin.methods.register_function(
    function=actions.generate,
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
        "generated_taxonomy": "Lineage of each generated genus in "
                              "Greengenes style with only the genus rank "
                              "filled in (for example the genus rank "
                              "'g__Bacteroides' after five empty ranks).",
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
    examples={"generate_by_label": examples.generate_example,
              "generate_unconditioned":
              examples.generate_unconditioned_example},
)

plugin.visualizers.register_function(
    function=visualizers.generation_summary,
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
    examples={"generation_summary": examples.generation_summary_example},
)

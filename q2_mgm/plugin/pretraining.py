"""Registration of continued pre-training."""
from qiime2.plugin import Bool, Categorical, MetadataColumn

from ..actions import pretraining
from ..plugin_setup import citations, plugin
from . import examples
from .parameters import (TABLE_DESCRIPTIONS, TABLE_INPUTS,
                         PRETRAINING_DESCRIPTIONS, TRAINING_PARAMETERS)
from .types import MGMModel, Pretrained

STARTING_MODEL = ("Pretrained MGM to continue from (its architecture is used "
                  "when from_scratch). Default: the published MGM.")

plugin.methods.register_function(
    function=pretraining.pretrain,
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
        **PRETRAINING_DESCRIPTIONS},
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
    examples={"pretrain": examples.pretrain_example},
)

"""Inputs and parameters shared by several actions, declared once with
their descriptions."""
from q2_types.feature_data import FeatureData, Taxonomy
from q2_types.feature_table import FeatureTable, Frequency, RelativeFrequency
from q2_types.sample_data import SampleData
from qiime2.plugin import Bool, Choices, Float, Int, Range, Str

from ..mgm import fit

from ..mgm.finetuning import CLASS_WEIGHTS
from ..mgm.labels import MISSING
from ..mgm.precision import PRECISIONS
from ..mgm.strategies import STRATEGIES
from .types import (Classifier, MGMModel, MGMPredictorFit, Pretrained,
                    Regressor)

TABLE = FeatureTable[Frequency | RelativeFrequency]
ANY_MODEL = MGMModel[Pretrained | Classifier | Regressor]

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
    "precision": Str % Choices(*PRECISIONS),
}
ENGINE_DESCRIPTIONS = {
    "batch_size": "Samples per forward pass (fewer at a time when samples "
                  "hold more than 128 genera). Larger is faster on a GPU "
                  "and needs more memory.",
    "device": "Where the model runs: 'auto' uses a CUDA GPU when one is "
              "available, else the CPU.",
    "threads": "CPU threads for the model (0: every core given to the job, "
               "that is Galaxy's GALAXY_SLOTS when set, else the cores the "
               "scheduler allows the process).",
    "precision": "Arithmetic of the model. 'float32' (default) is the "
                 "published model's. The others trade accuracy for speed "
                 "where the hardware has the units for them: 'int8' (CPU) "
                 "stores the weight matrices as 8-bit integers (sample "
                 "vectors move by about 0.002 in cosine similarity, at "
                 "worst 0.004; 1.3 times as fast on a recent Intel CPU); "
                 "'bfloat16' (GPU, or CPU with AMX units; 1.6 times as "
                 "fast there) and 'float16' (GPU only) compute in 16-bit "
                 "numbers (about 0.00001). Exact values change, so do not "
                 "mix precisions within one analysis.",
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
PREDICTION_DROP_DESCRIPTION = (
    "Skip samples that have no genus of the MGM vocabulary, or none of the "
    "genera the predictor knows (they are listed in the log), instead of "
    "stopping with an error naming them.")
EVALUATION_DROP_DESCRIPTION = (
    "Skip samples that have no genus of the MGM vocabulary, and test "
    "samples that have none of the genera of their training samples (they "
    "are listed in the log), instead of stopping with an error naming "
    "them.")
FIT_OUTPUT = ("predictor_fit", SampleData[MGMPredictorFit])
FIT_OUTPUT_DESCRIPTION = {
    "predictor_fit": (
        "How well each sample fits the predictor: the share of all its "
        "reads (unmapped and unassigned ones included) in the genera the "
        "predictor knows (those of its training samples; for a fine-tuned "
        "network, every genus of the vocabulary), how many of those genera "
        "it holds and, for a predictor with a random forest, the share of "
        "the forest's importance in the genera it holds. Its 'fit' column "
        "is 'poor' below {:.0%} of the reads or "
        "{:.0%} of the importance, else 'good'; when the median sample is "
        "below, predictions lean toward the training samples' most common "
        "outcome, the command prints that warning and the file starts "
        "with it. View it with qiime metadata tabulate (the warning is its "
        "'table warning' column).".format(*fit.THRESHOLDS.values()))}


# Training: fine-tuning (fit) and pre-training.
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
FIT_PARAMETERS = {
    "strategy": Str % Choices(*STRATEGIES),
    **{k: TRAINING_PARAMETERS[k] for k in (
        "epochs", "learning_rate", "batch_size", "weight_decay",
        "validation_fraction", "patience", "random_state", "device",
        "threads")},
    "warmup_steps": Int % Range(0, None),
    "freeze_layers": Int % Range(0, None),
    "layer_decay": Float % Range(0, 1, inclusive_start=False,
                                 inclusive_end=True),
    "class_weight": Str % Choices(*CLASS_WEIGHTS),
    "missing_samples": Str % Choices(*MISSING),
    "drop_unmapped": Bool,
}
REGRESSION_PARAMETERS = {k: v for k, v in FIT_PARAMETERS.items()
                         if k != "class_weight"}
STRATEGY_DESCRIPTION = (
    "How the predictor is built. 'forest' (default): a random forest on "
    "the genus relative abundances, without MGM; on six disease-vs-control "
    "cohorts no strategy that uses MGM scored a higher mean ROC-AUC (see "
    "the README), so the default is the strongest method measured, and "
    "every report shows MGM's embedding probe beside it. 'blend': the "
    "random forest and a linear model (logistic or ridge regression) on "
    "the frozen MGM embeddings, mixed with the forest's weight (0, 0.25, "
    "0.5, 0.75 or 1) chosen by 5-fold cross-validation within the training "
    "samples (the forest alone unless a mix scores at least 0.01 better "
    "there). 'probe': the linear model on frozen MGM embeddings only "
    "(seconds). 'fine-tune': the whole network trained with a prediction "
    "head (the published method; minutes to hours on a CPU). 'lp-ft': "
    "linear probing then fine-tuning: the head starts from a linear model "
    "fitted on the frozen network, which changes the pretrained features "
    "less. 'ensemble': the fine-tuned network and the random forest, "
    "averaged. The training options (epochs, learning rate, layers) apply "
    "to 'fine-tune', 'lp-ft' and 'ensemble'.")
FIT_DESCRIPTIONS = {
    "strategy": STRATEGY_DESCRIPTION,
    "weight_decay": "AdamW weight decay on weight matrices and embeddings "
                    "(biases and LayerNorm weights are exempt), as "
                    "published: 0.001.",
    "warmup_steps": "Optimizer steps during which the learning rate rises "
                    "linearly to its peak. 0 (default): the first 10% of "
                    "the steps.",
    "freeze_layers": "Keep the token embeddings and this many of the "
                     "lowest transformer layers as pretrained (not "
                     "trained). On small cohorts, freezing lower layers "
                     "keeps more of what MGM learnt in pre-training. 0: "
                     "train every layer.",
    "layer_decay": "Layer-wise learning-rate decay: each layer below the "
                   "top learns at this factor times the rate of the layer "
                   "above it (for example 0.8), so that lower, more "
                   "general layers change less. 1 (default): one rate for "
                   "all.",
    "epochs": "Most passes over the training samples; training usually "
              "stops earlier, when the validation loss stops improving. "
              "Default 20, where the published recipe allows 1000 and "
              "relies on early stopping alone: 20 bounds the run time on a "
              "CPU. Raise it for large cohorts.",
    "learning_rate": "Peak step size of the optimizer: AdamW, weight decay "
                     "0.001 sparing biases and LayerNorm weights, gradients "
                     "clipped at norm 1 (all as published). The rate rises "
                     "linearly over the first 10% of the steps (published: "
                     "100 steps, which can exceed a whole run on a small "
                     "cohort) and falls linearly to 0 at the last epoch. The "
                     "default, 1e-4, is lower than the published 1e-3, "
                     "which was unstable on cohorts of tens of samples. "
                     "Lower it if the loss jumps around.",
    "batch_size": "Training samples per optimization step. Default 16, "
                  "smaller than the published 64, so that a cohort of about "
                  "a hundred samples gets several steps per epoch.",
    "validation_fraction": "Fraction of the training samples held out, "
                           "stratified by class, to decide when to stop "
                           "(early stopping) and which epoch to keep. "
                           "Default 0.2 where the published recipe holds "
                           "out 0.1 at random: with tens of samples a 10% "
                           "random set is too small, and can miss a class. "
                           "With 0 every sample trains, and stopping and "
                           "the kept epoch follow the training loss instead.",
    "patience": "Stop after this many epochs without a lower validation "
                "loss. Default 3, where the published fine-tuning waits 10: "
                "within 20 epochs a patience of 10 would seldom stop early.",
    "class_weight": "'balanced' weighs each class by the inverse of its "
                    "frequency, so that a rare class counts as much as a "
                    "common one; 'none' weighs every sample equally, as the "
                    "published fine-tuning does. Default 'balanced', so "
                    "that unbalanced cohorts do not learn to ignore the "
                    "smaller class.",
    "random_state": "Seed for every random choice (splits, shuffling, "
                    "dropout, head initialisation). The same seed gives "
                    "the same model on the CPU.",
    "missing_samples": "How to handle table samples that are absent from "
                       "the metadata or have no value in the column: "
                       "'error' stops and names them; 'ignore' leaves them "
                       "out.",
    "drop_unmapped": DROP_DESCRIPTION,
    "device": ENGINE_DESCRIPTIONS["device"],
    "threads": ENGINE_DESCRIPTIONS["threads"],
}
PRETRAINING_DESCRIPTIONS = {
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

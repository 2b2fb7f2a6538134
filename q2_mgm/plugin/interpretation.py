"""Registration of the interpretation actions."""
from q2_sample_classifier import Importance
from q2_types.feature_data import FeatureData
from qiime2.plugin import (Bool, Categorical, Choices, Float, Int, List,
                           MetadataColumn, Range, Str)

from ..actions import interpretation as actions
from ..visualizers import interpretation as visualizers
from ..visualizers import keystones as keystone_report
from .types import AttentionStatistics, PerturbationEffects, RemovalEffects
from .parameters import (ANY_MODEL, DROP_DESCRIPTION, ENGINE_DESCRIPTIONS,
                         ENGINE_PARAMETERS, MODEL_DESCRIPTION, POOLING,
                         POOLING_DESCRIPTION, TABLE_DESCRIPTIONS,
                         TABLE_INPUTS)
from ..mgm import nulls
from ..mgm.interpretation import MODES
from ..plugin_setup import citations, plugin
from . import examples

# Actions ------------------------------------------------------------------

GROUP_COLUMN = MetadataColumn[Categorical]
ATTENTION_TEXT = (
    "Attention is averaged over all layers and heads of the model; a genus's "
    "weight in a sample is the attention it receives from itself and every "
    "token ranked after it, <eos> included (the sum of its column of the "
    "attention matrix).")
COMMON_PARAMETERS = {"drop_unmapped": Bool, **ENGINE_PARAMETERS}
COMMON_DESCRIPTIONS = {"drop_unmapped": DROP_DESCRIPTION,
                       **ENGINE_DESCRIPTIONS}
INPUT_DESCRIPTIONS = {**TABLE_DESCRIPTIONS, "model": MODEL_DESCRIPTION}
NULL_PARAMETERS = {"null_draws": Int % Range(0, None),
                   "random_state": Int % Range(0, None)}
NULL_DRAWS_TEXT = (
    "Draws of the null the effects are compared with. 0: enough for a "
    "Benjamini-Hochberg q-value below 0.05 to be reachable across all the "
    "rows (at least 999, at most 20,000); the report says how many were "
    "used.")
RANDOM_STATE_TEXT = ("Seed of the null's random draws (and of nothing "
                     "else): the same seed gives the same p-values.")
GROUP_DESCRIPTION = (
    "Categorical metadata column that assigns samples to groups (for "
    "example diet, delivery mode or health status). Samples without a "
    "value are left out.")

GENUS_LIST_TEXT = (
    "Each value names one genus or several: Bacteroides, g__Bacteroides, "
    "a whole lineage (its genus is used), or a list separated by commas, "
    "semicolons or '|' ('Bacteroides,Prevotella'); the parameter can also "
    "be repeated. Every genus named is used, once.")

plugin.methods.register_function(
    function=actions.attention_importance,
    inputs={**TABLE_INPUTS, "model": ANY_MODEL},
    parameters={"metadata": GROUP_COLUMN, **COMMON_PARAMETERS},
    outputs=[("importance", FeatureData[Importance]),
             ("statistics", FeatureData[AttentionStatistics])],
    input_descriptions=INPUT_DESCRIPTIONS,
    parameter_descriptions={
        "metadata": (GROUP_DESCRIPTION + " Optional: without it all "
                     "samples form one group."),
        **COMMON_DESCRIPTIONS},
    output_descriptions={
        "importance": "One row per genus (MGM token, e.g. g__Bacteroides), "
                      "highest first, in one column 'importance': the mean "
                      "attention the genus receives over the samples where "
                      "it is present (with groups, the mean of the groups' "
                      "values). One column, so that q2-sample-classifier's "
                      "heatmap ranks genera by it.",
        "statistics": "The same genera in the same order, with every "
                      "value: 'importance' (or 'importance:<group>' per "
                      "group): mean attention where present (0 if absent "
                      "from every sample of the group); 'prevalence' "
                      "('prevalence:<group>'): fraction of the samples "
                      "where it is present. Viewable as metadata (qiime "
                      "metadata tabulate)."},
    name="Genus importance from MGM attention",
    description=(
        "Which genera the model attends to. " + ATTENTION_TEXT + " The "
        "importance of a genus is its weight averaged over the samples "
        "where it is present, overall or per group. Note that the most "
        "abundant genera of a sample come first in its sentence and can "
        "receive attention from more genera. Tables of any size: samples "
        "are read a chunk at a time and only sums per genus are kept."),
    citations=[citations["mgm2025"]],
    examples={"attention_importance": examples.attention_importance_example},
)

plugin.visualizers.register_function(
    function=keystone_report.keystone_summary,
    inputs={**TABLE_INPUTS, "model": ANY_MODEL},
    parameters={"metadata": GROUP_COLUMN, "top_n": Int % Range(1, None),
                "min_prevalence": Float % Range(0, 1, inclusive_end=True),
                **COMMON_PARAMETERS},
    input_descriptions=INPUT_DESCRIPTIONS,
    parameter_descriptions={
        "metadata": GROUP_DESCRIPTION + " At least two groups are needed.",
        "top_n": "Genera listed per group.",
        "min_prevalence": "Only genera present in at least this fraction "
                          "of a group's samples are ranked and tested (in "
                          "at least one side of a comparison).",
        **COMMON_DESCRIPTIONS},
    name="Keystone genera: MGM attention compared between groups",
    description=(
        "The genera receiving the most attention in each group, and three "
        "tests per genus between groups (one group against the rest when "
        "there are more than two), each with Benjamini-Hochberg q-values: "
        "is the genus present in more samples of one group (prevalence, "
        "Fisher's exact test; a question about the table), does MGM attend "
        "to it more in one group among the samples that hold it "
        "(attention where present, Mann-Whitney U test; a question about "
        "the model), and the MGM paper's Kolmogorov-Smirnov test that "
        "counts absence as zero attention (published, which mixes the two). "
        "Each genus gets a plain finding, prevalences and median attention "
        "with bootstrap 95% intervals, in the report and in "
        "keystone-tests.tsv; plots per group and per layer. "
        + ATTENTION_TEXT),
    citations=[citations["mgm2025"], citations["fisher1922"],
               citations["mann1947"], citations["kolmogorov1933"],
               citations["benjamini1995"]],
    examples={"keystone_summary": examples.keystone_summary_example},
)

plugin.methods.register_function(
    function=actions.perturb,
    inputs={**TABLE_INPUTS, "model": ANY_MODEL},
    parameters={"metadata": GROUP_COLUMN, "reference_group": Str,
                "target_group": Str, "genera": List[Str],
                "top_n": Int % Range(1, None),
                "modes": List[Str % Choices(*MODES)], "pooling": POOLING,
                **NULL_PARAMETERS, **COMMON_PARAMETERS},
    outputs=[("effects", PerturbationEffects)],
    input_descriptions=INPUT_DESCRIPTIONS,
    parameter_descriptions={
        "metadata": GROUP_DESCRIPTION,
        "reference_group": "The group the target samples are compared with "
                           "(for example healthy controls); its mean "
                           "embedding is the reference point.",
        "target_group": "The group whose samples are perturbed (for example "
                        "patients).",
        "genera": "Genera to perturb. " + GENUS_LIST_TEXT + " A genus "
                  "unknown to MGM or absent from every target sample stops "
                  "the action with an error naming it and the genera "
                  "spelled most like it. Default: the top_n genera most "
                  "prevalent in the target group.",
        "top_n": "How many of the target group's most prevalent genera to "
                 "perturb when no genera are given.",
        "modes": "Perturbations: 'enrich' moves the genus to the top of the "
                 "sample's ranking (most abundant), 'reduce' to the bottom "
                 "(least abundant), 'delete' removes it; each is scored as "
                 "the shift toward the reference group. Default: all "
                 "three. The published leave-one-genus-out statistic "
                 "(similarity of a sample to itself after the removal) is "
                 "the action leave-one-genus-out.",
        "pooling": POOLING_DESCRIPTION,
        "null_draws": NULL_DRAWS_TEXT + " Each draw is a relabelling of "
                      "the compared samples into groups of the same sizes. "
                      "More draws than the memory available holds stop "
                      "the action before any embedding, with the most "
                      "that fit.",
        "random_state": RANDOM_STATE_TEXT,
        **COMMON_DESCRIPTIONS,
        "batch_size": "Sentences (original or perturbed samples) per "
                      "forward pass. Larger is faster on a GPU and needs "
                      "more memory."},
    output_descriptions={
        "effects": "One row per genus and mode, largest effect beyond the "
                   "null first: target samples containing the genus, their "
                   "mean cosine similarity to the reference group's mean "
                   "embedding before and after the perturbation, the shift "
                   "(after - before; positive: toward the reference), a "
                   "paired Wilcoxon signed-rank test of after against "
                   "before with Benjamini-Hochberg q-values over all rows "
                   "(wilcoxon_p, wilcoxon_q), the null of random groupings "
                   "(null_mean, null_sd, its 2.5% and 97.5% quantiles "
                   "null_low and null_high, null_draws), effect_beyond_null "
                   "(shift - null_mean), its two-sided empirical p-value "
                   "and q-value (null_p, null_q), and the groups, pooling "
                   "and kind of model used."},
    name="In-silico perturbation of genera",
    description=(
        "Which genera, if enriched, reduced or removed, would make the "
        "target group's communities look more like the reference group's "
        "to MGM. Each genus of each target sample is moved or removed in "
        "the sample's sentence; the perturbed samples are embedded in "
        "batches and compared with the reference group's mean embedding. "
        "Any perturbation moves an embedding, so each shift is compared "
        "with a null: the same perturbations scored against groups drawn "
        "at random from the same samples (sizes kept). A genus that moves "
        "every community toward the centre of the data, or whose shift "
        "comes from its rank, scores as the null does; only a shift "
        "toward the reference group itself stands out. For that, the "
        "reference samples are perturbed too: the run takes about (reference "
        "+ target samples) / target samples times as long as perturbing "
        "the target alone. The genera before the changed one are computed "
        "once per sample. The table is read three times, a chunk of "
        "samples at a time."),
    citations=[citations["mgm2025"], citations["benjamini1995"],
               citations["phipson2010"]],
    examples={"perturb": examples.perturb_example},
)

GENERA_DESCRIPTION = (
    "Genera to remove. " + GENUS_LIST_TEXT + " A genus unknown to MGM or "
    "absent from every sample stops the action with an error naming it "
    "and the genera spelled most like it. Default: the top_n most "
    "prevalent genera.")

plugin.methods.register_function(
    function=actions.leave_one_genus_out,
    inputs={**TABLE_INPUTS, "model": ANY_MODEL},
    parameters={"genera": List[Str], "top_n": Int % Range(0, None),
                "pooling": POOLING, **NULL_PARAMETERS, **COMMON_PARAMETERS},
    outputs=[("effects", FeatureData[RemovalEffects]),
             ("importance", FeatureData[Importance])],
    input_descriptions=INPUT_DESCRIPTIONS,
    parameter_descriptions={
        "genera": GENERA_DESCRIPTION,
        "top_n": "How many of the most prevalent genera to remove when no "
                 "genera are given (0: every genus of the table). The null "
                 "and each genus's result do not depend on it: every "
                 "sample also has its genera removed at up to "
                 f"{nulls.NULL_RANKS} evenly spaced ranks for the null, "
                 "whatever top_n is.",
        "pooling": POOLING_DESCRIPTION,
        "null_draws": NULL_DRAWS_TEXT + " Each draw replaces every removal "
                      "of the genus by the removal of another genus at "
                      "the same rank in a sentence of similar length.",
        "random_state": RANDOM_STATE_TEXT,
        **COMMON_DESCRIPTIONS,
        "batch_size": "Sentences (original or with one genus removed) per "
                      "forward pass. Larger is faster on a GPU and needs "
                      "more memory."},
    output_descriptions={
        "effects": "One row per genus (MGM token, e.g. g__Bacteroides), "
                   "largest effect first: 'effect' (1 - the mean cosine "
                   "similarity between a sample's embedding before and "
                   "after removing the genus, over the samples that hold "
                   "it), the mean, standard deviation, quartiles and "
                   "minimum of those similarities, the number of samples "
                   "and the prevalence; then the null of removals of other "
                   "genera at the same rank (null_mean, null_sd, its 2.5% "
                   "and 97.5% quantiles null_low and null_high, "
                   "null_draws), effect_beyond_null (effect - null_mean) "
                   "and its two-sided empirical p-value and q-value "
                   "(null_p, null_q), and null_genera: how many other "
                   "genera the null drew on. A stratum of rank and length "
                   f"is used when it holds at least {nulls.MIN_NULL_GENERA} "
                   f"other genera and {nulls.MIN_NULL_REMOVALS} removals, "
                   "else it widens to the rank alone, then to every rank; "
                   "a genus with no such pool (a table of few genera) has "
                   "no null: NaN p-values, null_draws 0, null_genera the "
                   "other genera there were, and a warning. A null without "
                   "spread gives p = 1. Viewable as metadata (qiime "
                   "metadata tabulate); leave-one-genus-out-summary "
                   "reports it.",
        "importance": "The same genera, highest first, in one column "
                      "'importance': effect_beyond_null, how much more "
                      "removing the genus changes the embeddings than "
                      "removing other genera at the same rank (NaN last, "
                      "where the genus has no null). One column, "
                      "so that q2-sample-classifier's heatmap ranks genera "
                      "by it."},
    name="Leave-one-genus-out effects, as published",
    description=(
        "How much each genus shapes MGM's view of a community: the genus is "
        "removed from each sample that holds it and the sample's embedding "
        "is compared with itself before the removal (cosine similarity), as "
        "in the MGM paper; no reference group is involved. Genera whose "
        "removal changes the embedding most are what the paper calls "
        "deleterious. Removing a top-ranked genus changes any embedding "
        "more than removing a rare one, so each genus is also compared "
        "with a null: removals of other genera at the same rank (half-"
        "octave bins of rank and of sentence length), drawn from the same "
        "run. To study one group (for example patients), filter "
        "the table to that group first (qiime feature-table "
        "filter-samples). The table is read twice, a chunk of samples at "
        "a time."),
    citations=[citations["mgm2025"], citations["benjamini1995"],
               citations["phipson2010"]],
    examples={"leave_one_genus_out": examples.leave_one_genus_out_example},
)

plugin.visualizers.register_function(
    function=visualizers.leave_one_genus_out_summary,
    inputs={"effects": FeatureData[RemovalEffects]},
    parameters={},
    input_descriptions={
        "effects": "Leave-one-genus-out effects from leave-one-genus-out."},
    name="Summarize leave-one-genus-out effects",
    description=(
        "Genera ranked by how much more their removal changes the samples' "
        "MGM embeddings than the removal of other genera at the same rank "
        "(effect beyond the null). Genera above and below the null are "
        "counted apart; the plot shows every genus that differs from the "
        "null (or, when there are none or very many, those with the "
        "largest effect beyond it, significance marked), with the null's "
        "spread, and the whole table."),
    citations=[citations["mgm2025"]],
    examples={"leave_one_genus_out_summary":
              examples.leave_one_genus_out_summary_example},
)

plugin.visualizers.register_function(
    function=visualizers.perturbation_summary,
    inputs={"effects": PerturbationEffects},
    parameters={},
    input_descriptions={"effects": "Perturbation effects from `perturb`."},
    name="Summarize in-silico perturbation",
    description=(
        "Genera ranked by how far their perturbation moves the target "
        "samples toward the reference group beyond what it does toward "
        "groups drawn at random (effect beyond the null). Each finding "
        "says both where the raw shift moves the target samples and where "
        "the effect beyond the null does, which can differ; plots of the "
        "effect beyond the null per perturbation, coloured by its sign, "
        "and of enrichment against reduction, every genus labelled; the "
        "whole table."),
    citations=[citations["mgm2025"], citations["benjamini1995"]],
    examples={"perturbation_summary": examples.perturbation_summary_example},
)

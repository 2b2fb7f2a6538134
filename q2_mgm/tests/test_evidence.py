"""Interpretation statistics as evidence, on the real example table.

Groups drawn at random carry no real difference: every test must stay
calibrated there (about 5% of p-values below 0.05, few q-values below
0.05), while a genus planted in one random half is still found, by the
question it was planted for.
"""
import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
from qiime2.plugins.mgm.actions import perturb

from ..mgm import interpretation as interpret
from ..mgm import keystones, nulls, statistics
from ..mgm.engine import Engine
from ..mgm.tokens import tokenize
from . import _data

SPLITS = 20
PREVALENCE_ONLY = "g__Deinococcus"
ATTENTION_ONLY = "g__Thermus"


@pytest.fixture(scope="module")
def mouse():
    """The whole example table (139 samples) tokenized, its engine and the
    attention each genus receives."""
    model = _data.pretrained()
    table = _data.example_table().view(biom.Table)
    taxonomy = _data.example_taxonomy().view(pd.Series)
    sentences, _ = tokenize(table, taxonomy, model.vocabulary)
    engine = Engine(model, device="cpu")
    received = interpret.attention(engine, sentences, model.vocabulary)
    return model, table, taxonomy, sentences, engine, received


def random_halves(sample_ids, seed):
    rng = np.random.default_rng(seed)
    labels = np.where(rng.permutation(len(sample_ids)) < len(sample_ids) // 2,
                      "A", "B")
    return pd.Series(labels, index=pd.Index(sample_ids, name="id"),
                     name="half")


def below(values, alpha=0.05):
    values = np.asarray(values, dtype=float)
    return (values[~np.isnan(values)] < alpha).mean()


# Keystones -------------------------------------------------------------------

def test_keystone_tests_are_calibrated_on_random_groups(mouse):
    model, _, _, sentences, _, received = mouse
    weights = received.matrix(model.vocabulary)
    presence = received.presence(model.vocabulary)
    p_below, q_below = {}, {}
    for seed in range(SPLITS):
        tests = keystones.keystone_tests(
            weights, presence, random_halves(sentences.sample_ids, seed),
            min_prevalence=0.1, resamples=20)
        for question in ("prevalence", "attention_present", "published"):
            p_below.setdefault(question, []).append(
                below(tests[f"{question}_p"]))
            q_below.setdefault(question, []).append(
                below(tests[f"{question}_q"]))
    for question in p_below:
        assert np.mean(p_below[question]) <= 0.075, question
        assert np.mean(q_below[question]) <= 0.05, question


def planted_table(table, taxonomy, halves, other_halves):
    """The table with two genera planted, as shares of each sample's reads
    after planting: ``PREVALENCE_ONLY`` in 80% of half A of ``halves`` and
    20% of its half B at 5%; ``ATTENTION_ONLY`` in every sample, at 20% in
    half A of ``other_halves`` (ranked first) and 1e-5 in its half B
    (ranked late). Two independent splits: a genus ranked first in one
    group pushes every other genus one rank down there, and attention
    depends on rank."""
    rng = np.random.default_rng(1)
    in_a = (halves.reindex(table.ids()) == "A").to_numpy()
    present = np.where(in_a, rng.random(len(in_a)) < 0.8,
                       rng.random(len(in_a)) < 0.2)
    first = (other_halves.reindex(table.ids()) == "A").to_numpy()
    shares = np.vstack([np.where(present, 0.05, 0.0),
                        np.where(first, 0.2, 1e-5)])
    total = table.sum(axis="sample") / (1 - shares.sum(0))
    rows = shares * total
    planted = biom.Table(np.vstack([table.matrix_data.toarray(), rows]),
                         list(table.ids(axis="observation"))
                         + ["prevalence-only", "attention-only"],
                         table.ids())
    lineage = "k__Bacteria; p__Deinococcus-Thermus; c__Deinococci; g__"
    taxonomy = pd.concat([taxonomy, pd.Series({
        "prevalence-only": lineage + "Deinococcus",
        "attention-only": lineage + "Thermus"})])
    taxonomy.index.name, taxonomy.name = "Feature ID", "Taxon"
    return planted, taxonomy


def test_keystone_questions_separate_presence_from_attention(mouse):
    model, table, taxonomy, _, engine, _ = mouse
    halves, other_halves = (random_halves(table.ids(), seed)
                            for seed in (7, 8))
    planted, taxonomy = planted_table(table, taxonomy, halves, other_halves)
    sentences, _ = tokenize(planted, taxonomy, model.vocabulary)
    received = interpret.attention(engine, sentences, model.vocabulary)
    weights = received.matrix(model.vocabulary)
    presence = received.presence(model.vocabulary)
    by_halves, by_other = (
        keystones.keystone_tests(weights, presence, split,
                                 min_prevalence=0.1).set_index("genus")
        for split in (halves, other_halves))
    prevalence_only = by_halves.loc[PREVALENCE_ONLY]
    assert prevalence_only["prevalence_q"] < 1e-6
    assert prevalence_only["attention_present_q"] > 0.05
    assert prevalence_only["finding"] == "more prevalent in A"
    attention_only = by_other.loc[ATTENTION_ONLY]
    assert attention_only["attention_present_q"] < 1e-6
    assert attention_only["prevalence_q"] == 1.0
    assert attention_only["finding"] == "more attended in A where present"
    # the published test flags both alike: it cannot tell them apart
    assert prevalence_only["published_q"] < 1e-6
    assert attention_only["published_q"] < 1e-6
    for tests, genus in ((by_halves, PREVALENCE_ONLY),
                         (by_other, ATTENTION_ONLY)):
        strongest = np.fmin(tests["prevalence_q"],
                            tests["attention_present_q"])
        assert strongest.idxmin() == genus


# Perturbation null -----------------------------------------------------------

def test_perturbation_null_is_calibrated_on_random_groups(mouse):
    """The perturbations are embedded once; each random grouping is then
    scored by the same ``GroupPermutations`` the action uses."""
    model, _, _, sentences, engine, _ = mouse
    genus_ids = [model.vocabulary.token_id(g) for g in interpret.Prevalence(
        model.vocabulary).add(sentences).series().index[:8]]
    embedded = engine.embed(sentences, "mean")
    parts = []
    for before, chunk, after in interpret.perturbed_embeddings(
            engine, sentences, genus_ids, interpret.MODES, "mean"):
        positions = np.array([job[0] for job in chunk])
        parts.append((positions, np.array([job[1] for job in chunk]),
                      np.array([job[2] for job in chunk]),
                      before[positions], after))
    records = [np.concatenate(p) for p in zip(*parts)]
    p_below, q_below = [], []
    for seed in range(5 * SPLITS):   # 24 correlated rows per split
        reference = random_halves(sentences.sample_ids, seed) == "A"
        null = nulls.GroupPermutations(reference.to_numpy(), genus_ids,
                                       interpret.MODES, 199, seed)
        null.add_embeddings(np.arange(len(sentences)), embedded)
        null.add(*records)
        result = null.result(model.vocabulary)
        assert (result["null_draws"] == 199).all()
        p_below.append(below(result["null_p"]))
        q_below.append(below(result["null_q"]))
    assert np.mean(p_below) <= 0.075
    assert np.mean(q_below) <= 0.05


def test_perturbation_null_finds_a_genus_planted_in_a_random_half(mouse):
    _, table, taxonomy, _, _, _ = mouse
    halves = random_halves(table.ids(), 3)
    planted, taxonomy = planted_table(table, taxonomy, halves, halves)
    effects, = perturb(
        qiime2.Artifact.import_data("FeatureTable[Frequency]", planted),
        qiime2.Artifact.import_data("FeatureData[Taxonomy]", taxonomy),
        metadata=qiime2.CategoricalMetadataColumn(halves),
        reference_group="B", target_group="A", top_n=6, modes=["delete"],
        null_draws=499)
    df = effects.view(pd.DataFrame)
    assert ATTENTION_ONLY in set(df["genus"])
    top = df.iloc[0]
    assert top["genus"] == ATTENTION_ONLY
    assert top["null_q"] < 0.05
    assert (df["null_draws"] == 499).all()


# Leave-one-genus-out null ----------------------------------------------------

@pytest.fixture(scope="module")
def removals(mouse):
    """Leave-one-genus-out of every genus of every sample."""
    model, _, _, sentences, engine, _ = mouse
    genus_ids = np.unique(sentences.tokens[
        np.isin(sentences.tokens, model.vocabulary.genus_ids)])
    records = interpret.removal_similarities(engine, sentences, genus_ids,
                                             "mean")
    return records.assign(effect=1 - records["similarity"])


def test_removal_records_carry_rank_and_length(mouse, removals):
    _, _, _, sentences, _, _ = mouse
    for row in removals.sample(20, random_state=0).itertuples():
        sentence = sentences.sentence(row.sample)
        assert sentence[row.rank] == row.token
        assert row.length == len(sentence) - 2


def test_rank_matched_null_is_calibrated_and_finds_a_planted_effect(
        removals):
    """Genus labels drawn at random carry no effect beyond their rank;
    one label given 0.05 more effect stands out."""
    draws = statistics.draws_for(40)
    p_below, q_below = [], []
    rng = np.random.default_rng(0)
    for seed in range(5):
        labelled = removals.assign(token=rng.integers(0, 40, len(removals)))
        result = nulls.rank_matched_null(labelled, draws, seed)
        p_below.append(below(result["null_p"]))
        q_below.append(below(result["null_q"]))
    assert np.mean(p_below) <= 0.075
    assert np.mean(q_below) <= 0.05
    labelled.loc[labelled["token"] == 7, "effect"] += 0.05
    result = nulls.rank_matched_null(labelled, draws, 0)
    assert result["effect_beyond_null"].idxmax() == 7
    assert result.loc[7, "null_q"] < 0.05

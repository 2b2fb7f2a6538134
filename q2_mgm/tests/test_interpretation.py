"""Attention importance, keystone genera and perturbation, through the API.

The constructed example: mouse samples split by diet, with a genus absent
from the mouse data (Thermus) planted at high abundance in every Western
sample only. It must come out on top everywhere.
"""
import copy
import subprocess
import sys

import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
import torch
from qiime2.plugins.sample_classifier.actions import heatmap
from qiime2.plugins.mgm.actions import (attention_importance,
                                        collapse_genera, keystone_summary,
                                        leave_one_genus_out,
                                        leave_one_genus_out_summary, perturb,
                                        perturbation_summary)

from ..mgm import interpretation as interpret
from ..mgm import keystones, nulls, statistics
from ..mgm import tables
from ..mgm.engine import Engine
from ..mgm.model import MGMModel, build_network
from ..mgm.tokens import Sentences, tokenize
from ..mgm.vocabulary import BOS, EOS
from . import _data

PLANTED = "g__Thermus"
LINEAGE = ("k__Bacteria; p__Deinococcus-Thermus; c__Deinococci; "
           "o__Thermales; f__Thermaceae; g__Thermus")
PER_GROUP = 12


@pytest.fixture(scope="module")
def planted():
    """Table, taxonomy and diet column: 12 BK + 12 Western samples,
    Thermus planted in the Western ones."""
    metadata = _data.example_metadata()
    diet = metadata.get_column("diet").to_series()
    keep = pd.concat([diet[diet == g].iloc[:PER_GROUP]
                      for g in ("BK", "Western")])
    view = _data.example_table().view(biom.Table)
    view = view.filter(set(keep.index), axis="sample", inplace=False)
    view = view.remove_empty(axis="observation", inplace=False)
    samples = view.ids(axis="sample")
    extra = np.where(diet.reindex(samples) == "Western",
                     view.sum(axis="sample") * 0.3, 0.0)[None, :]
    data = np.vstack([view.matrix_data.toarray(), extra])
    table = biom.Table(data, list(view.ids(axis="observation")) + ["planted"],
                       samples)
    taxonomy = _data.example_taxonomy().view(pd.Series)
    taxonomy = pd.concat([taxonomy, pd.Series({"planted": LINEAGE})])
    taxonomy.index.name, taxonomy.name = "Feature ID", "Taxon"
    column = qiime2.CategoricalMetadataColumn(keep.rename("diet"))
    return (qiime2.Artifact.import_data("FeatureTable[Frequency]", table),
            qiime2.Artifact.import_data("FeatureData[Taxonomy]", taxonomy),
            column)


@pytest.fixture(scope="module")
def classifier():
    """A tiny fine-tuned-like classifier: pretrained backbone, random head."""
    pretrained = _data.pretrained()
    config = copy.deepcopy(pretrained.network.config)
    config.num_labels = 2
    network = build_network(config, "classifier")
    network.transformer.load_state_dict(
        pretrained.network.transformer.state_dict())
    torch.manual_seed(0)
    model = MGMModel(network.eval(), pretrained.vocabulary, manifest={
        "kind": "classifier", "labels": ["BK", "Western"],
        "max_length": 512, "pooling": "eos"})
    return qiime2.Artifact.import_data("MGMModel[Classifier]", model)


def three_groups(column):
    series = column.to_series().copy()
    series.iloc[::3] = "Other"
    return qiime2.CategoricalMetadataColumn(series)


# Core logic ---------------------------------------------------------------

def test_perturbed_sentences_keep_bos_and_eos():
    sentence = np.array([BOS, 10, 11, 12, EOS])
    assert list(interpret.perturb_sentence(sentence, 2, "enrich")) == \
        [BOS, 11, 10, 12, EOS]
    assert list(interpret.perturb_sentence(sentence, 2, "reduce")) == \
        [BOS, 10, 12, 11, EOS]
    assert list(interpret.perturb_sentence(sentence, 2, "delete")) == \
        [BOS, 10, 12, EOS]
    single = np.array([BOS, 10, EOS])
    assert list(interpret.perturb_sentence(single, 1, "delete")) == \
        [BOS, EOS]


def test_benjamini_hochberg():
    q = statistics.benjamini_hochberg([0.01, 0.04, 0.03, 0.5, np.nan])
    assert np.allclose(q[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert np.isnan(q[4])


def test_empirical_p_counts_the_observed_value_and_both_tails():
    null = np.arange(1.0, 100.0)[None].repeat(3, 0)   # 99 draws
    p = statistics.two_sided_empirical_p([1000.0, 50.0, -5.0], null)
    assert np.allclose(p, [2 / 100, 1.0, 2 / 100])
    assert np.isnan(statistics.two_sided_empirical_p(
        [1.0], np.full((1, 5), np.nan))[0])
    # enough draws: the smallest p passes Benjamini-Hochberg at 0.05
    for tests in (1, 60, 500):
        draws = statistics.draws_for(tests)
        assert 2 / (draws + 1) * tests < 0.05


def test_genus_names_resolve_to_tokens():
    vocabulary = _data.pretrained().vocabulary
    assert interpret.resolve_genera(
        ["Bacteroides", "g__Bacteroides", "Lactobacillus"], vocabulary) == \
        ["g__Bacteroides", "g__Lactobacillus"]


# attention-importance and keystone-summary --------------------------------

def test_planted_genus_gets_top_attention(planted):
    table, taxonomy, diet = planted
    importance, statistics = attention_importance(table, taxonomy,
                                                  metadata=diet)
    df = statistics.view(pd.DataFrame)
    assert list(df.columns) == ["importance:BK", "importance:Western",
                                "prevalence:BK", "prevalence:Western"]
    score = importance.view(pd.DataFrame)
    assert list(score.columns) == ["importance"]
    assert list(score.index) == list(df.index)
    assert np.allclose(score["importance"], df[["importance:BK",
                                                "importance:Western"]]
                       .mean(axis=1))
    assert df["importance:Western"].idxmax() == PLANTED
    assert df.loc[PLANTED, "prevalence:Western"] == 1.0
    assert df.loc[PLANTED, "prevalence:BK"] == 0.0
    assert df.loc[PLANTED, "importance:BK"] == 0.0
    assert df.index.str.startswith("g__").all()


def test_attention_importance_streams_to_per_sample_means(
        planted, monkeypatch):
    """Chunks of 5 samples give what one pass does, and both the mean of
    each sample's attention where the genus is present."""
    table, taxonomy, diet = planted
    whole = attention_importance(table, taxonomy, metadata=diet)[1] \
        .view(pd.DataFrame)
    monkeypatch.setattr(tables, "CHUNK", 5)
    chunked = attention_importance(table, taxonomy, metadata=diet)[1] \
        .view(pd.DataFrame)
    pd.testing.assert_frame_equal(chunked, whole, rtol=1e-6)
    model = _data.pretrained()
    sentences, _ = tokenize(table.view(biom.Table),
                            taxonomy.view(pd.Series), model.vocabulary)
    received = interpret.attention(Engine(model, device="cpu"), sentences,
                                   model.vocabulary)
    weights = received.matrix(model.vocabulary)
    groups = diet.to_series()
    for group in ("BK", "Western"):
        members = weights.loc[groups.index[groups == group]]
        present = (members > 0).sum()
        expected = (members.sum() / present)[present > 0]
        found = whole[f"importance:{group}"]
        assert np.allclose(found[expected.index], expected, rtol=1e-5)
        assert (found.drop(expected.index) == 0).all()
        assert np.allclose(whole[f"prevalence:{group}"],
                           present.reindex(whole.index, fill_value=0)
                           / PER_GROUP)


def test_importance_ungrouped_on_a_classifier(planted, classifier):
    table, taxonomy, _ = planted
    importance, statistics = attention_importance(table, taxonomy,
                                                  model=classifier)
    df = statistics.view(pd.DataFrame)
    assert list(df.columns) == ["importance", "prevalence"]
    pd.testing.assert_frame_equal(importance.view(pd.DataFrame),
                                  df[["importance"]], check_names=False)
    assert list(statistics.view(qiime2.Metadata).columns) == \
        ["importance", "prevalence"]
    assert df["prevalence"].between(0, 1).all()
    assert (df["importance"] > 0).all()


def test_keystone_summary_ranks_the_planted_genus_first(planted, tmp_path):
    table, taxonomy, diet = planted
    viz, = keystone_summary(table, taxonomy, metadata=diet, top_n=5)
    viz.export_data(tmp_path)
    tests = pd.read_csv(tmp_path / "keystone-tests.tsv", sep="\t")
    first = tests.iloc[0]
    assert first["genus"] == PLANTED
    assert first["published_ks_statistic"] == 1.0
    assert first["published_q"] < 0.001
    assert first["prevalence_q"] < 0.001
    assert np.isnan(first["attention_present_q"])   # absent from BK
    assert first["finding"] == "more prevalent in Western"
    assert "Thermus (BK vs Western): more prevalent in Western" in \
        (tmp_path / "index.html").read_text()
    for name in ("index.html", "top-genera.tsv", "attention-importance.tsv",
                 "prevalence-and-attention.png", "attention-by-layer.png"):
        assert (tmp_path / name).exists()


def test_keystone_tests_with_no_genus_common_enough():
    weights = pd.DataFrame({"g__Bacteroides": [0.1, 0, 0.2, 0]},
                           index=list("abcd"))
    groups = pd.Series(["x", "x", "y", "y"], index=list("abcd"))
    tests = keystones.keystone_tests(weights, weights > 0, groups,
                                     min_prevalence=0.9)
    assert tests.empty and list(tests.columns) == keystones.COLUMNS


def test_keystone_summary_one_vs_rest(planted, classifier, tmp_path):
    table, taxonomy, diet = planted
    viz, = keystone_summary(table, taxonomy, metadata=three_groups(diet),
                            model=classifier, min_prevalence=0.5)
    viz.export_data(tmp_path)
    tests = pd.read_csv(tmp_path / "keystone-tests.tsv", sep="\t")
    assert set(tests["group"]) == {"BK", "Other", "Western"}
    western = tests[tests["group"] == "Western"]
    assert set(western["compared_with"]) == {"BK + Other"}


# perturb and perturbation-summary -----------------------------------------

def test_deleting_the_planted_genus_moves_toward_reference(planted):
    table, taxonomy, diet = planted
    effects, = perturb(table, taxonomy, metadata=diet,
                       reference_group="BK", target_group="Western",
                       top_n=4)
    df = effects.view(pd.DataFrame)
    assert set(df["mode"]) == {"enrich", "reduce", "delete"}
    assert PLANTED in set(df["genus"])
    assert len(df) == 3 * df["genus"].nunique()
    deletions = df[df["mode"] == "delete"]
    top = deletions.iloc[0]   # ranked by the effect beyond the null
    assert top["genus"] == PLANTED
    assert top["shift"] > 0
    assert top["effect_beyond_null"] > top["null_high"] - top["null_mean"]
    assert top["null_q"] < 0.05
    assert top["samples"] == PER_GROUP
    assert top["wilcoxon_p"] < 0.01
    assert df["effect_beyond_null"].is_monotonic_decreasing
    assert (df["reference_group"] == "BK").all()
    assert (df["pooling"] == "mean").all()
    metadata = effects.view(qiime2.Metadata)
    assert f"{PLANTED}:delete" in metadata.ids


def test_perturb_and_leave_one_genus_out_stream_in_chunks(
        planted, monkeypatch):
    """Chunks of 5 samples give what one pass does."""
    table, taxonomy, diet = planted
    kwargs = dict(metadata=diet, reference_group="BK",
                  target_group="Western", top_n=3, modes=["delete"])
    runs = {}
    for chunk in (10 ** 6, 5):
        monkeypatch.setattr(tables, "CHUNK", chunk)
        runs[chunk] = (
            perturb(table, taxonomy, **kwargs)[0].view(pd.DataFrame),
            leave_one_genus_out(table, taxonomy, top_n=3)[0]
            .view(pd.DataFrame))
    for whole, chunked in zip(runs[10 ** 6], runs[5]):
        pd.testing.assert_frame_equal(chunked, whole, rtol=1e-5)
    assert runs[5][0]["target_samples"].iloc[0] == PER_GROUP
    assert runs[5][0]["reference_samples"].iloc[0] == PER_GROUP


def test_perturb_given_genera_on_a_classifier(planted, classifier, tmp_path):
    table, taxonomy, diet = planted
    effects, = perturb(table, taxonomy, metadata=diet, model=classifier,
                       reference_group="BK", target_group="Western",
                       genera=["Thermus", "g__Bacteroides"],
                       modes=["enrich", "reduce"])
    df = effects.view(pd.DataFrame)
    assert sorted(df.index) == sorted(
        f"{g}:{m}" for g in (PLANTED, "g__Bacteroides")
        for m in ("enrich", "reduce"))
    assert (df["pooling"] == "eos").all()
    assert (df["model_kind"] == "classifier").all()
    viz, = perturbation_summary(effects)
    viz.export_data(tmp_path)
    assert (tmp_path / "enrich-vs-reduce.png").exists()
    assert (tmp_path / "perturbation-effects.tsv").exists()


# Bad input ------------------------------------------------------------------

@pytest.mark.parametrize("reference, target, genera, message", [
    ("BK", "BK", None, "the same"),
    ("Healthy", "Western", None, "'Healthy' has no sample"),
    ("BK", "Western", ["Notagenus"], "Not genera of the MGM vocabulary: "
                                     "Notagenus"),
    ("BK", "Western", ["Thermus", "Deinococcus"],
     "absent from every sample of the target group 'Western': "
     "g__Deinococcus"),
])
def test_perturb_bad_input(planted, reference, target, genera, message):
    table, taxonomy, diet = planted
    with pytest.raises(ValueError, match=message):
        perturb(table, taxonomy, metadata=diet, reference_group=reference,
                target_group=target, genera=genera)


def test_group_without_table_samples_is_an_error(planted):
    table, taxonomy, diet = planted
    other = qiime2.CategoricalMetadataColumn(pd.Series(
        ["a", "b"], index=pd.Index(["x1", "x2"], name="id"), name="g"))
    with pytest.raises(ValueError, match="No sample of the table"):
        attention_importance(table, taxonomy, metadata=other)


def test_keystone_needs_two_groups(planted):
    table, taxonomy, diet = planted
    single = qiime2.CategoricalMetadataColumn(
        diet.to_series().where(diet.to_series() == "BK").dropna())
    with pytest.raises(ValueError, match="only one group"):
        keystone_summary(table, taxonomy, metadata=single)


def test_effects_format_rejects_bad_files(tmp_path):
    from ..plugin.formats import PerturbationEffectsFormat
    path = tmp_path / "effects.tsv"
    path.write_text("id\tgenus\nx\tg__A\n")
    with pytest.raises(qiime2.plugin.ValidationError, match="missing"):
        PerturbationEffectsFormat(str(path), mode="r").validate()


# Command line ---------------------------------------------------------------

@pytest.mark.slow
def test_command_line_perturb(planted, tmp_path):
    table, taxonomy, diet = planted
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    diet.to_dataframe().to_csv(tmp_path / "metadata.tsv", sep="\t",
                               index_label="sample-id")
    out = tmp_path / "effects.qza"
    subprocess.run(
        [sys.executable, "-m", "q2cli", "mgm", "perturb",
         "--i-table", str(tmp_path / "table.qza"),
         "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
         "--m-metadata-file", str(tmp_path / "metadata.tsv"),
         "--m-metadata-column", "diet",
         "--p-reference-group", "BK", "--p-target-group", "Western",
         "--p-genera", "Thermus", "--p-modes", "delete",
         "--o-effects", str(out)], check=True, capture_output=True)
    df = qiime2.Artifact.load(str(out)).view(pd.DataFrame)
    assert list(df.index) == [f"{PLANTED}:delete"]
    assert df.iloc[0]["shift"] > 0


def own_similarity_by_hand(model, sentence, token):
    """Published leave-one-genus-out for one sample, written out: mean
    last hidden state with and without the genus, their cosine."""
    def mean_state(ids):
        with torch.no_grad():
            hidden = model.network.transformer(
                input_ids=torch.tensor([ids])).last_hidden_state[0]
        return hidden.mean(0).numpy()
    before = mean_state(list(sentence))
    after = mean_state([t for t in sentence if t != token])
    return before @ after / np.linalg.norm(before) / np.linalg.norm(after)


def test_leave_one_genus_out_is_the_published_statistic(planted, tmp_path):
    table, taxonomy, _ = planted
    effects, _ = leave_one_genus_out(table, taxonomy,
                                     genera=["Thermus", "Bacteroides"])
    df = effects.view(pd.DataFrame)
    assert set(df.index) == {PLANTED, "g__Bacteroides"}
    assert df.loc[PLANTED, "samples"] == PER_GROUP
    assert df.loc[PLANTED, "prevalence"] == 0.5
    model = _data.pretrained()
    sentences, _ = tokenize(table.view(biom.Table),
                            taxonomy.view(pd.Series), model.vocabulary)
    token = model.vocabulary.token_id(PLANTED)
    expected = [own_similarity_by_hand(model, sentences.sentence(i), token)
                for i in range(len(sentences))
                if token in sentences.sentence(i)]
    assert abs(df.loc[PLANTED, "mean_similarity"]
               - np.mean(expected)) < 1e-5
    assert abs(df.loc[PLANTED, "min_similarity"] - min(expected)) < 1e-5
    assert abs(df.loc[PLANTED, "effect"] - (1 - np.mean(expected))) < 1e-5
    summary, = leave_one_genus_out_summary(effects)
    summary.export_data(tmp_path)
    assert "Thermus" in (tmp_path / "index.html").read_text()


def test_leave_one_genus_out_top_n_and_bad_input(planted):
    table, taxonomy, _ = planted
    effects, importance = leave_one_genus_out(table, taxonomy, top_n=3)
    df = effects.view(pd.DataFrame)
    score = importance.view(pd.DataFrame)
    assert list(score.columns) == ["importance"]
    assert np.allclose(score["importance"],
                       df.loc[score.index, "effect_beyond_null"])
    metadata = effects.view(qiime2.Metadata)   # qiime metadata tabulate
    assert list(metadata.ids) == list(df.index)
    assert metadata.get_column("null_q").to_series().notna().all()
    assert score["importance"].is_monotonic_decreasing
    assert len(df) == 3 and (df["prevalence"] == 1.0).all()
    assert df["effect"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="absent from every sample"):
        leave_one_genus_out(table, taxonomy, genera=["Prochlorococcus"])
    with pytest.raises(ValueError, match="Not genera of the MGM"):
        leave_one_genus_out(table, taxonomy, genera=["Notagenus"])


@pytest.mark.parametrize("output", ["attention by group", "attention",
                                    "leave-one-genus-out"])
def test_sample_classifier_heatmap_picks_what_each_importance_ranks_first(
        planted, output):
    """q2-sample-classifier's heatmap sums every column of an importance:
    each FeatureData[Importance] of the plugin must give it the genera
    the output itself ranks highest."""
    table, taxonomy, diet = planted
    importance = {
        "attention by group": lambda: attention_importance(
            table, taxonomy, metadata=diet)[0],
        "attention": lambda: attention_importance(table, taxonomy)[0],
        "leave-one-genus-out": lambda: leave_one_genus_out(
            table, taxonomy, top_n=12, null_draws=199)[1]}[output]()
    genus_table_, = collapse_genera(table, taxonomy)
    result = heatmap(genus_table_, importance, sample_metadata=diet,
                     feature_count=5)
    picked = set(result.filtered_table.view(biom.Table).ids(
        axis="observation"))
    ranked = importance.view(pd.DataFrame)["importance"]
    assert picked == set(ranked.sort_values(ascending=False).index[:5])
    assert picked == set(ranked.index[:5])


def test_leave_one_genus_out_summary_needs_its_own_table(planted):
    table, taxonomy, column = planted
    _, statistics = attention_importance(table, taxonomy)
    with pytest.raises(TypeError, match="RemovalEffects"):
        leave_one_genus_out_summary(statistics)


@pytest.mark.slow
def test_command_line_leave_one_genus_out(planted, tmp_path):
    table, taxonomy, _ = planted
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    qiime = [sys.executable, "-m", "q2cli", "mgm"]
    subprocess.run(
        qiime + ["leave-one-genus-out",
                 "--i-table", str(tmp_path / "table.qza"),
                 "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
                 "--p-genera", "Thermus", "--p-genera", "Bacteroides",
                 "--o-effects", str(tmp_path / "effects.qza"),
                 "--o-importance", str(tmp_path / "importance.qza")],
        check=True, capture_output=True)
    subprocess.run(
        qiime + ["leave-one-genus-out-summary",
                 "--i-effects", str(tmp_path / "effects.qza"),
                 "--o-visualization", str(tmp_path / "summary.qzv")],
        check=True, capture_output=True)
    df = qiime2.Artifact.load(str(tmp_path / "effects.qza")).view(
        pd.DataFrame)
    assert sorted(df.index) == ["g__Bacteroides", PLANTED]
    assert (tmp_path / "summary.qzv").is_file()


@pytest.mark.parametrize("pooling", ["mean", "eos"])
def test_perturbation_similarities_equal_transformers_per_sample(pooling):
    """Before and after of every perturbation (moved to the front, to the
    end, removed, and unchanged), each against transformers' own forward
    of that one sentence, in chunks smaller than one sample's jobs."""
    model = _data.pretrained()
    rng = np.random.default_rng(5)
    vocabulary = model.vocabulary
    sentences = [[BOS, *rng.choice(vocabulary.genus_ids, n, replace=False),
                  EOS] for n in (1, 6, 30, 3)]
    batch = Sentences.from_list(range(len(sentences)), sentences)
    genera = [int(batch.sentence(1)[2]), int(batch.sentence(2)[5]),
              int(batch.sentence(2)[-2]), int(batch.sentence(0)[1])]
    centroid = rng.normal(size=model.network.config.n_embd)

    def by_hand(ids):
        with torch.no_grad():
            hidden = model.network.transformer(
                input_ids=torch.tensor([list(ids)])).last_hidden_state[0]
        return interpret.cosine_to(
            (hidden.mean(0) if pooling == "mean" else hidden[-1])
            .numpy()[None], centroid)[0]

    engine = Engine(model, device="cpu", batch_size=4)
    found = pd.concat([
        pd.DataFrame([(job[0], job[1], job[2], before_, after_)
                      for job, before_, after_ in zip(
                          chunk, interpret.cosine_to(
                              before[[job[0] for job in chunk]], centroid),
                          interpret.cosine_to(after, centroid))])
        for before, chunk, after in interpret.perturbed_embeddings(
            engine, batch, genera, interpret.MODES, pooling, chunk_size=4)])
    jobs = list(interpret.perturbation_jobs(batch, genera, interpret.MODES))
    assert len(found) == len(jobs) == 4 * 3
    for (sample, _, _, before, after), job in zip(found.values, jobs):
        assert abs(before - by_hand(batch.sentence(sample))) < 1e-5
        assert abs(after - by_hand(job[3])) < 1e-5

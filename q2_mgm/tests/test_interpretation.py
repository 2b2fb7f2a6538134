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


@pytest.mark.parametrize("typed", [
    ["Bacteroides,Prevotella"], ["Prevotella", "Bacteroides"],
    ["Bacteroides|Prevotella"], ["g__Bacteroides; g__Prevotella"],
    ["Bacteroides;Prevotella", "Bacteroides"],
    [" g__Bacteroides , Prevotella "],
    ["k__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; "
     "f__Bacteroidaceae; g__Bacteroides; s__", "Prevotella"],
    ["Bacteria;Bacteroidetes;Bacteroidia;Bacteroidales;Prevotellaceae;"
     "Prevotella", "D_5__Bacteroides"],
])
def test_genus_lists_name_every_genus(typed):
    vocabulary = _data.pretrained().vocabulary
    prevalence = pd.Series(
        1.0, index=["g__Bacteroides", "g__Prevotella", "g__Blautia"])
    chosen = interpret.choose_genera(prevalence, vocabulary, typed, None,
                                     "of the table")
    assert sorted(chosen) == ["g__Bacteroides", "g__Prevotella"]


def test_a_misspelt_genus_names_the_closest_ones():
    vocabulary = _data.pretrained().vocabulary
    prevalence = pd.Series(
        1.0, index=["g__Bacteroides", "g__Prevotella", "g__Blautia"])
    with pytest.raises(ValueError, match=(
            r"vocabulary: Bacteroids \(closest genera present: "
            r"Bacteroides\).*absent from every sample of the table: "
            r"g__Lactobacillus \(no genus present")):
        interpret.choose_genera(prevalence, vocabulary,
                                ["Bacteroids,Lactobacillus"], None,
                                "of the table")
    with pytest.raises(ValueError, match="vocabulary: k__Bacteria; "
                                         "p__Firmicutes"):
        interpret.choose_genera(prevalence, vocabulary,
                                ["k__Bacteria; p__Firmicutes"], None,
                                "of the table")


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


def test_group_names_holding_a_plus_stay_apart():
    assert keystones.joined(["A + B", "B"]) == "'A + B' + 'B'"
    assert keystones.joined(["A", "B"]) == "A + B"
    assert keystones.joined(["A + B"]) == "A + B"


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


# A float32 embedding depends slightly on the other sentences of its batch
# (the kernels block the work by shape): recomputed in another batch it
# moves by about one unit in the last place (2**-23 relative; measured
# 1.3e-7 on Intel Xeon and AMD EPYC). A cosine similarity of such vectors is
# allowed 8 of those units; a statistic that is a mean or a difference of
# similarities (shift, effect, the null's mean, spread and quantiles), two.
SIMILARITY_ERROR = 8 * 2.0 ** -23
STATISTIC_ERROR = 2 * SIMILARITY_ERROR


def test_batching_moves_similarities_within_their_stated_error():
    """The premise of the chunking test: the same sentences embedded in one
    batch and one at a time give similarities within SIMILARITY_ERROR."""
    model = _data.pretrained()
    sentences = tokenize(_data.example_table(40).view(biom.Table),
                         _data.example_taxonomy().view(pd.Series),
                         model.vocabulary)[0]
    engine = Engine(model, device="cpu")
    together = engine.embed(sentences)
    alone = np.vstack([engine.embed(sentences.subset([i]))
                       for i in range(len(sentences))])
    centroid = nulls.unit_rows(together.mean(0, dtype=np.float64))
    similarity = [nulls.unit_rows(v) @ centroid.astype(np.float32)
                  for v in (together, alone)]
    assert np.abs(similarity[0] - similarity[1]).max() <= SIMILARITY_ERROR


def assert_same_statistics(chunked, whole):
    """Counts, names and verdict columns equal; similarity statistics
    within STATISTIC_ERROR; empirical p- and q-values within the few draws
    that can lie within that error of the observed value."""
    chunked = chunked.loc[whole.index]
    draws = whole["null_draws"].to_numpy()
    for column in whole:
        a, b = chunked[column].to_numpy(), whole[column].to_numpy()
        if column.endswith(("_p", "_q")) and column.startswith("null"):
            np.testing.assert_allclose(a, b, rtol=0, atol=5 / (draws.min() + 1),
                                       err_msg=column)
        elif np.issubdtype(b.dtype, np.floating) and not column.startswith(
                "wilcoxon"):
            np.testing.assert_allclose(a, b, rtol=0, atol=STATISTIC_ERROR,
                                       err_msg=column)
        else:
            np.testing.assert_array_equal(a, b, err_msg=column)


def test_perturb_and_leave_one_genus_out_stream_in_chunks(
        planted, monkeypatch):
    """Chunks of 5 samples give what one pass does: every sum is taken in
    float64 per sample, so only the embeddings' batching error remains."""
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
        assert_same_statistics(chunked, whole)
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


@pytest.mark.parametrize("row, problem", [("g__A\t1\t2\n", "fields"),
                                          ("g__A\tx\n", "non-numeric")])
def test_tsv_formats_reject_a_bad_row(tmp_path, row, problem):
    from ..plugin.formats import (AttentionStatisticsFormat,
                                  EmbeddingsFormat)
    path = tmp_path / "values.tsv"
    path.write_text("genus\timportance\ng__B\t0.5\n" + row)
    for fmt in (EmbeddingsFormat, AttentionStatisticsFormat):
        with pytest.raises(qiime2.plugin.ValidationError,
                           match=f"Line 3 has .*{problem}"):
            fmt(str(path), mode="r").validate()


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


# Nulls that know their size -----------------------------------------------

def removal_records(genera, per_genus=30, effect=None, seed=0):
    """Leave-one-genus-out records: each genus removed ``per_genus`` times
    at rank 1 of 8-genus sentences, all in the null's pool."""
    rng = np.random.default_rng(seed)
    token = np.repeat(np.arange(10, 10 + genera), per_genus)
    return pd.DataFrame({
        "token": token, "rank": 1, "length": 8, "null": True,
        "effect": (rng.random(len(token)) if effect is None
                   else effect(token))})


def test_a_null_of_too_few_other_genera_gives_no_p_value():
    null = nulls.rank_matched_null(removal_records(nulls.MIN_NULL_GENERA),
                                   999)
    assert (null["null_draws"] == 0).all()
    assert null["null_p"].isna().all() and null["null_q"].isna().all()
    assert (null["null_genera"] == nulls.MIN_NULL_GENERA - 1).all()
    enough = nulls.rank_matched_null(
        removal_records(nulls.MIN_NULL_GENERA + 1), 999)
    assert (enough["null_draws"] == 999).all()
    assert (enough["null_genera"] == nulls.MIN_NULL_GENERA).all()


def test_a_null_without_spread_never_calls_an_effect_significant():
    """Every other genus has the same effect: the draws are one value, so
    the p-value is 1 however far the genus lies from it."""
    records = removal_records(8, effect=lambda t: np.where(t == 10, 0.5,
                                                           0.1))
    null = nulls.rank_matched_null(records, 999, genera=[10])
    assert null.loc[10, "null_sd"] < 1e-12
    assert null.loc[10, "null_p"] == 1.0


def test_a_genus_null_does_not_depend_on_the_other_genera_tested():
    records = removal_records(12)
    alone = nulls.rank_matched_null(records, 999, genera=[13])
    together = nulls.rank_matched_null(records, 999)
    pd.testing.assert_series_equal(
        alone.loc[13, ["null_mean", "null_sd", "null_p", "null_genera"]],
        together.loc[13, ["null_mean", "null_sd", "null_p", "null_genera"]])


def small_table(genera, samples=10):
    rng = np.random.default_rng(1)
    features = [f"f{i}" for i in range(len(genera))]
    table = _data.table_of(rng.integers(1, 100, (len(genera), samples)),
                           features, [f"s{j}" for j in range(samples)])
    taxonomy = _data.taxonomy_of(
        {f: f"k__Bacteria; g__{g}" for f, g in zip(features, genera)})
    taxonomy.index.name = "Feature ID"
    return (qiime2.Artifact.import_data("FeatureTable[Frequency]", table),
            qiime2.Artifact.import_data("FeatureData[Taxonomy]", taxonomy))


@pytest.mark.parametrize("genera", [["Bacteroides"],
                                    ["Bacteroides", "Prevotella"]])
def test_leave_one_genus_out_of_a_small_table_has_no_null(genera, tmp_path):
    table, taxonomy = small_table(genera)
    with pytest.warns(UserWarning, match="have no null.*More null_draws "
                                         "cannot help"):
        effects, _ = leave_one_genus_out(table, taxonomy, top_n=0,
                                       null_draws=5000)
    df = effects.view(pd.DataFrame)
    assert len(df) == len(genera)
    assert (df["null_draws"] == 0).all() and df["null_q"].isna().all()
    assert (df["null_genera"] == len(genera) - 1).all()
    summary, = leave_one_genus_out_summary(effects)
    summary.export_data(tmp_path)
    page = " ".join((tmp_path / "index.html").read_text().split())
    assert f"{len(genera)} of {len(genera)} genera have no null" in page
    assert "run with more null_draws" not in page
    assert "0 differ from the null at q &lt; 0.05" in page
    assert f"(less); {len(genera)} have no null" in page


@pytest.mark.slow
def test_a_genus_verdict_does_not_depend_on_top_n():
    """On the mouse data, Parabacteroides' null and verdict are the same
    whether 2, 3 or all genera are screened."""
    table, taxonomy = _data.example_table(), _data.example_taxonomy()
    rows = [leave_one_genus_out(table, taxonomy, top_n=n)[0]
            .view(pd.DataFrame).loc["g__Parabacteroides"] for n in (2, 3, 0)]
    for row in rows:
        assert row["null_genera"] >= nulls.MIN_NULL_GENERA
        assert np.sign(row["effect_beyond_null"]) == \
            np.sign(rows[0]["effect_beyond_null"])
        assert (row["null_q"] < 0.05) == (rows[0]["null_q"] < 0.05)
        assert abs(row["effect_beyond_null"]
                   - rows[0]["effect_beyond_null"]) < 3 * row["null_sd"] \
            / np.sqrt(min(row["null_draws"], rows[0]["null_draws"]))


def test_null_memory_is_checked_with_the_most_draws_that_fit():
    available = 5 * 2 ** 30
    with pytest.raises(ValueError, match=r"null_draws=3000000 needs about "
                                         r"\d+\.\d GiB.*5\.0 GiB is "
                                         r"available: at most (\d+) draws"
                       ) as error:
        nulls.check_permutation_memory(40, 60, 256, 3_000_000, available)
    most = int(str(error.value).split("at most ")[1].split()[0])
    nulls.check_permutation_memory(40, 60, 256, most, available)
    with pytest.raises(ValueError):
        nulls.check_permutation_memory(40, 60, 256, most + 1, available)


def test_perturb_refuses_a_null_beyond_memory_before_embedding(
        planted, monkeypatch):
    table, taxonomy, diet = planted
    monkeypatch.setattr(Engine, "embed", None)   # never reached
    with pytest.raises(ValueError, match="null_draws=1000000000 needs.*"
                                         "at most \\d+ draws fit"):
        perturb(table, taxonomy, metadata=diet, reference_group="BK",
                target_group="Western", null_draws=10 ** 9)

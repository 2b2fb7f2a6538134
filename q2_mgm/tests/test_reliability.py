"""Bad and unusual input, as a new user would give it: every case ends in
an error that names the problem (and the fix), never in a wrong answer,
a crash inside a library or an output written."""
import json
import re
import subprocess
import sys

import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
import safetensors.torch
from qiime2.plugins import mgm

from ..mgm import model as mgm_model
from ..mgm.tokens import tokenize
from . import _data
from .test_classification import data, subset_metadata  # noqa: F401
from .test_fit import minor_genera, with_genera_renamed

A = mgm.actions
FAST = {"epochs": 1, "batch_size": 8, "device": "cpu"}


# --- inputs ------------------------------------------------------------------
def table_artifact(view):
    return qiime2.Artifact.import_data("FeatureTable[Frequency]", view)


def changed_table(table, change):
    """The table with ``change(matrix)`` applied to a dense copy."""
    view = table.view(biom.Table)
    matrix = view.matrix_data.toarray()
    change(matrix)
    return table_artifact(biom.Table(matrix, view.ids("observation"),
                                     view.ids("sample")))


def set_first(value):
    def change(matrix):
        matrix[np.nonzero(matrix)[0][0], np.nonzero(matrix)[1][0]] = value
    return change


def taxonomy_artifact(series):
    return qiime2.Artifact.import_data(
        "FeatureData[Taxonomy]",
        series.rename("Taxon").rename_axis("Feature ID").to_frame())


def column(metadata, name, values=None, numeric=False):
    series = metadata.to_dataframe()[name].copy()
    if values is not None:
        series[:] = values
    cls = (qiime2.NumericMetadataColumn if numeric
           else qiime2.CategoricalMetadataColumn)
    return cls(series.astype(float) if numeric else series)


def one_unmapped_sample(table, taxonomy):
    """The first sample keeps only the first feature, whose taxonomy then
    names no genus."""
    def change(matrix):
        matrix[:, 0] = 0
        matrix[0, 0] = 1
    lineages = taxonomy.view(pd.Series).copy()
    lineages[table.view(biom.Table).ids("observation")[0]] = "k__Bacteria"
    return changed_table(table, change), taxonomy_artifact(lineages)


def renamed_metadata(metadata, name):
    frame = metadata.to_dataframe()
    frame.index = "other-" + frame.index
    return qiime2.CategoricalMetadataColumn(frame[name])


def damaged_model(tmp_path, damage, model=None):
    """A copy of a model (default: the packaged MGM) with
    ``damage(directory)`` done."""
    directory = tmp_path / "model"
    (model or A.pretrained_model()[0]).export_data(str(directory))
    damage(directory)
    return directory


_CACHE = {}


def blend_classifier():
    if "blend" not in _CACHE:
        table, taxonomy, metadata = _CACHE["data"]
        _CACHE["blend"], _ = A.fit_classifier(table, taxonomy,
                                              metadata.get_column("diet"),
                                              strategy="blend")
    return _CACHE["blend"]


@pytest.fixture(scope="module", autouse=True)
def remember(data):  # noqa: F811
    _CACHE["data"] = data


def generated_pair():
    """A generated table and taxonomy with the labels of another run."""
    from ..plugin.examples import diet_model_factory
    model = diet_model_factory()
    table, taxonomy, _ = A.generate(model=model, n_samples=2,
                                    labels=["BK", "Western"], max_length=20)
    _, _, labels = A.generate(model=model, n_samples=2, labels=["BK"],
                              max_length=20)
    return table, taxonomy, labels


def embeddings_of(table, taxonomy, change):
    """Embeddings of the first samples, as ``change(DataFrame)`` makes them
    (an artifact)."""
    return qiime2.Artifact.import_data(
        "SampleData[MGMEmbeddings]",
        change(A.embed(table, taxonomy)[0].view(pd.DataFrame).iloc[:4]))


def identical(embeddings):
    out = embeddings.copy()
    out.iloc[:] = embeddings.iloc[0].to_numpy()
    return out


def nan_weights(directory):
    path = directory / "model.safetensors"
    tensors = safetensors.torch.load_file(str(path))
    name = next(iter(tensors))
    tensors[name].view(-1)[0] = float("nan")
    safetensors.torch.save_file(tensors, str(path))
    mgm_model.write_checksums(directory)


def other_packaged_network(directory):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[mgm_model.PACKAGED_NETWORK]["model.safetensors"] = "0" * 64
    path.write_text(json.dumps(manifest))
    mgm_model.write_checksums(directory)


def manifest_kind(directory):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["kind"] = "oracle"
    path.write_text(json.dumps(manifest))


# --- the catalogue ----------------------------------------------------------
# (name, call(table, taxonomy, metadata, tmp_path), error, message)
CASES = [
    ("table with NaN", lambda t, x, m, p: A.embed(
        changed_table(t, set_first(np.nan)), x), ValueError, "NaN"),
    ("table with inf", lambda t, x, m, p: A.embed(
        changed_table(t, set_first(np.inf)), x), ValueError, "infinite"),
    ("negative count", lambda t, x, m, p: A.embed(
        changed_table(t, set_first(-3)), x), ValueError, "negative"),
    ("all-zero table", lambda t, x, m, p: A.embed(
        changed_table(t, lambda a: a.fill(0)), x), ValueError,
     "no counts"),
    ("table without samples", lambda t, x, m, p: A.attention_importance(
        table_artifact(t.view(biom.Table).filter([], inplace=False)), x),
     ValueError,
     "table is empty"),
    ("taxonomy missing features", lambda t, x, m, p: A.embed(
        t, taxonomy_artifact(x.view(pd.Series).iloc[5:])), ValueError,
     "does not cover"),
    ("taxonomy without genera", lambda t, x, m, p: A.embed(
        t, taxonomy_artifact(x.view(pd.Series).map(
            lambda s: "k__Bacteria"))), ValueError, "genus level"),
    ("one sample without a vocabulary genus", lambda t, x, m, p: A.embed(
        *one_unmapped_sample(t, x)), ValueError,
     "1 sample.*no genus of the MGM vocabulary"),
    ("a single class", lambda t, x, m, p: A.fit_classifier(
        t, x, column(m, "diet", "BK")), ValueError, "at least two classes"),
    ("samples absent from the metadata", lambda t, x, m, p: A.fit_classifier(
        t, x, qiime2.CategoricalMetadataColumn(
            m.to_dataframe()["diet"].iloc[4:])), ValueError,
     "not in the metadata"),
    ("empty labels", lambda t, x, m, p: A.fit_classifier(
        t, x, qiime2.CategoricalMetadataColumn(
            m.to_dataframe()["diet"].mask(
                np.arange(len(m.ids)) < 2))), ValueError, "no 'diet' value"),
    ("metadata of another table", lambda t, x, m, p: A.fit_classifier(
        t, x, renamed_metadata(m, "diet"), missing_samples="ignore"),
     ValueError, "do not share sample IDs"),
    ("a class of one sample", lambda t, x, m, p: A.fit_classifier(
        t, x, qiime2.CategoricalMetadataColumn(
            m.to_dataframe()["diet"].mask(
                (m.to_dataframe()["diet"] == "Western").cumsum() > 1)),
        missing_samples="ignore"), ValueError, "at least 2 samples"),
    ("numeric labels for a classifier", lambda t, x, m, p: A.fit_classifier(
        t, x, m.get_column("relativeTime")), TypeError, "relativeTime|"),
    ("categories for a regressor", lambda t, x, m, p: A.fit_regressor(
        t, x, m.get_column("diet")), TypeError, "diet|"),
    ("a constant to regress", lambda t, x, m, p: A.fit_regressor(
        t, x, column(m, "relativeTime", 5.0, numeric=True)), ValueError,
     "same 'relativeTime' value"),
    ("too few values to regress", lambda t, x, m, p: A.fit_regressor(
        t, x, qiime2.NumericMetadataColumn(
            m.to_dataframe()["relativeTime"].astype(float).iloc[:4]),
        missing_samples="ignore"), ValueError, "at least 6 samples"),
    ("test set smaller than the classes", lambda t, x, m, p:
     A.classify_samples(t, x, m.get_column("diet"), test_size=0.01),
     ValueError, "test_size"),
    ("more folds than samples per class", lambda t, x, m, p:
     A.classify_samples_cv(t, x, m.get_column("diet"), cv=20), ValueError,
     "at least 20"),
    ("more folds than subjects", lambda t, x, m, p: A.classify_samples_cv(
        t, x, m.get_column("diet"), groups=m.get_column("mouseID"), cv=8),
     ValueError, "groups per class"),
    ("subjects missing for some samples", lambda t, x, m, p:
     A.fit_classifier(t, x, m.get_column("diet"),
                      groups=qiime2.CategoricalMetadataColumn(
                          m.to_dataframe()["mouseID"].mask(
                              np.arange(len(m.ids)) < 3))),
     ValueError, "no 'mouseID' value"),
    ("regression folds with too few subjects", lambda t, x, m, p:
     A.regress_samples_cv(t, x, m.get_column("relativeTime"),
                          groups=m.get_column("mouseID"), cv=30),
     ValueError, "30 'mouseID' groups, but there are"),
    ("a pretrained model to predict", lambda t, x, m, p:
     A.predict_classification(t, x, A.pretrained_model()[0]), TypeError,
     "Pretrained|"),
    ("a classifier to regress", lambda t, x, m, p: A.predict_regression(
        t, x, blend_classifier()), TypeError, "Classifier|"),
    ("a model file missing", lambda t, x, m, p: mgm_model.load(
        damaged_model(p, lambda d: (d / "vocabulary.txt").unlink())),
     mgm_model.ModelError, "missing vocabulary.txt"),
    ("weights changed on disk", lambda t, x, m, p: mgm_model.load(
        damaged_model(p, lambda d: (d / "model.safetensors").write_bytes(
            (d / "model.safetensors").read_bytes()[:-8] + bytes(8)))),
     mgm_model.ModelError, "checksum"),
    ("NaN weights", lambda t, x, m, p: mgm_model.load(
        damaged_model(p, nan_weights)), mgm_model.ModelError,
     "infinite or NaN"),
    ("unknown model kind", lambda t, x, m, p: mgm_model.load(
        damaged_model(p, lambda d: (manifest_kind(d), (
            d / "SHA256SUMS").unlink()))), mgm_model.ModelError, "kind"),
    ("estimators missing", lambda t, x, m, p: mgm_model.load(
        damaged_model(p, lambda d: ((d / "heads.safetensors").unlink(),
                                    (d / "SHA256SUMS").unlink()),
                      blend_classifier())),
     mgm_model.ModelError, "heads.safetensors is missing"),
    ("made on other packaged weights", lambda t, x, m, p: mgm_model.load(
        damaged_model(p, other_packaged_network, blend_classifier())),
     mgm_model.ModelError, "packaged with another q2-mgm"),
    ("diverging fine-tuning", lambda t, x, m, p: A.fit_classifier(
        t, x, m.get_column("diet"), strategy="fine-tune",
        learning_rate=1e6, **{**FAST, "epochs": 3}), ValueError,
     "diverged.*Lower the learning rate"),
    ("diverging pre-training", lambda t, x, m, p: A.pretrain(
        t, x, learning_rate=1e7, epochs=3), ValueError, "diverged"),
    ("perturbing toward the same group", lambda t, x, m, p: A.perturb(
        t, x, m.get_column("diet"), reference_group="BK",
        target_group="BK"), ValueError, "the same"),
    ("perturbing an absent group", lambda t, x, m, p: A.perturb(
        t, x, m.get_column("diet"), reference_group="BK",
        target_group="Chow"), ValueError, "has no sample"),
    ("perturbing an unknown genus", lambda t, x, m, p: A.perturb(
        t, x, m.get_column("diet"), reference_group="BK",
        target_group="Western", genera=["Notagenus"]), ValueError,
     "Not genera of the MGM vocabulary"),
    ("attention for metadata of another table", lambda t, x, m, p:
     A.attention_importance(t, x, metadata=renamed_metadata(m, "diet")),
     ValueError, "No sample of the table"),
    ("attention groups of one value", lambda t, x, m, p:
     A.keystone_summary(t, x, column(m, "diet", "BK")), ValueError,
     "only one group"),
    ("leaving out an unknown genus", lambda t, x, m, p:
     A.leave_one_genus_out(t, x, genera=["g__Notagenus"]), ValueError,
     "Not genera"),
    ("generating a label the model lacks", lambda t, x, m, p: A.generate(
        labels=["BK"], n_samples=2), ValueError, "not labels of this model"),
    ("generating with a classifier", lambda t, x, m, p: A.generate(
        model=blend_classifier()), TypeError, "Classifier|"),
    ("generated labels of another run", lambda t, x, m, p:
     A.generation_summary(t, x, *generated_pair(), metadata=column(
         m, "diet")), ValueError, "do not belong together"),
    ("distances between one sample", lambda t, x, m, p:
     A.embedding_distance(qiime2.Artifact.import_data(
         "SampleData[MGMEmbeddings]",
         A.embed(t, x)[0].view(pd.DataFrame).iloc[:1])), ValueError,
     "At least two"),
    ("a comma in a sample ID", lambda t, x, m, p: A.embedding_distance(
        qiime2.Artifact.import_data(
            "SampleData[MGMEmbeddings]",
            A.embed(t, x)[0].view(pd.DataFrame).rename(
                lambda i: i.replace(":", ","))[:3])), ValueError, "comma"),
    ("PCoA of two samples", lambda t, x, m, p: A.embedding_pcoa(
        qiime2.Artifact.import_data(
            "SampleData[MGMEmbeddings]",
            A.embed(t, x)[0].view(pd.DataFrame).iloc[:2])), ValueError,
     "At least three"),
    ("a predictor applied to a table of other genera", lambda t, x, m, p:
     A.predict_classification(t, with_genera_renamed(t, x),
                              blend_classifier()), ValueError,
     r"36 sample\(s\) have none of the \d+ genera this predictor.*same "
     "reference database"),
    ("a regressor applied to a table of other genera", lambda t, x, m, p:
     A.predict_regression(t, with_genera_renamed(t, x), A.fit_regressor(
         t, x, m.get_column("relativeTime"))[0]), ValueError,
     "none of the .* genera this predictor"),
    ("a regression target that overflows", lambda t, x, m, p:
     A.fit_regressor(t, x, qiime2.NumericMetadataColumn(
         m.to_dataframe()["relativeTime"].astype(float) * 1e300)),
     ValueError, r"beyond 1e\+100.*Rescale the column"),
    ("a sample ID with a leading space", lambda t, x, m, p:
     A.embedding_distance(embeddings_of(t, x, lambda e: e.rename(
         lambda i: " " + i)[:3])), ValueError,
     "begin or end with a space.*Rename those samples"),
    ("a PCoA of identical samples", lambda t, x, m, p: A.embedding_pcoa(
        embeddings_of(t, x, identical)), ValueError,
     "same embedding.*no axis"),
    ("a summary of a pretrained model", lambda t, x, m, p:
     A.summarize_training(A.pretrained_model()[0]), TypeError,
     "Pretrained|"),
    ("a misspelt genus in a list", lambda t, x, m, p: A.perturb(
        t, x, m.get_column("diet"), reference_group="BK",
        target_group="Western", genera=["Bacteroides,Prevotela"]),
     ValueError, r"Prevotela \(closest genera present: Prevotella"),
    ("a lineage naming no genus", lambda t, x, m, p: A.leave_one_genus_out(
        t, x, genera=["k__Bacteria; p__Firmicutes; c__Clostridia"]),
     ValueError, "Not genera of the MGM vocabulary: k__Bacteria"),
    ("a perturbation null beyond memory", lambda t, x, m, p: A.perturb(
        t, x, m.get_column("diet"), reference_group="BK",
        target_group="Western", null_draws=10 ** 9), ValueError,
     r"null_draws=1000000000 needs about .* at most \d+ draws fit"),
    ("predicting after dropping every sample", lambda t, x, m, p:
     A.predict_classification(t, with_genera_renamed(t, x),
                              blend_classifier(), drop_unmapped=True),
     ValueError, "No sample is left to predict"),
    ("a regression test set of 2 samples", lambda t, x, m, p:
     A.regress_samples(t, x, m.get_column("relativeTime"), test_size=0.05,
                       **FAST), ValueError,
     "test_size=0.05 puts 2 of 36 samples.*at least 5 test samples"),
]


def two_genus_table(table, taxonomy):
    """The table's reads of Bacteroides and Prevotella only."""
    lineages = taxonomy.view(pd.Series)
    keep = [f for f in table.view(biom.Table).ids("observation")
            if re.search(r"g__(Bacteroides|Prevotella)(;|$)",
                         lineages[f].replace(" ", ""))]
    view = table.view(biom.Table).filter(keep, axis="observation",
                                         inplace=False)
    return table_artifact(view.remove_empty(axis="sample", inplace=False))


def outlier_column(metadata):
    values = metadata.to_dataframe()["relativeTime"].astype(float)
    values.iloc[0] = values.median() * 1000
    return qiime2.NumericMetadataColumn(values)


def a_group_only_unmapped(table, taxonomy, metadata):
    """Three groups, one of which holds only reads of no genus."""
    groups = metadata.to_dataframe()["diet"].copy()
    groups.iloc[:4] = "Lost"
    view = table.view(biom.Table)
    lineages = taxonomy.view(pd.Series).copy()
    lineages["unassigned-feature"] = "Unassigned"
    matrix = view.matrix_data.toarray()
    lost = np.isin(view.ids("sample"), groups.index[:4])
    matrix[:, lost] = 0
    matrix = np.vstack([matrix, np.where(lost, 100.0, 0.0)])
    table = table_artifact(biom.Table(
        matrix, list(view.ids("observation")) + ["unassigned-feature"],
        view.ids("sample")))
    return table, taxonomy_artifact(lineages), \
        qiime2.CategoricalMetadataColumn(groups)


def attention_of_lost(table, taxonomy, metadata):
    """The statistics columns of attention-importance by group, with a
    group that ``drop_unmapped`` removes whole."""
    table, taxonomy, groups = a_group_only_unmapped(table, taxonomy, metadata)
    statistics = A.attention_importance(table, taxonomy, metadata=groups,
                                        drop_unmapped=True)[1]
    return list(statistics.view(pd.DataFrame).columns)


def mostly_unassigned(table, taxonomy):
    """Each sample with 99 times its reads added as 'Unassigned'."""
    view = table.view(biom.Table)
    matrix = view.matrix_data.toarray()
    lineages = taxonomy.view(pd.Series).copy()
    lineages["unassigned-feature"] = "Unassigned"
    return (table_artifact(biom.Table(
        np.vstack([matrix, 99 * matrix.sum(0)]),
        list(view.ids("observation")) + ["unassigned-feature"],
        view.ids("sample"))), taxonomy_artifact(lineages))


def fit_of_mostly_unassigned(table, taxonomy):
    fit = A.predict_classification(*mostly_unassigned(table, taxonomy),
                                   blend_classifier()).predictor_fit.view(
        pd.DataFrame)
    return (fit["fit"] == "poor").all() and "fits this predictor poorly" \
        in fit.attrs["warning"]


def alternating_genera(table):
    """The table's samples holding Bacteroides and Prevotella by turns, so
    that no genus is in every sample of a group."""
    samples = table.view(biom.Table).ids("sample")
    turn = np.arange(len(samples)) % 2
    return (table_artifact(biom.Table(
        np.vstack([10.0 * (turn == 0), 10.0 * (turn == 1)]), ["b", "p"],
        samples)), taxonomy_artifact(pd.Series(
            {"b": "k__Bacteria; g__Bacteroides",
             "p": "k__Bacteria; g__Prevotella"})))


def page_of(visualization, tmp_path):
    visualization.export_data(str(tmp_path / "page"))
    return " ".join((tmp_path / "page" / "index.html").read_text().split())


# (name, call(table, taxonomy, metadata, tmp_path), the statement it makes)
# Unusual input that is no error but must be said in the output.
STATED = [
    ("a null from a two-genus table", lambda t, x, m, p:
     A.leave_one_genus_out(two_genus_table(t, x), x, top_n=0)[0].view(
         pd.DataFrame)["null_draws"].eq(0).all(), "have no null"),
    ("a target 1000 times the median", lambda t, x, m, p:
     A.fit_regressor(t, x, outlier_column(m))[0] is not None,
     "far outside the rest"),
    ("keystones where no genus is in every sample", lambda t, x, m, p:
     "nothing to rank" in page_of(A.keystone_summary(
         *alternating_genera(t), m.get_column("diet"),
         min_prevalence=1.0)[0], p), "nothing to rank"),
    ("a table of 99% unassigned reads", lambda t, x, m, p:
     fit_of_mostly_unassigned(t, x), "fits this predictor poorly"),
    ("drop_unmapped removing a whole group", lambda t, x, m, p:
     "every sample of the group(s) &#39;Lost&#39;" in page_of(
         A.keystone_summary(*a_group_only_unmapped(t, x, m),
                            drop_unmapped=True)[0], p),
     "every sample of the group"),
    ("drop_unmapped removing a whole group of attention importance",
     lambda t, x, m, p: "importance:Lost" not in attention_of_lost(t, x, m),
     "every sample of the group(s) 'Lost'"),
]


@pytest.mark.parametrize("name,call,statement", STATED,
                         ids=[c[0] for c in STATED])
def test_unusual_input_is_stated(data, tmp_path, name, call,  # noqa: F811
                                 statement):
    table, taxonomy, metadata = data
    with pytest.warns(UserWarning, match=re.escape(statement)):
        assert call(table, taxonomy, metadata, tmp_path)


@pytest.mark.parametrize("name,call,error,message", CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_named(data, tmp_path, name, call, error,  # noqa: F811
                            message):
    table, taxonomy, metadata = data
    with pytest.raises(error, match=message):
        call(table, taxonomy, metadata, tmp_path)


def test_the_catalogue_is_large():
    assert len(CASES) >= 53 and len(STATED) >= 4


def test_tokens_come_only_from_their_own_sample():
    """Random finite tables with random zero patterns: every sentence holds
    exactly the vocabulary genera its own sample has, once each."""
    vocabulary = _data.pretrained().vocabulary
    rng = np.random.default_rng(7)
    genera = np.array(vocabulary.genus_tokens[:400])
    for trial in range(20):
        n_samples, n_features = rng.integers(1, 30), rng.integers(1, 60)
        chosen = rng.choice(len(genera), n_features, replace=False)
        counts = rng.lognormal(2, 3, (n_features, n_samples))
        counts[rng.random(counts.shape) < rng.random()] = 0
        counts[:, 0] = 0
        counts[0, 0] = 1  # every sample has a genus
        features = [f"F{i}" for i in range(n_features)]
        table = biom.Table(counts, features,
                           [f"S{j}" for j in range(n_samples)])
        taxonomy = pd.Series([f"k__Bacteria; {g}" for g in genera[chosen]],
                             index=features)
        sentences, dropped = tokenize(table, taxonomy, vocabulary,
                                      drop_unmapped=True)
        for i, sample in enumerate(sentences.sample_ids):
            column = counts[:, table.index(sample, "sample")]
            own = {vocabulary.token_id(genera[chosen[f]])
                   for f in np.flatnonzero(column > 0)}
            body = list(sentences.sentence(i)[1:-1])
            assert set(body) == own and len(body) == len(own), trial


# --- the command line -------------------------------------------------------
def qiime(*args):
    return subprocess.run([sys.executable, "-m", "q2cli", *args],
                          capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("action,column,extra,message", [
    ("classify-samples-cv", "diet", ["--p-cv", "20"], "at least 20"),
    ("fit-regressor", "diet", [], "not a column|numeric|Numeric"),
    ("fit-classifier", "no-such-column", [], "no-such-column"),
])
def test_cli_bad_input_writes_nothing(data, tmp_path, action,  # noqa: F811
                                      column, extra, message):
    table, taxonomy, metadata = data
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    metadata.save(str(tmp_path / "metadata.tsv"))
    out = tmp_path / "out"
    run = qiime("mgm", action, "--i-table", str(tmp_path / "table.qza"),
                "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
                "--m-metadata-file", str(tmp_path / "metadata.tsv"),
                "--m-metadata-column", column, *extra,
                "--output-dir", str(out))
    assert run.returncode != 0
    assert re.search(message, run.stderr), run.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_cli_predictor_fit(data, tmp_path):  # noqa: F811
    """A table of other genera is refused; one sharing few genera is
    predicted with its warning atop the predictor fit output."""
    table, taxonomy, _ = data
    table.save(str(tmp_path / "table.qza"))
    blend_classifier().save(str(tmp_path / "classifier.qza"))
    with_genera_renamed(table, taxonomy).save(str(tmp_path / "other.qza"))
    with_genera_renamed(table, taxonomy, minor_genera(table, taxonomy, 7)
                        ).save(str(tmp_path / "few.qza"))

    def predict(lineages, out):
        return qiime("mgm", "predict-classification",
                     "--i-table", str(tmp_path / "table.qza"),
                     "--i-taxonomy", str(tmp_path / lineages),
                     "--i-model", str(tmp_path / "classifier.qza"),
                     "--output-dir", str(tmp_path / out))
    run = predict("other.qza", "refused")
    assert run.returncode != 0
    assert re.search("none of the .* genera this predictor.*same reference "
                     "database", " ".join(run.stderr.split())), run.stderr
    assert not (tmp_path / "refused").exists()
    run = predict("few.qza", "poor")
    assert run.returncode == 0, run.stderr
    # shown without --verbose, after the command's own output
    assert "Warning from q2-mgm: The table fits this predictor poorly" in \
        run.stderr, run.stderr
    fit = qiime2.Artifact.load(str(tmp_path / "poor" / "predictor_fit.qza"))
    assert fit.view(pd.DataFrame).attrs["warning"].startswith(
        "The table fits this predictor poorly")
    # and kept in what `qiime metadata tabulate` shows
    shown = fit.view(qiime2.Metadata).to_dataframe()
    assert shown["table warning"].str.startswith(
        "The table fits this predictor poorly").all()


@pytest.mark.slow
@pytest.mark.parametrize("action,genera", [   # every form: test_interpretation
    ("perturb", ["Bacteroides,Prevotella"]),
    ("leave-one-genus-out", ["g__Bacteroides; g__Prevotella"]),
])
def test_cli_genus_lists_name_every_genus(data, tmp_path,  # noqa: F811
                                          action, genera):
    table, taxonomy, metadata = data
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    metadata.save(str(tmp_path / "metadata.tsv"))
    extra = (["--m-metadata-file", str(tmp_path / "metadata.tsv"),
              "--m-metadata-column", "diet", "--p-reference-group", "BK",
              "--p-target-group", "Western", "--p-modes", "delete"]
             if action == "perturb" else [])
    run = qiime("mgm", action, "--i-table", str(tmp_path / "table.qza"),
                "--i-taxonomy", str(tmp_path / "taxonomy.qza"), *extra,
                *[arg for g in genera for arg in ("--p-genera", g)],
                "--o-effects", str(tmp_path / "effects.qza"),
                *(["--o-importance", str(tmp_path / "importance.qza")]
                  if action == "leave-one-genus-out" else []))
    assert run.returncode == 0, run.stderr
    effects = qiime2.Artifact.load(str(tmp_path / "effects.qza")).view(
        pd.DataFrame)
    column = effects["genus"] if action == "perturb" else effects.index
    assert sorted(set(column)) == ["g__Bacteroides", "g__Prevotella"]


@pytest.mark.slow
def test_cli_misspelt_genus_names_the_closest(data, tmp_path):  # noqa: F811
    table, taxonomy, _ = data
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    run = qiime("mgm", "leave-one-genus-out",
                "--i-table", str(tmp_path / "table.qza"),
                "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
                "--p-genera", "Bacteroides,Prevotela",
                "--o-effects", str(tmp_path / "effects.qza"),
                "--o-importance", str(tmp_path / "importance.qza"))
    assert run.returncode != 0
    assert "Prevotela (closest genera present: Prevotella" in " ".join(
        run.stderr.split()), run.stderr
    assert not (tmp_path / "effects.qza").exists()


def test_regression_does_not_depend_on_the_unit(data):  # noqa: F811
    """A forest fitted on days, hours or seconds predicts the same values,
    rescaled, within float noise."""
    table, taxonomy, metadata = data
    days = metadata.to_dataframe()["relativeTime"].astype(float)
    predicted = {}
    for unit, factor in (("days", 1), ("hours", 24), ("seconds", 86400)):
        model, = A.fit_regressor(table, taxonomy, qiime2.NumericMetadataColumn(
            (days * factor).rename(f"time_{unit}")))[:1]
        values = A.predict_regression(table, taxonomy, model)[0]
        predicted[unit] = values.view(pd.Series) / factor
    assert predicted["days"].std() > 0
    for unit in ("hours", "seconds"):
        assert np.allclose(predicted[unit], predicted["days"], rtol=1e-9,
                           atol=0)

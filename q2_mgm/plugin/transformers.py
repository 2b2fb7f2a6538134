"""Transformers between q2-mgm formats and Python views."""
import itertools

import pandas as pd
import qiime2

from ..mgm import fit
from ..mgm import model as mgm_model
from .formats import (AttentionStatisticsFormat, EmbeddingsFormat,
                      GenerationLabelsFormat, write_embeddings,
                      MGMModelDirectoryFormat, PerturbationEffectsFormat,
                      PredictorFitFormat, RemovalEffectsFormat)
from ..plugin_setup import plugin


@plugin.register_transformer
def _1(fmt: MGMModelDirectoryFormat) -> mgm_model.MGMModel:
    return mgm_model.load(str(fmt.path))


@plugin.register_transformer
def _2(data: mgm_model.MGMModel) -> MGMModelDirectoryFormat:
    fmt = MGMModelDirectoryFormat()
    mgm_model.save(data, str(fmt.path))
    return fmt


def _read_embeddings(fmt):
    df = pd.read_csv(str(fmt), sep="\t", index_col=0, dtype={0: str})
    df.index = df.index.astype(str)
    df.index.name = "sample-id"
    return df.astype(float)


@plugin.register_transformer
def _3(data: pd.DataFrame) -> EmbeddingsFormat:
    fmt = EmbeddingsFormat()
    with fmt.open() as handle:
        write_embeddings(data, handle)
    return fmt


@plugin.register_transformer
def _4(fmt: EmbeddingsFormat) -> pd.DataFrame:
    return _read_embeddings(fmt)


@plugin.register_transformer
def _5(fmt: EmbeddingsFormat) -> qiime2.Metadata:
    return qiime2.Metadata(_read_embeddings(fmt))


def _read_effects(fmt):
    df = pd.read_csv(str(fmt), sep="\t", index_col=0,
                     dtype={"id": str, "genus": str, "mode": str})
    df.index.name = "id"
    return df


@plugin.register_transformer
def _6(data: pd.DataFrame) -> PerturbationEffectsFormat:
    fmt = PerturbationEffectsFormat()
    data.to_csv(str(fmt), sep="\t", index_label="id", float_format="%.9g")
    return fmt


@plugin.register_transformer
def _7(fmt: PerturbationEffectsFormat) -> pd.DataFrame:
    return _read_effects(fmt)


@plugin.register_transformer
def _8(fmt: PerturbationEffectsFormat) -> qiime2.Metadata:
    return qiime2.Metadata(_read_effects(fmt))


def _read_labels(fmt):
    series = pd.read_csv(str(fmt), sep="\t", index_col=0,
                         dtype=str)["label"]
    series.index.name = "sample-id"
    return series


@plugin.register_transformer
def _9(data: pd.Series) -> GenerationLabelsFormat:
    fmt = GenerationLabelsFormat()
    data.rename("label").rename_axis("sample-id").to_csv(str(fmt), sep="\t")
    return fmt


@plugin.register_transformer
def _10(fmt: GenerationLabelsFormat) -> pd.Series:
    return _read_labels(fmt)


@plugin.register_transformer
def _11(fmt: GenerationLabelsFormat) -> qiime2.Metadata:
    return qiime2.Metadata(_read_labels(fmt).to_frame())


def _read_fit(fmt):
    with fmt.open() as fh:
        notes = [line[1:].strip() for line in itertools.takewhile(
            lambda line: line.startswith("#"), fh)]
    df = pd.read_csv(str(fmt), sep="\t", index_col=0, skiprows=len(notes),
                     dtype={"sample-id": str, fit.VERDICT: str})
    df.index.name = "sample-id"
    if notes:
        df.attrs["warning"] = " ".join(notes)
    return df


@plugin.register_transformer
def _12(data: pd.DataFrame) -> PredictorFitFormat:
    fmt = PredictorFitFormat()
    with fmt.open() as handle:
        if data.attrs.get("warning"):
            handle.write(f"# {data.attrs['warning']}\n")
        data.rename_axis("sample-id").to_csv(handle, sep="\t",
                                             float_format="%.6g")
    return fmt


@plugin.register_transformer
def _13(fmt: PredictorFitFormat) -> pd.DataFrame:
    return _read_fit(fmt)


@plugin.register_transformer
def _14(fmt: PredictorFitFormat) -> qiime2.Metadata:
    """The warning of a table that fits poorly becomes a column, so that
    `qiime metadata tabulate` shows it."""
    frame = _read_fit(fmt)
    if frame.attrs.get("warning"):
        frame = frame.assign(**{"table warning": frame.attrs["warning"]})
    return qiime2.Metadata(frame)


def _write_genus_statistics(data, fmt):
    data.to_csv(str(fmt), sep="\t", index_label="genus", na_rep="nan",
                float_format="%.9g")
    return fmt


def _read_genus_statistics(fmt):
    df = pd.read_csv(str(fmt), sep="\t", index_col=0, dtype={"genus": str})
    df.index.name = "genus"
    return df


def _genus_metadata(fmt):
    return qiime2.Metadata(
        _read_genus_statistics(fmt).rename_axis("feature-id"))


@plugin.register_transformer
def _15(data: pd.DataFrame) -> RemovalEffectsFormat:
    return _write_genus_statistics(data, RemovalEffectsFormat())


@plugin.register_transformer
def _16(fmt: RemovalEffectsFormat) -> pd.DataFrame:
    return _read_genus_statistics(fmt)


@plugin.register_transformer
def _17(fmt: RemovalEffectsFormat) -> qiime2.Metadata:
    return _genus_metadata(fmt)


@plugin.register_transformer
def _18(data: pd.DataFrame) -> AttentionStatisticsFormat:
    return _write_genus_statistics(data, AttentionStatisticsFormat())


@plugin.register_transformer
def _19(fmt: AttentionStatisticsFormat) -> pd.DataFrame:
    return _read_genus_statistics(fmt)


@plugin.register_transformer
def _20(fmt: AttentionStatisticsFormat) -> qiime2.Metadata:
    return _genus_metadata(fmt)

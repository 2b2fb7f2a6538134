"""Transformers between q2-mgm formats and Python views."""
import pandas as pd
import qiime2

from . import model as mgm_model
from ._formats import EmbeddingsFormat, MGMModelDirectoryFormat
from .plugin_setup import plugin


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
    out = data.copy()
    out.index.name = "sample-id"
    out.to_csv(str(fmt), sep="\t", float_format="%.9g")
    return fmt


@plugin.register_transformer
def _4(fmt: EmbeddingsFormat) -> pd.DataFrame:
    return _read_embeddings(fmt)


@plugin.register_transformer
def _5(fmt: EmbeddingsFormat) -> qiime2.Metadata:
    return qiime2.Metadata(_read_embeddings(fmt))

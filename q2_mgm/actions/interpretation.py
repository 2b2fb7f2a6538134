"""Actions: attention importance, in-silico perturbation and
leave-one-genus-out."""
import biom
import pandas as pd
import qiime2

from q2_types.feature_table import BIOMV210Format

from ..mgm import interpretation as interpret
from ..mgm import model as mgm_model
from ..mgm import tables
from ..mgm.engine import Engine
from .common import (categorical_labels, chunked_sentences,
                     model_or_pretrained, prepare)


def attention_importance(
        table: BIOMV210Format, taxonomy: pd.Series,
        model: mgm_model.MGMModel = None,
        metadata: qiime2.CategoricalMetadataColumn = None,
        drop_unmapped: bool = False, batch_size: int = 64,
        device: str = "auto", threads: int = 0,
        precision: str = "float32") -> pd.DataFrame:
    """Streams: the table is read a chunk of samples at a time and only
    running sums per genus are kept."""
    model = model_or_pretrained(model)
    groups = None if metadata is None else categorical_labels(
        tables.sample_ids(str(table)), metadata)
    engine = Engine(model, device=device, batch_size=batch_size,
                    threads=threads, precision=precision)
    totals = interpret.AttentionTotals(model.vocabulary)
    for sentences in chunked_sentences(
            str(table), taxonomy, model, drop_unmapped,
            None if groups is None else groups.index):
        totals.add(interpret.attention(engine, sentences, model.vocabulary),
                   groups)
    return totals.importance()


# perturb --------------------------------------------------------------------

def _reference_centroid(engine, sentences, groups, reference_group, pooling):
    members = groups.index[groups == reference_group]
    return engine.embed(sentences.select(members), pooling=pooling).mean(0)


def perturb(table: biom.Table, taxonomy: pd.Series,
            metadata: qiime2.CategoricalMetadataColumn,
            reference_group: str, target_group: str,
            model: mgm_model.MGMModel = None, genera: list = None,
            top_n: int = 20, modes: list = None, pooling: str = "auto",
            drop_unmapped: bool = False, batch_size: int = 64,
            device: str = "auto", threads: int = 0,
            precision: str = "float32") -> pd.DataFrame:
    if reference_group == target_group:
        raise ValueError("reference_group and target_group are the same "
                         f"({reference_group!r}); choose two groups.")
    modes = list(dict.fromkeys(modes or interpret.MODES))
    model, sentences, groups, engine = prepare(
        table, taxonomy, model, metadata, drop_unmapped, batch_size, device,
        threads, precision)
    interpret.check_groups(groups, metadata.name, reference_group,
                           target_group)
    pooling = model.default_pooling if pooling == "auto" else pooling
    target = sentences.select(groups.index[groups == target_group])
    chosen = interpret.choose_genera(
        target, model.vocabulary, genera, top_n,
        f"of the target group {target_group!r}")
    centroid = _reference_centroid(engine, sentences, groups,
                                   reference_group, pooling)
    similarities = interpret.perturbation_similarities(
        engine, target, [model.vocabulary.token_id(g) for g in chosen],
        modes, centroid, pooling)
    effects = interpret.summarize_effects(similarities, model.vocabulary)
    return effects.assign(
        metadata_column=metadata.name, reference_group=reference_group,
        target_group=target_group,
        reference_samples=int((groups == reference_group).sum()),
        target_samples=len(target), pooling=pooling, model_kind=model.kind)


# leave-one-genus-out -------------------------------------------------------

def leave_one_genus_out(
        table: biom.Table, taxonomy: pd.Series,
        model: mgm_model.MGMModel = None, genera: list = None,
        top_n: int = 50, pooling: str = "auto", drop_unmapped: bool = False,
        batch_size: int = 64, device: str = "auto",
        threads: int = 0, precision: str = "float32") -> pd.DataFrame:
    model, sentences, _, engine = prepare(
        table, taxonomy, model, None, drop_unmapped, batch_size, device,
        threads, precision)
    pooling = model.default_pooling if pooling == "auto" else pooling
    chosen = interpret.choose_genera(sentences, model.vocabulary, genera,
                                     top_n or None, "of the table")
    similarities = interpret.removal_similarities(
        engine, sentences, [model.vocabulary.token_id(g) for g in chosen],
        pooling)
    return interpret.summarize_removals(similarities, model.vocabulary,
                                        len(sentences))

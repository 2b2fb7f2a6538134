"""Actions: attention importance, in-silico perturbation and
leave-one-genus-out."""
import numpy as np
import pandas as pd
import qiime2
from q2_types.feature_table import BIOMV210Format

from ..mgm import interpretation as interpret
from ..mgm import model as mgm_model
from ..mgm import tables
from ..mgm.engine import Engine
from .common import (categorical_labels, chunked_sentences,
                     model_or_pretrained)


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

def perturb(table: BIOMV210Format, taxonomy: pd.Series,
            metadata: qiime2.CategoricalMetadataColumn,
            reference_group: str, target_group: str,
            model: mgm_model.MGMModel = None, genera: list = None,
            top_n: int = 20, modes: list = None, pooling: str = "auto",
            drop_unmapped: bool = False, batch_size: int = 64,
            device: str = "auto", threads: int = 0,
            precision: str = "float32") -> pd.DataFrame:
    """Streams: two passes over the table a chunk of samples at a time,
    one for the reference centroid and the target's prevalence, one for
    the perturbations."""
    if reference_group == target_group:
        raise ValueError("reference_group and target_group are the same "
                         f"({reference_group!r}); choose two groups.")
    modes = list(dict.fromkeys(modes or interpret.MODES))
    model = model_or_pretrained(model)
    path = str(table)
    groups = categorical_labels(tables.sample_ids(path), metadata)
    interpret.check_groups(groups, metadata.name, reference_group,
                           target_group)
    engine = Engine(model, device=device, batch_size=batch_size,
                    threads=threads, precision=precision)
    pooling = model.default_pooling if pooling == "auto" else pooling
    compared = groups[groups.isin([reference_group, target_group])]
    found, total = [], 0.0
    prevalence = interpret.Prevalence(model.vocabulary)
    for sentences in chunked_sentences(path, taxonomy, model, drop_unmapped,
                                       compared.index):
        labels = compared.reindex(sentences.sample_ids)
        found.append(labels)
        reference = sentences.select(labels.index[labels == reference_group])
        if len(reference):
            total = total + engine.embed(reference, pooling).sum(
                0, dtype=np.float64)
        prevalence.add(sentences.select(
            labels.index[labels == target_group]))
    found = pd.concat(found)
    interpret.check_groups(found, metadata.name, reference_group,
                           target_group)
    centroid = (total / (found == reference_group).sum()).astype(np.float32)
    chosen = interpret.choose_genera(
        prevalence.series(), model.vocabulary, genera, top_n,
        f"of the target group {target_group!r}")
    similarities = _per_chunk(
        path, taxonomy, model, found.index[found == target_group],
        lambda target: interpret.perturbation_similarities(
            engine, target, [model.vocabulary.token_id(g) for g in chosen],
            modes, centroid, pooling))
    effects = interpret.summarize_effects(similarities, model.vocabulary)
    return effects.assign(
        metadata_column=metadata.name, reference_group=reference_group,
        target_group=target_group,
        reference_samples=int((found == reference_group).sum()),
        target_samples=prevalence.sentences, pooling=pooling,
        model_kind=model.kind)


def _per_chunk(path, taxonomy, model, samples, compute):
    """``compute(sentences)`` of each chunk of ``samples`` (tokenized
    already, so none is dropped again), one long DataFrame whose
    ``sample`` column counts over all chunks."""
    frames, done = [], 0
    for sentences in chunked_sentences(path, taxonomy, model, True, samples):
        frame = compute(sentences)
        frames.append(frame.assign(sample=frame["sample"] + done))
        done += len(sentences)
    return pd.concat(frames, ignore_index=True)


# leave-one-genus-out -------------------------------------------------------

def leave_one_genus_out(
        table: BIOMV210Format, taxonomy: pd.Series,
        model: mgm_model.MGMModel = None, genera: list = None,
        top_n: int = 50, pooling: str = "auto", drop_unmapped: bool = False,
        batch_size: int = 64, device: str = "auto",
        threads: int = 0, precision: str = "float32") -> pd.DataFrame:
    """Streams: two passes over the table a chunk of samples at a time,
    one for the genera's prevalence, one for the removals."""
    model = model_or_pretrained(model)
    path = str(table)
    prevalence, kept = interpret.Prevalence(model.vocabulary), []
    for sentences in chunked_sentences(path, taxonomy, model, drop_unmapped):
        prevalence.add(sentences)
        kept.append(sentences.sample_ids)
    engine = Engine(model, device=device, batch_size=batch_size,
                    threads=threads, precision=precision)
    pooling = model.default_pooling if pooling == "auto" else pooling
    chosen = interpret.choose_genera(prevalence.series(), model.vocabulary,
                                     genera, top_n or None, "of the table")
    similarities = _per_chunk(
        path, taxonomy, model, np.concatenate(kept),
        lambda sentences: interpret.removal_similarities(
            engine, sentences,
            [model.vocabulary.token_id(g) for g in chosen], pooling))
    return interpret.summarize_removals(similarities, model.vocabulary,
                                        prevalence.sentences)

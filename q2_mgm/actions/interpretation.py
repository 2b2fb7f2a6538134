"""Actions: attention importance, in-silico perturbation and
leave-one-genus-out."""
import numpy as np
import pandas as pd
import qiime2
from q2_types.feature_table import BIOMV210Format

from ..mgm import interpretation as interpret
from ..mgm import nulls
from ..mgm import model as mgm_model
from ..mgm import tables
from ..mgm.engine import Engine
from ..mgm.progress import Progress
from ..mgm.statistics import draws_for
from .common import (categorical_labels, chunked_sentences, lost_groups,
                     model_or_pretrained, notice)


def _one_score(score):
    """A ``FeatureData[Importance]`` view: one ``importance`` column,
    highest first (NaN last)."""
    return score.rename("importance").sort_values(
        ascending=False, kind="stable").to_frame().rename_axis("genus")


def attention_importance(
        table: BIOMV210Format, taxonomy: pd.Series,
        model: mgm_model.MGMModel = None,
        metadata: qiime2.CategoricalMetadataColumn = None,
        drop_unmapped: bool = False, batch_size: int = 64,
        device: str = "auto", threads: int = 0,
        precision: str = "float32") -> (pd.DataFrame, pd.DataFrame):
    """``(importance, statistics)``: the mean of the ``importance``
    columns of ``statistics`` alone, so that other plugins rank genera by
    attention and not by attention plus prevalence. Streams: the table is
    read a chunk of samples at a time and only running sums per genus are
    kept."""
    model = model_or_pretrained(model)
    groups = None if metadata is None else categorical_labels(
        tables.sample_ids(str(table)), metadata)
    engine = Engine(model, device=device, batch_size=batch_size,
                    threads=threads, precision=precision)
    totals = interpret.AttentionTotals(model.vocabulary)
    kept = set()
    for sentences in chunked_sentences(
            str(table), taxonomy, model, drop_unmapped,
            None if groups is None else groups.index):
        totals.add(interpret.attention(engine, sentences, model.vocabulary),
                   groups)
        kept |= set(sentences.sample_ids)
    if groups is not None:
        lost_groups(groups, groups[groups.index.isin(kept)], metadata.name)
    statistics = totals.importance()
    return (_one_score(statistics.filter(like="importance").mean(axis=1)),
            statistics)


# perturb --------------------------------------------------------------------

def perturb(table: BIOMV210Format, taxonomy: pd.Series,
            metadata: qiime2.CategoricalMetadataColumn,
            reference_group: str, target_group: str,
            model: mgm_model.MGMModel = None, genera: list = None,
            top_n: int = 20, modes: list = None, pooling: str = "auto",
            null_draws: int = 0, random_state: int = 0,
            drop_unmapped: bool = False, batch_size: int = 64,
            device: str = "auto", threads: int = 0,
            precision: str = "float32") -> pd.DataFrame:
    """Streams: three passes over the table a chunk of samples at a time:
    the target's prevalence, the embeddings of every compared sample (the
    reference centroid of the observed and of each relabelled grouping),
    then the perturbations of every compared sample."""
    if reference_group == target_group:
        raise ValueError("reference_group and target_group are the same "
                         f"({reference_group!r}); choose two groups.")
    modes = list(dict.fromkeys(modes or interpret.MODES))
    model = model_or_pretrained(model)
    path = str(table)
    groups = categorical_labels(tables.sample_ids(path), metadata)
    interpret.check_groups(groups, metadata.name, reference_group,
                           target_group)
    compared = groups[groups.isin([reference_group, target_group])]
    found = []
    prevalence = interpret.Prevalence(model.vocabulary)
    everyone = interpret.Prevalence(model.vocabulary)
    for sentences in chunked_sentences(path, taxonomy, model, drop_unmapped,
                                       compared.index):
        labels = compared.reindex(sentences.sample_ids)
        found.append(labels)
        everyone.add(sentences)
        prevalence.add(sentences.select(
            labels.index[labels == target_group]))
    found = pd.concat(found)
    interpret.check_groups(found, metadata.name, reference_group,
                           target_group)
    chosen = interpret.choose_genera(
        prevalence.series(), model.vocabulary, genera, top_n,
        f"of the target group {target_group!r}")
    genus_ids = [model.vocabulary.token_id(g) for g in chosen]
    engine = Engine(model, device=device, batch_size=batch_size,
                    threads=threads, precision=precision)
    pooling = model.default_pooling if pooling == "auto" else pooling
    draws = null_draws or min(nulls.MOST_DRAWS,
                              draws_for(len(genus_ids) * len(modes)))
    nulls.check_permutation_memory(len(found), len(genus_ids) * len(modes),
                                   model.network.config.n_embd, draws)
    null = nulls.GroupPermutations(
        (found == reference_group).to_numpy(), genus_ids, modes, draws,
        random_state)
    # One count for both passes: compared samples, then perturbed ones.
    with Progress("perturb", len(found) + int(
            everyone.counts[genus_ids].sum()) * len(modes),
            "sentences embedded") as progress:
        _per_chunk(path, taxonomy, model, found.index,
                   lambda sentences, done: null.add_embeddings(
                       np.arange(done, done + len(sentences)),
                       engine.embed(sentences, pooling, progress)))
        similarities = _per_chunk(
            path, taxonomy, model, found.index,
            lambda sentences, done: interpret.perturbation_similarities(
                engine, sentences, genus_ids, modes, pooling, null, done,
                progress))
    target = (found == target_group).to_numpy()
    effects = interpret.summarize_effects(
        similarities[target[similarities["sample"]]], model.vocabulary,
        null.result(model.vocabulary))
    return effects.assign(
        metadata_column=metadata.name, reference_group=reference_group,
        target_group=target_group,
        reference_samples=int((found == reference_group).sum()),
        target_samples=prevalence.sentences, pooling=pooling,
        model_kind=model.kind)


def _per_chunk(path, taxonomy, model, samples, compute):
    """``compute(sentences, done)`` of each chunk of ``samples``
    (tokenized already, so none is dropped again; ``done``: the samples
    of the chunks before); the DataFrames it returns as one, their
    ``sample`` column counting over all chunks."""
    frames, done = [], 0
    for sentences in chunked_sentences(path, taxonomy, model, True, samples):
        frame = compute(sentences, done)
        if frame is not None:
            frames.append(frame.assign(sample=frame["sample"] + done))
        done += len(sentences)
    return pd.concat(frames, ignore_index=True) if frames else None


# leave-one-genus-out -------------------------------------------------------

def leave_one_genus_out(
        table: BIOMV210Format, taxonomy: pd.Series,
        model: mgm_model.MGMModel = None, genera: list = None,
        top_n: int = 50, pooling: str = "auto", null_draws: int = 0,
        random_state: int = 0, drop_unmapped: bool = False,
        batch_size: int = 64, device: str = "auto",
        threads: int = 0,
        precision: str = "float32") -> (pd.DataFrame, pd.DataFrame):
    """``(effects, importance)``: importance is the effect beyond the null
    alone. Streams: two passes over the table a chunk of samples at a
    time, one for the genera's prevalence, one for the removals."""
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
    genus_ids = [model.vocabulary.token_id(g) for g in chosen]
    with Progress("leave-one-genus-out", prevalence.removals(genus_ids),
                  "sentences with a genus removed embedded") as progress:
        similarities = _per_chunk(
            path, taxonomy, model, np.concatenate(kept),
            lambda sentences, _: interpret.removal_similarities(
                engine, sentences, genus_ids, pooling, progress))
    effects = interpret.summarize_removals(
        similarities, model.vocabulary, prevalence.sentences, genus_ids,
        null_draws or None, random_state)
    without = effects.index[effects["null_draws"] == 0]
    if len(without):
        notice(nulls.no_null_text(len(without), len(effects)))
    return effects, _one_score(effects["effect_beyond_null"])

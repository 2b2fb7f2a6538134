"""What actions do first: the model, the samples' sentences, their labels
and the engine that runs the model."""
import atexit
import logging
import os
import sys
import warnings

import qiime2

from ..mgm import model as mgm_model
from ..mgm import tables
from ..mgm.engine import Engine
from ..mgm.labels import sample_labels
from ..mgm.tokens import NO_GENUS, tokenize

log = logging.getLogger("q2_mgm")


_NOTICES = []


def notice(message):
    """A warning the user must see: logged, a Python warning and, under
    the `qiime` command (which hides an action's output unless
    --verbose), repeated on stderr when the command ends."""
    log.warning(message)
    warnings.warn(message, UserWarning, stacklevel=2)
    command = os.path.basename(sys.argv[0]) if sys.argv else ""
    if (command == "qiime" or sys.argv[0].endswith("q2cli/__main__.py")) \
            and "--verbose" not in sys.argv:
        if not _NOTICES:
            atexit.register(_print_notices)
        _NOTICES.append(message)


def _print_notices():
    for message in _NOTICES:
        print(f"Warning from q2-mgm: {message}", file=sys.stderr)


def model_or_pretrained(model):
    """The given model, or the published MGM."""
    return mgm_model.load_pretrained() if model is None else model


def sentences_of(table, taxonomy, model, drop_unmapped=False,
                 allow_empty=False):
    """Sentences of a table's samples; dropped samples are logged once."""
    sentences, dropped = tokenize(table, taxonomy, model.vocabulary,
                                  drop_unmapped=drop_unmapped,
                                  max_length=model.max_length,
                                  allow_empty=allow_empty)
    if dropped:
        log.warning("Dropped %d sample(s) with no genus of the MGM "
                    "vocabulary: %s", len(dropped),
                    ", ".join(map(str, dropped)))
    return sentences


def chunked_sentences(path, taxonomy, model, drop_unmapped=False,
                      samples=None):
    """Sentences of the samples of a BIOM file (only ``samples`` when
    given), ``tables.CHUNK`` samples at a time, so that memory does not
    grow with the table."""
    wanted = None if samples is None else set(samples)
    found = 0
    chunks = tables.table_chunks(path, tables.CHUNK)
    chunk, first = next(chunks), True
    while chunk is not None:
        following = next(chunks, None)
        if wanted is not None:
            chunk = chunk.filter([i for i in chunk.ids() if i in wanted],
                                 inplace=False)
        if wanted is None or chunk.shape[1]:  # an empty table is an error
            # A chunk with no genus is an error of its own only when it
            # is the whole table.
            sentences = sentences_of(
                chunk, taxonomy, model, drop_unmapped,
                allow_empty=not (first and following is None))
            found += len(sentences)
            if len(sentences):
                yield sentences
        chunk, first = following, False
    if not found:
        raise ValueError(NO_GENUS)


def categorical_labels(sample_ids, column, missing="ignore"):
    """Labels of a categorical metadata column (numeric: an error)."""
    if not isinstance(column, qiime2.CategoricalMetadataColumn):
        raise ValueError(
            f"The metadata column {column.name!r} is numeric; categories "
            "are needed. Pick a categorical column, or declare this one "
            "categorical with a '#q2:types' row set to 'categorical'.")
    return sample_labels(sample_ids, column.to_series(), missing,
                         column.name)


def lost_groups(labels, kept, name):
    """Groups of ``labels`` (sample -> group) with no sample in ``kept``
    (those ``drop_unmapped`` removed whole), sorted; a ``notice`` names
    them."""
    lost = sorted(set(labels) - set(kept), key=str)
    if lost:
        notice(f"drop_unmapped removed every sample of the group(s) "
               f"{', '.join(map(repr, lost))} of {name!r} (no genus of the "
               "MGM vocabulary): they are left out of the comparison.")
    return lost


def prepare(table, taxonomy, model=None, metadata=None, drop_unmapped=False,
            batch_size=64, device="auto", threads=0, precision="float32"):
    """``(model, sentences, groups, engine)`` of an action.

    With a metadata column only its labelled samples are kept and
    ``groups`` holds their labels (``attrs["dropped_groups"]``: groups
    whose every sample ``drop_unmapped`` removed, also a ``notice``);
    otherwise ``groups`` is None.
    """
    model = model_or_pretrained(model)
    sentences = sentences_of(table, taxonomy, model, drop_unmapped)
    groups = None
    if metadata is not None:
        groups = categorical_labels(sentences.sample_ids, metadata)
        sentences = sentences.select(groups.index)
        groups.attrs["dropped_groups"] = lost_groups(
            categorical_labels(table.ids(), metadata), groups,
            metadata.name)
    engine = Engine(model, device=device, batch_size=batch_size,
                    threads=threads, precision=precision)
    return model, sentences, groups, engine

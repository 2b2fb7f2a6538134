"""Actions: the packaged model, sample embeddings and their distances."""
import shutil

import biom
import numpy as np
import pandas as pd
import skbio
from q2_types.feature_table import BIOMV210Format
from skbio.stats.ordination import pcoa

from ..mgm import model as mgm_model
from ..mgm import tables
from ..mgm.engine import Engine
from ..mgm.progress import Progress
from ..plugin.formats import (EmbeddingsFormat, MGMModelDirectoryFormat,
                              write_embeddings)
from .common import chunked_sentences, model_or_pretrained
from ..mgm.tokens import genus_table


def pretrained_model() -> MGMModelDirectoryFormat:
    fmt = MGMModelDirectoryFormat()
    source = mgm_model.packaged_model_path()
    for name in mgm_model.FILES + ("LICENSE", "SHA256SUMS"):
        shutil.copyfile(source / name, fmt.path / name)
    return fmt


def collapse_genera(table: biom.Table, taxonomy: pd.Series,
                    model: mgm_model.MGMModel = None) -> biom.Table:
    model = model_or_pretrained(model)
    genera = genus_table(table, taxonomy, model.vocabulary)
    names = [model.vocabulary.genus_tokens[p] for p in genera.genus_positions]
    return biom.Table(genera.counts.T.tocsr(), names,
                      list(genera.sample_ids))


def embed(table: BIOMV210Format, taxonomy: pd.Series,
          model: mgm_model.MGMModel = None, pooling: str = "auto",
          drop_unmapped: bool = False, batch_size: int = 64,
          device: str = "auto", threads: int = 0,
          precision: str = "float32") -> EmbeddingsFormat:
    """Streams: the table is read, tokenized and embedded a chunk of
    samples at a time and the vectors are written as they come, so memory
    does not grow with the number of samples."""
    model = model_or_pretrained(model)
    engine = Engine(model, device=device, batch_size=batch_size,
                    threads=threads, precision=precision)
    fmt = EmbeddingsFormat()
    columns = [f"mgm_{i + 1}" for i in range(model.network.config.n_embd)]
    with fmt.open() as handle, Progress(
            "embed", len(tables.sample_ids(str(table))),
            "samples embedded") as progress:
        for index, sentences in enumerate(chunked_sentences(
                str(table), taxonomy, model, drop_unmapped)):
            vectors = engine.embed(sentences, pooling, progress)
            write_embeddings(pd.DataFrame(vectors, columns=columns,
                                          index=sentences.sample_ids),
                             handle, header=index == 0)
    return fmt


def cosine_distances(embeddings):
    vectors = embeddings.to_numpy(np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    distances = (distances + distances.T) / 2
    np.fill_diagonal(distances, 0.0)
    return distances


def embedding_distance(embeddings: pd.DataFrame) -> skbio.DistanceMatrix:
    if len(embeddings) < 2:
        raise ValueError("At least two samples are needed for distances.")
    unstorable = [str(i) for i in embeddings.index
                  if any(c in str(i) for c in ",\t\n")]
    if unstorable:
        raise ValueError(
            f"{len(unstorable)} sample ID(s) contain a comma, tab or line "
            f"break ({', '.join(map(repr, unstorable[:3]))}), which QIIME "
            "2's distance matrix format cannot store. Rename those samples "
            "(in the table and metadata) and embed again.")
    padded = [str(i) for i in embeddings.index if str(i) != str(i).strip()]
    if padded:
        raise ValueError(
            f"{len(padded)} sample ID(s) begin or end with a space "
            f"({', '.join(map(repr, padded[:3]))}); QIIME 2's distance "
            "matrix format strips it, so the IDs would no longer match the "
            "embeddings and the table. Rename those samples without the "
            "spaces (in the table and metadata) and embed again.")
    return skbio.DistanceMatrix(cosine_distances(embeddings),
                                ids=[str(i) for i in embeddings.index])


def embedding_pcoa(embeddings: pd.DataFrame,
                   number_of_dimensions: int = 10
                   ) -> skbio.OrdinationResults:
    if len(embeddings) < 3:
        raise ValueError("At least three samples are needed for a PCoA.")
    distances = embedding_distance(embeddings)
    if distances.data.max() < 1e-12:  # identical up to rounding
        raise ValueError(
            f"All {len(embeddings)} samples have the same embedding (every "
            "distance is 0), so a PCoA has no axis to show. Check that the "
            "table holds different samples (identical samples give "
            "identical sentences), or embed more varied samples.")
    dimensions = min(number_of_dimensions, len(embeddings) - 1)
    return pcoa(distances, method="eigh", number_of_dimensions=dimensions)

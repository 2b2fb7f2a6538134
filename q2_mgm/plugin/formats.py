"""File and directory formats of q2-mgm (no pickle anywhere)."""
import csv
import itertools
import json

import qiime2.plugin.model as model
from qiime2.plugin import ValidationError

from ..mgm import fit
from ..mgm import model as mgm_model
from ..mgm.interpretation import EFFECT_COLUMNS, REMOVAL_COLUMNS


class JSONFormat(model.TextFileFormat):
    def _validate_(self, level):
        try:
            with self.open() as fh:
                json.load(fh)
        except ValueError as error:
            raise ValidationError(f"Not valid JSON: {error}") from error


class SafetensorsFormat(model.BinaryFileFormat):
    def _validate_(self, level):
        with self.open() as fh:
            header = fh.read(8)
        if len(header) < 8 or int.from_bytes(header, "little") == 0:
            raise ValidationError("Not a safetensors file.")


class TokenListFormat(model.TextFileFormat):
    """One token per line."""

    def _validate_(self, level):
        with self.open() as fh:
            if not fh.readline().strip():
                raise ValidationError("The vocabulary is empty.")


class NormalizationFormat(model.TextFileFormat):
    """TSV: genus, mean, std."""

    def _validate_(self, level):
        with self.open() as fh:
            header = fh.readline().rstrip("\n").split("\t")
        if header[1:] != ["mean", "std"]:
            raise ValidationError("The normalization table needs the "
                                  "columns genus, mean and std.")


class LicenceFormat(model.TextFileFormat):
    """The licence notice that travels with third-party weights."""

    def _validate_(self, level):
        with self.open() as fh:
            if not fh.read(1):
                raise ValidationError("The licence notice is empty.")


class ChecksumsFormat(model.TextFileFormat):
    """``sha256sum`` output: digest, two spaces, file name."""

    def _validate_(self, level):
        with self.open() as fh:
            for line in fh:
                digest, _, name = line.rstrip("\n").partition("  ")
                if len(digest) != 64 or not name:
                    raise ValidationError(f"Not a checksum line: {line!r}")


class MGMModelDirectoryFormat(model.DirectoryFormat):
    """An MGM network: config, safetensors weights, vocabulary,
    normalization table and manifest, checked to agree with each other."""

    # Optional where the manifest refers to the packaged network.
    config = model.File("config.json", format=JSONFormat, optional=True)
    weights = model.File("model.safetensors", format=SafetensorsFormat,
                         optional=True)
    vocabulary = model.File("vocabulary.txt", format=TokenListFormat,
                            optional=True)
    normalization = model.File("normalization.tsv",
                               format=NormalizationFormat, optional=True)
    manifest = model.File("manifest.json", format=JSONFormat)
    licence = model.File("LICENSE", format=LicenceFormat, optional=True)
    heads = model.File(mgm_model.HEADS_FILE, format=SafetensorsFormat,
                       optional=True)
    checksums = model.File("SHA256SUMS", format=ChecksumsFormat,
                           optional=True)

    def _validate_(self, level):
        try:
            mgm_model.validate(str(self.path))
        except mgm_model.ModelError as error:
            raise ValidationError(str(error)) from error


class EmbeddingsFormat(model.TextFileFormat):
    """TSV: sample ID, then one numeric column per embedding dimension."""

    def _validate_(self, level):
        with self.open() as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = next(reader, None)
            if not header or len(header) < 2:
                raise ValidationError("Embeddings need a header with a "
                                      "sample ID column and dimensions.")
            _check_rows(reader, header, range(1, len(header)), level,
                        "embedding value")


def _check_rows(reader, header, numeric, level, what):
    """Check that each row has the header's fields and numbers in the
    columns ``numeric`` (the first five rows at level 'min'); return how
    many rows were read."""
    n_rows = 0
    for n_rows, row in enumerate(reader, start=1):
        if len(row) != len(header):
            raise ValidationError(f"Line {n_rows + 1} has {len(row)} fields, "
                                  f"expected {len(header)}.")
        try:
            [float(row[i]) for i in numeric]
        except ValueError:
            raise ValidationError(
                f"Line {n_rows + 1} has a non-numeric {what}.")
        if level == "min" and n_rows >= 5:
            break
    return n_rows


def write_embeddings(vectors, handle, header=True):
    """Rows of an embeddings TSV from a DataFrame (samples x dimensions),
    as ``to_csv(sep="\\t", float_format="%.9g")`` writes finite values
    (nine significant digits give back every float32), one format per
    row."""
    if header:
        handle.write("\t".join(map(_field, ["sample-id", *vectors.columns]))
                     + "\n")
    values = "\t".join(["%.9g"] * vectors.shape[1])
    handle.writelines(f"{_field(sample_id)}\t{values % tuple(row)}\n"
                      for sample_id, row in zip(vectors.index,
                                                vectors.to_numpy().tolist()))


def _field(value):
    """A TSV field quoted as the csv module quotes it when it must be."""
    text = str(value)
    if any(c in text for c in '\t"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


EmbeddingsDirectoryFormat = model.SingleFileDirectoryFormat(
    "EmbeddingsDirectoryFormat", "embeddings.tsv", EmbeddingsFormat)


NUMERIC_EFFECT_COLUMNS = [c for c in EFFECT_COLUMNS
                          if c not in ("genus", "mode")]


class PerturbationEffectsFormat(model.TextFileFormat):
    """TSV: ``id`` (genus:mode), then genus, mode, samples, mean cosine
    similarities before and after, shift, Wilcoxon statistic, p- and
    q-value, and the parameters of the run."""

    def _validate_(self, level):
        with self.open() as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = next(reader, None) or []
            missing = [c for c in EFFECT_COLUMNS if c not in header]
            if not header or header[0] != "id" or missing:
                raise ValidationError(
                    "Perturbation effects need an 'id' column first and the "
                    f"columns {', '.join(EFFECT_COLUMNS)}; missing: "
                    f"{', '.join(missing) or 'id'}.")
            numeric = [header.index(c) for c in NUMERIC_EFFECT_COLUMNS]
            if not _check_rows(reader, header, numeric, level,
                               f"value in {', '.join(NUMERIC_EFFECT_COLUMNS)}"):
                raise ValidationError("The perturbation effects are empty.")


PerturbationEffectsDirectoryFormat = model.SingleFileDirectoryFormat(
    "PerturbationEffectsDirectoryFormat", "perturbation-effects.tsv",
    PerturbationEffectsFormat)


class GenusStatisticsFormat(model.TextFileFormat):
    """TSV: ``genus`` (MGM token), then numeric columns (``nan`` where a
    value is undefined), ``REQUIRED`` among them."""

    REQUIRED = ()
    WHAT = "Per-genus statistics"

    def _validate_(self, level):
        with self.open() as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = next(reader, None) or []
            missing = [c for c in self.REQUIRED if c not in header]
            if len(header) < 2 or header[0] != "genus" or missing:
                raise ValidationError(
                    f"{self.WHAT} need a 'genus' column first and numeric "
                    "columns after it"
                    + (f"; missing: {', '.join(missing)}." if missing
                       else "."))
            if not _check_rows(reader, header, range(1, len(header)), level,
                               "value"):
                raise ValidationError(f"{self.WHAT} are empty.")


class RemovalEffectsFormat(GenusStatisticsFormat):
    """Leave-one-genus-out effects: ``REMOVAL_COLUMNS`` per genus."""

    REQUIRED = REMOVAL_COLUMNS
    WHAT = "Leave-one-genus-out effects"


class AttentionStatisticsFormat(GenusStatisticsFormat):
    """Attention importance and prevalence per genus (and group)."""

    WHAT = "Attention statistics"


RemovalEffectsDirectoryFormat = model.SingleFileDirectoryFormat(
    "RemovalEffectsDirectoryFormat", "removal-effects.tsv",
    RemovalEffectsFormat)
AttentionStatisticsDirectoryFormat = model.SingleFileDirectoryFormat(
    "AttentionStatisticsDirectoryFormat", "attention-statistics.tsv",
    AttentionStatisticsFormat)


class PredictorFitFormat(model.TextFileFormat):
    """TSV: comment lines (``#``, the warning of a table that fits poorly),
    then sample ID, the fit measures of ``fit.table_fit`` and its verdict."""

    def _validate_(self, level):
        with self.open() as fh:
            lines = itertools.dropwhile(lambda line: line.startswith("#"),
                                        fh)
            header = next(lines, "").rstrip("\n").split("\t")
            missing = [c for c in (fit.READS, fit.GENERA, fit.VERDICT)
                       if c not in header]
            if header[0] != "sample-id" or missing:
                raise ValidationError(
                    "A predictor fit needs a 'sample-id' column first and "
                    f"the columns {fit.READS!r}, {fit.GENERA!r} and "
                    f"{fit.VERDICT!r}.")
            for i, line in enumerate(lines, start=2):
                if len(line.rstrip("\n").split("\t")) != len(header):
                    raise ValidationError(
                        f"Data line {i} does not have {len(header)} fields.")


PredictorFitDirectoryFormat = model.SingleFileDirectoryFormat(
    "PredictorFitDirectoryFormat", "predictor-fit.tsv", PredictorFitFormat)


class GenerationLabelsFormat(model.TextFileFormat):
    """TSV: sample ID and the label each generated sample was drawn for."""

    def _validate_(self, level):
        with self.open() as fh:
            header = fh.readline().rstrip("\n").split("\t")
            if len(header) != 2 or header[1] != "label":
                raise ValidationError("Generation labels need the columns "
                                      "sample-id and label.")
            for i, line in enumerate(fh, start=2):
                if len(line.rstrip("\n").split("\t")) != 2:
                    raise ValidationError(f"Line {i} does not have 2 fields.")


GenerationLabelsDirectoryFormat = model.SingleFileDirectoryFormat(
    "GenerationLabelsDirectoryFormat", "labels.tsv", GenerationLabelsFormat)

"""Usage examples; they run offline on the example data in the package."""
from importlib import resources

import qiime2

EXAMPLE_DATA = resources.files("q2_mgm") / "example_data"


def example_path(name):
    return str(EXAMPLE_DATA / name)


def table_factory():
    return qiime2.Artifact.load(example_path("mouse-table.qza"))


def taxonomy_factory():
    return qiime2.Artifact.load(example_path("mouse-taxonomy.qza"))


def metadata_factory():
    return qiime2.Metadata.load(example_path("mouse-metadata.tsv"))


def pretrained_factory():
    from ._embedding import pretrained_model
    from ._types import MGMModel, Pretrained
    model = pretrained_model()  # its temporary folder lives as long as it
    return qiime2.Artifact.import_data(MGMModel[Pretrained], str(model.path))


def table_inputs(use):
    """The example table and taxonomy, as usage-example inputs."""
    return (use.init_artifact("table", table_factory),
            use.init_artifact("taxonomy", taxonomy_factory))


def run(use, action, inputs, outputs):
    return use.action(use.UsageAction(plugin_id="mgm", action_id=action),
                      use.UsageInputs(**inputs),
                      use.UsageOutputNames(**outputs))


def pretrained_model_example(use):
    run(use, "pretrained_model", {}, {"model": "mgm_model"})


def embed_example(use):
    table, taxonomy = table_inputs(use)
    run(use, "embed", {"table": table, "taxonomy": taxonomy},
        {"embeddings": "embeddings"})


def embeddings_input(use):
    table, taxonomy = table_inputs(use)
    embeddings, = run(use, "embed", {"table": table, "taxonomy": taxonomy},
                      {"embeddings": "embeddings"})
    return embeddings


def embedding_distance_example(use):
    run(use, "embedding_distance", {"embeddings": embeddings_input(use)},
        {"distance_matrix": "mgm_distance"})


def embedding_pcoa_example(use):
    run(use, "embedding_pcoa", {"embeddings": embeddings_input(use),
                                "number_of_dimensions": 5},
        {"pcoa": "mgm_pcoa"})


def summarize_coverage_example(use):
    table, taxonomy = table_inputs(use)
    run(use, "summarize_coverage", {"table": table, "taxonomy": taxonomy},
        {"visualization": "coverage"})


def collapse_genera_example(use):
    table, taxonomy = table_inputs(use)
    run(use, "collapse_genera", {"table": table, "taxonomy": taxonomy},
        {"genus_table": "mgm_genera"})

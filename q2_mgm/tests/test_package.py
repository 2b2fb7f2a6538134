"""The package as installed: its files, its declared requirements, and a
wheel whose installed copy runs usage examples."""
import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent
# Top-level imports and the conda package that provides each; QIIME 2
# plugins called through pipelines (ctx.get_action) count as imports.
CONDA_NAMES = {
    "qiime2": "qiime2", "q2_types": "q2-types",
    "q2_sample_classifier": "q2-sample-classifier",
    "q2templates": "q2templates", "torch": "pytorch",
    "transformers": "transformers", "safetensors": "safetensors",
    "numpy": "numpy", "pandas": "pandas", "scipy": "scipy",
    "sklearn": "scikit-learn", "skbio": "scikit-bio",
    "biom": "biom-format", "h5py": "h5py", "matplotlib": "matplotlib"}
PIPELINE_PLUGINS = {"feature_table": "q2-feature-table",
                    "sample_classifier": "q2-sample-classifier"}
DATA = ["example_data", "pretrained", "visualizers/assets", "tests/data"]


def third_party_imports():
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if "tests" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"q2_mgm"}


def pipeline_plugins():
    text = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py")
                     if "tests" not in p.relative_to(PACKAGE).parts)
    return {name for name in PIPELINE_PLUGINS
            if f'get_action("{name}"' in text}


def recipe_run_requirements():
    lines = (REPO / "recipe" / "meta.yaml").read_text().splitlines()
    start = lines.index("  run:") + 1
    names = []
    for line in lines[start:]:
        if not line.startswith("    - "):
            break
        names.append(line[6:].split()[0])
    return set(names) - {"python"}


def test_recipe_requirements_equal_the_imports():
    imported = {CONDA_NAMES[name] for name in third_party_imports()}
    imported |= {PIPELINE_PLUGINS[name] for name in pipeline_plugins()}
    assert recipe_run_requirements() == imported


def package_files():
    return sorted(str(p.relative_to(REPO)) for folder in DATA
                  for p in (PACKAGE / folder).rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources (the build leaves no files
    in the repository)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("setup.py", "setup.cfg", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source)
    shutil.copytree(PACKAGE, source / "q2_mgm", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(source)],
                   check=True, capture_output=True)
    return next(out.glob("q2_mgm-*.whl"))


@pytest.mark.slow
def test_wheel_holds_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in package_files() + ["q2_mgm/citations.bib"]
               if f not in names]
    assert not missing


# Examples that read every kind of packaged file from an installed copy:
# the network and its vocabulary, the example tables and metadata, the
# report templates and assets, and a predictor saved and loaded again. The
# in-tree suite runs every example (test_plugin.test_usage_example_runs);
# test_wheel_holds_every_data_file checks that the wheel holds each file.
WHEEL_EXAMPLES = ("pretrained_model", "embed", "keystone_summary",
                  "fit_classifier", "predict_classification")
USAGE = """
import qiime2.plugins.mgm, q2_mgm
from qiime2.sdk import PluginManager
from qiime2.sdk.usage import ExecutionUsage
assert q2_mgm.__file__.startswith({site!r}), q2_mgm.__file__
plugin = PluginManager().plugins["mgm"]
for name in {examples!r}:
    for example in plugin.actions[name].examples.values():
        example(ExecutionUsage())
        print("ran", name)
"""


@pytest.mark.slow
def test_installed_wheel_runs_usage_examples(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", USAGE.format(site=str(site),
                                            examples=WHEEL_EXAMPLES)],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    ran = [line.split()[1] for line in result.stdout.splitlines()
           if line.startswith("ran ")]
    assert ran == list(WHEEL_EXAMPLES)

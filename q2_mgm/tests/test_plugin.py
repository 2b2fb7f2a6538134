"""Every action is documented, cited and has a usage example that runs."""
import re
import zipfile

import pytest
from qiime2.sdk import PluginManager
from qiime2.sdk.usage import ExecutionUsage

from .test_reports import fits_the_window, layout

PLUGIN = PluginManager().plugins["mgm"]
EXAMPLES = [(action_id, name, example)
            for action_id, action in sorted(PLUGIN.actions.items())
            for name, example in action.examples.items()]


@pytest.mark.parametrize("action_id", sorted(PLUGIN.actions))
def test_action_is_documented(action_id):
    action = PLUGIN.actions[action_id]
    assert action.examples, f"{action_id} has no usage example"
    assert action.citations, f"{action_id} has no citation"
    signature = action.signature
    for name, spec in {**signature.inputs, **signature.parameters}.items():
        assert spec.has_description(), f"{action_id}: {name} undocumented"


def rst_problems(text):
    """Warnings and errors of ``text`` read as reStructuredText (how Galaxy
    shows a tool's help)."""
    import io
    import docutils.core
    import docutils.nodes
    document = docutils.core.publish_doctree(text, settings_overrides={
        "report_level": 2, "halt_level": 5, "warning_stream": io.StringIO()})
    return [node.astext() for node in document.traverse(
        lambda n: isinstance(n, (docutils.nodes.system_message,
                                 docutils.nodes.problematic)))]


@pytest.mark.parametrize("action_id", sorted(PLUGIN.actions))
def test_descriptions_render_as_restructured_text(action_id):
    action = PLUGIN.actions[action_id]
    signature = action.signature
    texts = [action.description] + [
        spec.description for spec in {**signature.inputs,
                                      **signature.parameters,
                                      **signature.outputs}.values()
        if spec.has_description()]
    for text in texts:
        assert not rst_problems(text), (action_id, text, rst_problems(text))


def test_rst_check_catches_a_dangling_reference():
    assert rst_problems("features with the 'g__' prefix")


@pytest.mark.slow
@pytest.mark.parametrize("action_id, name, example", EXAMPLES,
                         ids=[f"{a}:{n}" for a, n, _ in EXAMPLES])
def test_usage_example_runs(action_id, name, example, tmp_path,
                            monkeypatch):
    """Every example runs; every report q2-mgm writes, opened in headless
    Chromium at 1,280 px, fits the window with every plot captioned; one
    another plugin writes for a pipeline (q2-sample-classifier's heatmap)
    opens with every plot loaded."""
    monkeypatch.chdir(tmp_path)
    use = ExecutionUsage()
    example(use)  # raises if the example does not run
    for variable in use.render().values():
        if variable.var_type == "visualization" and not variable.is_deferred:
            directory = tmp_path / variable.name
            variable.value.export_data(directory)
            if made_by(variable.value, tmp_path) == "mgm":
                fits_the_window(directory)
            else:
                images = layout(directory)["images"][1:]
                assert images and all(i["loaded"] for i in images), directory


def made_by(result, tmp_path):
    """The plugin whose action made ``result``, read from the provenance
    of its saved archive (through a pipeline's aliases to the action that
    wrote it)."""
    with zipfile.ZipFile(result.save(str(tmp_path / "made_by"))) as archive:
        names = archive.namelist()
        action = next(n for n in names
                      if n.endswith("/provenance/action/action.yaml"))
        while True:
            text = archive.read(action).decode()
            alias = re.search(r"alias-of: ([\w-]+)", text)
            if not alias:
                return re.search(r"plugin: !ref 'environment:plugins:"
                                 r"([\w-]+)'", text).group(1)
            action = next(n for n in names if n.endswith(
                f"/artifacts/{alias.group(1)}/action/action.yaml"))

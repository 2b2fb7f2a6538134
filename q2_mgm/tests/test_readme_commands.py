"""Every ``qiime`` command written in the README and docs/ names an action
and options that exist: q2-mgm's own, and those of the other plugins
installed here (q2-sample-classifier; q2-diversity and q2-emperor where
present)."""
import re
from pathlib import Path

import pytest
import qiime2.sdk

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GENERAL = {"--output-dir", "--verbose", "--quiet", "--help"}


def commands():
    """(page, plugin, action, options) of every qiime command in a ``sh``
    block, continuation lines joined."""
    found = []
    for page in PAGES:
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                words = line.split()
                if len(words) > 2 and words[0] == "qiime" \
                        and words[1] != "dev":
                    found.append((page.name, words[1], words[2],
                                  [w for w in words if w.startswith("--")]))
    return found


def option_names(action):
    """The command-line options of an action's signature."""
    names = set(GENERAL)
    for prefix, spec in (("i", action.signature.inputs),
                         ("o", action.signature.outputs)):
        names |= {f"--{prefix}-{n.replace('_', '-')}" for n in spec}
    for name, spec in action.signature.parameters.items():
        cli = name.replace("_", "-")
        if qiime2.sdk.util.is_metadata_type(spec.qiime_type):
            names |= {f"--m-{cli}-file", f"--m-{cli}-column"}
        else:
            names.add(f"--p-{cli}")
    return names


def test_the_pages_hold_the_typical_session():
    used = {(plugin, action) for _, plugin, action, _ in commands()}
    assert {("mgm", "summarize-coverage"), ("mgm", "classify-samples-cv"),
            ("mgm", "classify-samples"), ("mgm", "embed"),
            ("mgm", "embedding-distance"), ("mgm", "embedding-pcoa"),
            ("diversity", "beta-group-significance"),
            ("emperor", "plot"), ("mgm", "perturb"),
            ("mgm", "leave-one-genus-out")} <= used


@pytest.mark.parametrize("page,plugin,action,options", commands())
def test_command_names_real_options(page, plugin, action, options):
    plugins = qiime2.sdk.PluginManager().plugins
    name = plugin.replace("-", "_")
    if name not in plugins:
        pytest.skip(f"the {plugin} plugin is not installed here")
    actions = plugins[name].actions
    assert action.replace("-", "_") in actions, (page, plugin, action)
    signature = actions[action.replace("-", "_")]
    unknown = set(options) - option_names(signature)
    assert not unknown, (page, plugin, action, unknown)
    if "--output-dir" not in options and "--help" not in options:
        unnamed = {f"--o-{n.replace('_', '-')}"
                   for n in signature.signature.outputs} - set(options)
        assert not unnamed, (page, plugin, action, "outputs not named",
                             unnamed)

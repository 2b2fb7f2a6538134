"""Reports as a reader sees them: warnings that hold, pages rendered by a
real browser (headless Chromium) that fit their window."""
import json
import shutil
import subprocess

import pandas as pd
import pytest
from qiime2.plugins.mgm.actions import (keystone_summary,
                                        leave_one_genus_out,
                                        leave_one_genus_out_summary, perturb,
                                        perturbation_summary)

from ..visualizers.training import still_improving
from . import _data

WIDTH = 1024
PROBE = """<script>
window.addEventListener('load', function () {
  var out = {page: document.documentElement.scrollWidth,
             view: window.innerWidth, tables: []};
  document.querySelectorAll('table').forEach(function (t) {
    var box = t.parentElement;
    out.tables.push({fits: box.getBoundingClientRect().right <= out.view,
                     scrolls: getComputedStyle(box).overflowX,
                     wider: box.scrollWidth > box.clientWidth});
  });
  document.body.setAttribute('data-layout', JSON.stringify(out));
});
</script>"""


def history(validation):
    return pd.DataFrame({"epoch": range(1, len(validation) + 1),
                         "validation_loss": validation})


@pytest.mark.parametrize("validation, epochs, warned", [
    ([0.9, 0.8, 0.7], 3, True),    # every epoch ran, still falling
    ([0.9, 0.8, 0.7], 10, False),  # early stopping triggered
    ([0.9, 0.7, 0.8], 3, False),   # rose at the end
    ([0.9], 1, False),             # nothing to compare
])
def test_still_improving_only_when_early_stopping_never_acted(
        validation, epochs, warned):
    assert still_improving(history(validation), epochs) == warned


def test_still_improving_needs_a_validation_loss():
    no_validation = pd.DataFrame({"epoch": [1, 2], "train_loss": [2., 1.]})
    assert not still_improving(no_validation, 2)


def layout(directory):
    """Chromium's layout of a report's page at ``WIDTH`` pixels."""
    probe = directory / "probe.html"
    probe.write_text((directory / "index.html").read_text() + PROBE)
    dom = subprocess.run(
        [shutil.which("chromium") or "chromium", "--headless",
         "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},900",
         "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        check=True, capture_output=True, text=True, timeout=120).stdout
    start = dom.index('data-layout="') + len('data-layout="')
    return json.loads(dom[start:dom.index('"', start)]
                      .replace("&quot;", '"'))


@pytest.mark.slow
def test_interpretation_reports_fit_the_window(tmp_path):
    table, taxonomy = _data.example_table(40), _data.example_taxonomy()
    diet = _data.example_metadata().get_column("diet")
    effects, = perturb(table, taxonomy, metadata=diet, top_n=4,
                       reference_group="BK", target_group="Western",
                       null_draws=199)
    removals, _ = leave_one_genus_out(table, taxonomy, top_n=4,
                                      null_draws=199)
    for name, visualization in (
            ("keystones", keystone_summary(table, taxonomy,
                                           metadata=diet)[0]),
            ("perturbation", perturbation_summary(effects)[0]),
            ("removals", leave_one_genus_out_summary(removals)[0])):
        visualization.export_data(tmp_path / name)
        found = layout(tmp_path / name)
        assert found["page"] <= found["view"] == WIDTH, name
        assert found["tables"], name
        for table_box in found["tables"]:
            assert table_box["fits"], name
            assert not table_box["wider"] or \
                table_box["scrolls"] in ("auto", "scroll"), name

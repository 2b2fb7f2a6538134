"""Reports as a reader sees them: warnings that hold, pages rendered by a
real browser (headless Chromium) that fit their window."""
import io
import json
import re
import shutil
import subprocess
from html import unescape

import numpy as np
import pandas as pd
import pytest
import qiime2
from matplotlib.image import imread
from qiime2.plugins.mgm.actions import (keystone_summary,
                                        leave_one_genus_out,
                                        leave_one_genus_out_summary, perturb,
                                        perturbation_summary)

from ..mgm import keystones
from ..visualizers import keystones as keystone_report
from ..visualizers.training import still_improving
from . import _data, _effects

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
  out.images = [];
  document.querySelectorAll('img').forEach(function (img) {
    out.images.push({alt: img.alt, loaded: img.naturalWidth > 0,
                     fits: img.getBoundingClientRect().right <= out.view});
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


def layout(directory, width=WIDTH):
    """Chromium's layout of a report's page at ``width`` pixels."""
    probe = directory / "probe.html"
    probe.write_text((directory / "index.html").read_text() + PROBE)
    dom = subprocess.run(
        [shutil.which("chromium") or "chromium", "--headless",
         "--no-sandbox", "--disable-gpu", f"--window-size={width},900",
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
        for width in (WIDTH, 1280):
            assert fits_the_window(tmp_path / name, width)["tables"], name
            assert layout(tmp_path / name, width)["images"][1:], name


def fits_the_window(directory, width=1280):
    """Chromium's layout of a report at ``width`` pixels, checked: nothing
    wider than the window, every table inside it (at 1,280 px none needs
    to scroll; narrower, a wide one scrolls in its box), every plot loaded,
    inside the window and described by its caption."""
    found = layout(directory, width)
    assert found["page"] <= found["view"] == width, directory
    for table_box in found["tables"]:
        assert table_box["fits"], directory
        assert not table_box["wider"] or (
            width < 1280
            and table_box["scrolls"] in ("auto", "scroll")), directory
    for image in found["images"][1:]:     # after QIIME 2's logo
        assert image["loaded"] and image["fits"], directory
        assert len(image["alt"]) > 20, directory
    return found


# Summaries read back against their own tables --------------------------------

def page_of(directory):
    """A report page as a reader sees it: the intro, the sentences of
    each list, the figure captions (image file -> caption, alt text) and
    the tables."""
    html = (directory / "index.html").read_text()

    def text(fragment):
        return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ",
                                                   fragment))).strip()

    tables = pd.read_html(io.StringIO(html))
    for table in tables:   # the index's name is a second header row
        table.columns = [
            (c[1] if c[0].startswith("Unnamed") else c[0])
            if isinstance(c, tuple) else c for c in table.columns]
    figures = re.findall(r'<img src="([^"]+)" alt="([^"]*)">\s*<p>(.*?)'
                         r'\(<a', html, flags=re.S)
    return {"intro": text(re.search(r"</h1>\s*<p>(.*?)</p>", html,
                                    flags=re.S).group(1)),
            "text": text(re.sub(r"<table.*?</table>", "", html,
                                flags=re.S)),
            "lines": [text(li) for li in re.findall(r"<li>(.*?)</li>", html,
                                                    flags=re.S)],
            "captions": {png: (text(caption), unescape(alt))
                         for png, alt, caption in figures},
            "tables": tables}


def number(pattern, text):
    found = re.search(pattern, text)
    assert found, (pattern, text)
    return float(found.group(1))


def pixels(png, colour):
    """How many pixels of a PNG are exactly ``colour`` (#rrggbb)."""
    image = (imread(png)[..., :3] * 255).round().astype(int)
    wanted = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return int((image == wanted).all(-1).sum())


def bh_by_definition(p):
    """Benjamini-Hochberg q-values written out from their definition:
    q of the i-th smallest p is min over j >= i of p_(j) m / j."""
    ranked = sorted(p)
    m = len(p)
    return [min(ranked[j] * m / (j + 1) for j in range(i, m))
            for i in range(m)]


def smallest_q_statement_holds(text, table):
    """The null note's 'q-value from X (...) to Y (...)' is what BH gives
    a row at the smallest p: X with every row there, Y with it alone;
    and no q-value of the table is below X."""
    p_min = number(r"2 / \(draws \+ 1\) = ([0-9.e-]+)", text)
    low = number(r"q-value from ([0-9.e-]+)", text)
    high = number(r"q-value from [0-9.e-]+ \(when every row is as "
                  r"extreme\) to ([0-9.e-]+)", text)
    draws = table["null_draws"].max()
    exact = 2 / (draws + 1)
    assert p_min == float(f"{exact:.2g}")
    rows = len(table)
    assert low == float(f"{min(bh_by_definition([exact] * rows)):.2g}")
    alone = bh_by_definition([exact] + [1.0] * (rows - 1))[0]
    assert high == float(f"{min(alone, 1):.2g}")
    assert (table["null_q"].dropna() >= exact - 1e-12).all()


def summarize_removals(tmp_path, beyond):
    effects = _effects.removal_effects(beyond)
    viz, = leave_one_genus_out_summary(qiime2.Artifact.import_data(
        "FeatureData[RemovalEffects]", effects))
    viz.export_data(tmp_path)
    return effects, page_of(tmp_path), pd.read_csv(
        tmp_path / "leave-one-genus-out.tsv", sep="\t", index_col=0)


@pytest.mark.parametrize("above, below", [(14, 22), (30, 25), (0, 0)])
def test_removal_summary_counts_above_and_below_apart(tmp_path, above,
                                                      below):
    rng = np.random.default_rng(above)
    beyond = np.concatenate([rng.uniform(0.02, 0.04, above),
                             -rng.uniform(0.02, 0.04, below),
                             rng.uniform(-0.001, 0.001, 60)])
    effects, page, table = summarize_removals(tmp_path, beyond)
    significant = effects["null_q"] < 0.05
    up = int((significant & (effects["effect_beyond_null"] > 0)).sum())
    down = int((significant & (effects["effect_beyond_null"] < 0)).sum())
    assert (up, down) == (above, below)     # the input is what it says
    assert list(table.index) == list(table.sort_values(
        "effect_beyond_null", ascending=False).index)
    counted = table["versus_null"].value_counts()
    assert counted.get("above", 0) == up and counted.get("below", 0) == down
    assert f"{up + down} differ from the null at q < 0.05: {up} above it" \
        in page["intro"]
    assert f"and {down} below it" in page["intro"]
    shown = page["tables"][0]
    assert shown.columns[0] == "genus"
    assert shown["versus null"].value_counts().to_dict() == \
        table["versus_null"].head(len(shown)).value_counts().to_dict()
    caption, alt = page["captions"]["removal-effects.png"]
    assert caption == alt
    if 0 < up + down <= 36:
        assert caption.startswith(f"All {up + down} genera whose effect "
                                  "differs from the null at q < 0.05")
        plotted = table[table["versus_null"] != "not different"]
    else:
        assert caption.startswith(f"The 36 of {len(table)} genera with the "
                                  "largest |effect beyond the null|")
        if up + down:
            assert f"({up + down} differ from the null" in caption
        plotted = table.loc[table["effect_beyond_null"].abs()
                            .sort_values(ascending=False).index[:36]]
    drawn = plotted["versus_null"].value_counts()
    png = tmp_path / "removal-effects.png"
    for side, colour, name in (("above", "#3b75af", "blue"),
                               ("below", "#e08a2c", "orange"),
                               ("not different", "#bbbbbb", "grey")):
        if drawn.get(side, 0):
            assert f"{name}, {drawn[side]} " in caption
            assert pixels(png, colour) > 50, side
        else:
            assert f"{name}, " not in caption
    smallest_q_statement_holds(page["text"], table)


def test_perturbation_summary_says_both_directions(tmp_path):
    """Rows where the raw shift and the effect beyond the null point in
    opposite directions: the page says each, in words and colours that
    agree with its table."""
    rng = np.random.default_rng(3)
    shift = rng.normal(0, 0.01, 60)
    beyond = rng.normal(0, 0.008, 60)
    shift[:4], beyond[:4] = [-0.002, -0.001, 0.003, 0.002], \
        [0.03, 0.025, -0.03, -0.025]
    effects = _effects.perturbation_effects(shift, beyond)
    viz, = perturbation_summary(qiime2.Artifact.import_data(
        "PerturbationEffects", effects))
    viz.export_data(tmp_path)
    page = page_of(tmp_path)
    table = pd.read_csv(tmp_path / "perturbation-effects.tsv", sep="\t")
    assert page["tables"][0].columns[0] == "genus"
    assert (table["shift_direction"] == np.where(
        table["shift"] > 0, "toward Control", "away from Control")).all()
    assert (table["beyond_null_direction"] == np.where(
        table["effect_beyond_null"] > 0, "toward Control",
        "away from Control")).all()
    differ = table[table["null_q"] < 0.05]
    toward = int((differ["effect_beyond_null"] > 0).sum())
    assert f"{len(differ)} of {len(table)} rows differ from the null at " \
        f"q < 0.05: {toward} toward Control beyond the null and " \
        f"{len(differ) - toward} away from it" in page["intro"]
    assert page["lines"][0].startswith(
        f"{len(differ)} of {len(table)} perturbations differ")
    described = page["lines"][1:]
    assert len(described) == min(10, len(differ))
    for line in described:
        verb, genus = re.match(r"(\w+) (\w+):", line).groups()
        mode = {"Enriching": "enrich", "Reducing": "reduce",
                "Removing": "delete"}[verb]
        row = table[(table["genus"] == f"g__{genus}")
                    & (table["mode"] == mode)].iloc[0]
        assert f"samples move {row['shift_direction']} (shift" in line
        assert f"beyond the null they move {row['beyond_null_direction']}" \
            in line
    # the case: raw shift away, beyond the null toward
    assert any("move away from Control" in line and "beyond the null they "
               "move toward Control" in line for line in described)
    caption, _ = page["captions"]["shift-by-mode.png"]
    green = int((table["effect_beyond_null"] > 0).sum())
    assert f"green, {green} perturbations toward Control beyond the null; " \
        f"red, {len(table) - green} away from it" in caption
    assert pixels(tmp_path / "shift-by-mode.png", "#4f9a55") > 50
    assert pixels(tmp_path / "shift-by-mode.png", "#c0504d") > 50
    scatter, _ = page["captions"]["enrich-vs-reduce.png"]
    assert f"every one of the {table['genus'].nunique()} genera labelled" \
        in scatter
    smallest_q_statement_holds(page["text"], table)


def keystone_row(**values):
    row = {"genus": "g__Thermus", "group": "BK", "compared_with": "Western",
           "prevalence_q": 0.5, "attention_present_q": 0.5,
           "published_q": 0.5, "prevalence_group": 0.9,
           "prevalence_others": 0.9, "median_attention_group": 0.3,
           "median_attention_others": 0.3, "attention_present_effect": 0.5}
    row.update(values)
    return row


def test_keystone_finding_says_not_detected():
    assert keystones.finding(keystone_row()) == (
        "difference not detected at q < 0.05 in presence or in attention "
        "where present")
    assert keystones.finding(keystone_row(published_q=0.01)).endswith(
        "the published KS test, which mixes the two, detects one")
    assert keystones.finding(keystone_row(prevalence_q=0.01,
                                          prevalence_group=0.1)) == \
        "more prevalent in Western"


def test_keystone_sentences_count_and_never_print_nan():
    rows = [keystone_row(genus=f"g__Genus{i}", prevalence_q=0.001 * (i + 1),
                         prevalence_group=0.1)
            for i in range(12)]
    rows.append(keystone_row(genus="g__Thermus", prevalence_q=1e-6,
                             prevalence_group=0.0,
                             median_attention_group=np.nan,
                             attention_present_q=np.nan,
                             attention_present_effect=np.nan))
    rows += [keystone_row(genus=f"g__Other{i}") for i in range(5)]
    tests = pd.DataFrame(rows)
    tests["finding"] = tests.apply(keystones.finding, axis=1)
    tests["q"] = np.fmin(tests["prevalence_q"], tests["attention_present_q"])
    tests = tests.sort_values("q", kind="stable")
    lines = keystone_report._findings(tests, two_groups=True)
    assert lines[0].startswith("13 of 18 genera tested differ at q < 0.05")
    assert "the 10 strongest are described, the other 3 named" in lines[0]
    assert len(lines) == 12
    assert lines[1].startswith("Thermus (BK vs Western): more prevalent "
                               "in Western")
    assert "attention where present not compared (absent from BK)" \
        in lines[1]
    for genus in ("Genus9", "Genus10", "Genus11"):
        assert f"{genus} (BK vs Western" in lines[-1]
    assert not any("nan" in line.lower() for line in lines)


@pytest.mark.slow
def test_keystone_page_reads_back(tmp_path):
    table, taxonomy = _data.example_table(60), _data.example_taxonomy()
    diet = _data.example_metadata().get_column("diet")
    viz, = keystone_summary(table, taxonomy, metadata=diet)
    viz.export_data(tmp_path)
    page = page_of(tmp_path)
    tests = pd.read_csv(tmp_path / "keystone-tests.tsv", sep="\t")
    strongest = np.fmin(tests["prevalence_q"], tests["attention_present_q"])
    found = int((strongest < 0.05).sum())
    assert page["lines"][0].startswith(
        f"{found} of {len(tests)} genera tested differ at q < 0.05")
    named = [line.split(" (")[0] for line in page["lines"][1:11]]
    named += re.findall(r"(?:: |, )(\w+) \(BK vs Western;",
                        page["lines"][-1] if found > 10 else "")
    expected = tests.loc[strongest < 0.05, "genus"].str.removeprefix("g__")
    assert sorted(named) == sorted(expected)
    assert not any("nan" in line.lower() for line in page["lines"])
    caption, _ = page["captions"]["prevalence-and-attention.png"]
    counts = {q: int((tests[f"{q}_q"] < 0.05).sum())
              for q in ("prevalence", "attention_present")}
    first = ("Prevalence" if counts["prevalence"]
             >= counts["attention_present"] else "Attention where present")
    assert f"{first} is on the left" in caption
    headers = list(page["tables"][0].columns)
    assert "prevalence q" in headers and "published_q" not in headers
    left_out = pd.read_csv(tmp_path / "left-out-features.tsv", sep="\t",
                           index_col=0)
    assert f"{left_out['features'].sum()} features" in page["intro"]
    assert page["tables"][-1]["taxonomy"][0] == left_out.index[0]
    assert [t.columns[0] for t in page["tables"][:-1]] == ["genus"] * 2
    assert (left_out["reads"] == left_out["reads"].round()).all()
    assert all(caption for caption, _ in page["captions"].values())

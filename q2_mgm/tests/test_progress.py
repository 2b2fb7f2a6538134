"""Progress of long runs: lines at the interval, the time left from the
work done so far, and the counts of every long action reaching their
total (on a fake clock; no timings)."""
import dataclasses
import logging
import os
import re
import subprocess
import sys
import threading

import biom
import pandas as pd
import pytest

from ..mgm import interpretation as interpret
from ..mgm import nulls
from ..mgm import pretraining
from ..mgm.engine import Engine
from ..mgm.progress import Progress, duration, interval
from ..mgm.tokens import tokenize
from ..mgm.training import PRETRAINING
from ..plugin.examples import example_path
from . import _data

LINE = re.compile(r"^(?P<task>[\w-]+): (?P<done>[\d,]+) of (?P<total>[\d,]+) "
                  r"(?P<unit>[\w ]+?)(?: \((?P<share>\d+)%\)"
                  r"(?:, about (?P<left>.+) left.*| in .+))?$")


class Clock:
    """A clock that reads what the test sets."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "q2_mgm"]


def test_lines_come_at_the_interval_with_the_time_left(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="q2_mgm"):
        progress = Progress("perturb", 1000, "sentences embedded",
                            clock=clock, seconds=10)
        clock.now += 4
        progress.advance(100)   # 4 s since the start: no line
        clock.now += 6
        progress.advance(150)   # 10 s: 250 done in 10 s, 750 left: 30 s
        clock.now += 9
        progress.advance(50)    # 9 s since the last line: none
        clock.now += 21
        progress.advance(300)   # 40 s: 600 done, 400 left at 15/s: 27 s
        clock.now += 20
        progress.advance(400)   # done in 60 s
        progress.advance(5)     # nothing after the end
    assert messages(caplog) == [
        "perturb: 0 of 1,000 sentences embedded",
        "perturb: 250 of 1,000 sentences embedded (25%), about 30 s left",
        "perturb: 600 of 1,000 sentences embedded (60%), about 27 s left",
        "perturb: 1,000 of 1,000 sentences embedded (100%) in 1 min 0 s"]


def test_a_resumed_run_counts_only_its_own_work(caplog):
    """200 of 1,000 steps were done before; 100 more in 50 s leave 700 at
    2 steps/s."""
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="q2_mgm"):
        progress = Progress("training", 1000, "steps", done=200,
                            note="; early stopping may end it sooner",
                            clock=clock, seconds=10)
        clock.now += 50
        progress.advance(100)
    assert messages(caplog)[-1] == (
        "training: 300 of 1,000 steps (30%), about 5 min 50 s left; "
        "early stopping may end it sooner")


def test_a_long_batch_still_gets_its_lines(caplog):
    """Inside ``with``, lines come while no unit is done: the time left
    grows with the time spent (10 units in 10 s, then 20 s on the next)."""
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="q2_mgm"):
        with Progress("embed", 100, "samples embedded", clock=clock,
                      seconds=0.01) as progress:
            clock.now += 10
            progress.advance(10)
            clock.now += 20
            waited = 0
            while len(messages(caplog)) < 3 and waited < 500:
                threading.Event().wait(0.01)
                waited += 1
        count = len(messages(caplog))
        clock.now += 20
        threading.Event().wait(0.05)
    lines = messages(caplog)
    assert lines[1] == ("embed: 10 of 100 samples embedded (10%), about "
                        "1 min 30 s left")
    assert lines[2] == ("embed: 10 of 100 samples embedded (10%), about "
                        "4 min 30 s left")
    assert len(lines) == count  # none after the block


def test_durations_and_the_interval_setting(monkeypatch):
    assert [duration(s) for s in (0.4, 59, 61, 3599, 7500)] == [
        "0 s", "59 s", "1 min 1 s", "59 min 59 s", "2 h 5 min"]
    monkeypatch.setenv("Q2_MGM_PROGRESS_SECONDS", "2.5")
    assert interval() == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("Q2_MGM_PROGRESS_SECONDS", bad)
        with pytest.raises(ValueError, match="Q2_MGM_PROGRESS_SECONDS"):
            interval()


def parsed(lines, task):
    found = [LINE.match(line) for line in lines]
    return [m for m in found if m and m["task"] == task]


def check_run(lines, task):
    """Several lines of ``task``, the share rising to 100% at the last."""
    runs = parsed(lines, task)
    assert len(runs) > 2, lines
    done = [int(m["done"].replace(",", "")) for m in runs]
    assert done == sorted(done) and done[0] == 0
    assert all(m["left"] for m in runs[1:-1]), lines
    assert runs[-1]["share"] == "100" and "100%" not in " ".join(
        m.group(0) for m in runs[:-1])
    return runs


def test_perturbations_are_counted_exactly(monkeypatch, caplog):
    """Every perturbed sentence advances the count once, whether it runs
    through the network or leaves its sentence unchanged."""
    monkeypatch.setenv("Q2_MGM_PROGRESS_SECONDS", "0")
    model = _data.pretrained()
    table = _data.example_table(30).view(biom.Table)
    taxonomy = _data.example_taxonomy().view(pd.Series)
    sentences, _ = tokenize(table, taxonomy, model.vocabulary)
    genus_ids = list(sentences.sentence(0)[1:4])
    engine = Engine(model, device="cpu", batch_size=4)
    with caplog.at_level(logging.INFO, logger="q2_mgm"):
        for _ in interpret.perturbed_embeddings(
                engine, sentences, genus_ids, interpret.MODES, "mean"):
            pass
    runs = check_run(messages(caplog), "perturbation")
    assert int(runs[-1]["total"]) == interpret.perturbation_count(
        sentences, genus_ids, interpret.MODES)


def test_embed_and_leave_one_genus_out_report_progress(monkeypatch, caplog):
    from qiime2.plugins.mgm.actions import embed, leave_one_genus_out
    monkeypatch.setenv("Q2_MGM_PROGRESS_SECONDS", "0")
    table, taxonomy = _data.example_table(20), _data.example_taxonomy()
    with caplog.at_level(logging.INFO, logger="q2_mgm"):
        embed(table, taxonomy, batch_size=4)
        effects, _ = leave_one_genus_out(table, taxonomy, top_n=3)
    lines = messages(caplog)
    assert int(check_run(lines, "embed")[-1]["total"]) == 20
    removals = check_run(lines, "leave-one-genus-out")[-1]
    # The three genera wherever present, and every genus at the null's ranks.
    model = _data.pretrained()
    sentences, _ = tokenize(table.view(biom.Table),
                            taxonomy.view(pd.Series), model.vocabulary)
    genus_ids = [model.vocabulary.token_id(g)
                 for g in effects.view(pd.DataFrame).index]
    assert int(removals["total"]) == len(list(interpret.perturbation_jobs(
        sentences, genus_ids, ["delete"], nulls.null_ranks)))


def test_training_reports_its_steps(monkeypatch, caplog):
    """Two epochs of 4 batches: 8 steps, each a line at interval 0."""
    monkeypatch.setenv("Q2_MGM_PROGRESS_SECONDS", "0")
    model = _data.pretrained()
    table = _data.example_table(30).view(biom.Table)
    taxonomy = _data.example_taxonomy().view(pd.Series)
    settings = dataclasses.replace(PRETRAINING, device="cpu", threads=1,
                                   epochs=2, batch_size=8)
    with caplog.at_level(logging.INFO, logger="q2_mgm"):
        pretraining.pretrain_model(model, table, taxonomy, settings=settings)
    runs = check_run(messages(caplog), "training")
    assert [m["done"] for m in runs] == [str(i) for i in range(9)]
    assert "early stopping may end it sooner" in runs[1].group(0)


@pytest.mark.slow
def test_verbose_perturb_shows_progress(tmp_path):
    """``qiime mgm perturb --verbose`` on the example data: several lines,
    each "q2-mgm: " as written, with the time left, ending at 100%."""
    run = subprocess.run(
        [sys.executable, "-m", "q2cli", "mgm", "perturb", "--verbose",
         "--i-table", example_path("mouse-table.qza"),
         "--i-taxonomy", example_path("mouse-taxonomy.qza"),
         "--m-metadata-file", example_path("mouse-metadata.tsv"),
         "--m-metadata-column", "diet", "--p-reference-group", "BK",
         "--p-target-group", "Western", "--p-top-n", "2",
         "--p-modes", "delete", "--o-effects", str(tmp_path / "e.qza")],
        capture_output=True, text=True,
        env={**os.environ, "Q2_MGM_PROGRESS_SECONDS": "0"})
    assert run.returncode == 0, run.stderr
    ours = [line for line in run.stderr.splitlines()
            if line.lower().startswith("q2-mgm")]
    assert all(line.startswith("q2-mgm: ") for line in ours), ours
    check_run([line[len("q2-mgm: "):] for line in ours], "perturb")


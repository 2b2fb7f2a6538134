"""One HTML report template shared by every q2-mgm visualizer."""
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import matplotlib
import q2templates

matplotlib.use("Agg")


def readable_number(value):
    """Counts in full, other numbers to four significant digits."""
    if abs(value) >= 1e4 and abs(value) < 1e15:
        return f"{value:.0f}"
    return f"{value:.4g}"


@dataclass
class Section:
    """A titled part of a report: text, a list of plain sentences,
    figures, tables and downloads."""

    title: str
    text: str = ""
    lines: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    downloads: list = field(default_factory=list)

    def figure(self, fig, output_dir, name, caption):
        """Save a matplotlib figure as PNG and PDF and show it here."""
        fig.tight_layout()
        for ext in ("png", "pdf"):
            fig.savefig(Path(output_dir) / f"{name}.{ext}", dpi=110)
        matplotlib.pyplot.close(fig)
        self.figures.append({"png": f"{name}.png", "pdf": f"{name}.pdf",
                             "caption": caption})

    def table(self, df, output_dir=None, name=None, label=None,
              max_rows=100, float_format=None, shown_columns=None,
              headers=None):
        """Show a table (first ``max_rows`` rows; ``shown_columns`` only,
        when given, renamed by ``headers``) and offer it whole as TSV."""
        shown = df.head(max_rows)
        if shown_columns is not None:
            shown = shown[shown_columns]
        if headers:
            shown = shown.rename(columns=headers)
        self.tables.append(shown.to_html(
            classes="table table-striped table-hover", border=0, na_rep="",
            float_format=float_format or readable_number))
        if name is not None:
            df.to_csv(Path(output_dir) / f"{name}.tsv", sep="\t")
            self.downloads.append({
                "file": f"{name}.tsv",
                "label": label or f"Download the whole table ({len(df)} "
                                  "rows, TSV)"})


def render(output_dir, title, sections, intro="", warnings=()):
    template = str(resources.files("q2_mgm") / "visualizers" / "assets"
                   / "report" / "index.html")
    q2templates.render(template, str(output_dir), context={
        "title": title, "intro": intro, "warnings": list(warnings),
        "sections": [vars(s) for s in sections]})

"""A report as data (sections of paragraphs, tables and figures), rendered by Jinja2 templates:
one self-contained HTML page (figures embedded, autoescaped) and Markdown beside PNG files.
Nothing here computes or draws; it only lays out what it is given."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # ("p", text) ("table", head, rows) ("img", f, cap)

    def p(self, text: str) -> Section:
        self.blocks.append(("p", text))
        return self

    def table(self, head: list[str], rows: list[list]) -> Section:
        self.blocks.append(("table", head, rows))
        return self

    def img(self, path: Path, caption: str) -> Section:
        self.blocks.append(("img", Path(path), caption))
        return self


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _md(value) -> str:
    """Text for Markdown: HTML in a name would be HTML in every Markdown viewer."""
    return html.escape(str(value), quote=False)


def _cell(value) -> str:
    """A Markdown table cell: a '|' would end the cell, a newline the row."""
    return _md(value).replace("|", "\\|").replace("\n", " ")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("siamese_faces.reporting", "templates"),
        autoescape=select_autoescape(["html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["data_uri"] = _data_uri
    env.filters["cell"] = _cell
    env.filters["md"] = _md
    return env


def to_html(title: str, sections: list[Section]) -> str:
    """One HTML page that opens offline: every figure embedded, every text escaped."""
    return _environment().get_template("report.html.j2").render(title=title, sections=sections)


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    """Markdown with figures linked relative to ``base`` (the folder the file goes in)."""
    return (
        _environment()
        .get_template("report.md.j2")
        .render(title=title, sections=sections, relative=lambda p: Path(p).relative_to(base))
    )

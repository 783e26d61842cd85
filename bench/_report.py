"""Figures, the printed table and ``bench/results.md``: the shape every part reports in."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Figure", "Section", "machine_info", "median", "render_markdown", "render_table"]


@dataclass
class Figure:
    """One measured figure, its bar (empty when it is reported only) and the verdict."""

    name: str
    value: str
    bar: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "info"
        return "PASS" if self.ok else "FAIL"


@dataclass
class Section:
    """One part of the benchmark: how it was measured and what came out."""

    key: str
    title: str
    method: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def machine_info() -> dict[str, str]:
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": sys.version.split()[0] + " (" + platform.python_implementation() + ")",
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
        info["load average at start"] = " ".join(f"{x:.2f}" for x in load)
    except OSError:
        pass
    try:
        import psutil

        info["memory"] = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    return info


def render_table(sections: Sequence[Section]) -> str:
    """The plain-text table printed at the end of a run."""
    rows: list[tuple[str, str, str, str]] = []
    for section in sections:
        if section.error:
            rows.append((f"[{section.key}] {section.title}", "ERROR", "", section.error[:60]))
            continue
        for fig in section.figures:
            rows.append((f"[{section.key}] {fig.name}", fig.value, fig.bar, fig.verdict))
    widths = [
        max(len(r[i]) for r in [("figure", "value", "bar", "verdict"), *rows]) for i in range(4)
    ]
    widths[0] = min(widths[0], 70)
    lines = []
    header = ("figure", "value", "bar", "verdict")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def render_markdown(
    sections: Sequence[Section], info: dict[str, str], argv: Sequence[str], total: float
) -> str:
    """``bench/results.md``: machine, date, method, every figure and what failed."""
    out = ["# wxpay-mw benchmark results", ""]
    out.append(
        "Written by `python -m bench` (`make bench`); do not edit by hand. "
        "Numbers are medians of repetitions run side by side in one run; ratios are "
        "taken per repetition and their median reported, so a noisy neighbour slows "
        "both sides of a comparison alike."
    )
    out += ["", "## Machine", ""]
    for key, value in info.items():
        out.append(f"- {key}: {value}")
    out.append(f"- command: `python -m bench {' '.join(argv)}`".replace("  ", " "))
    out.append(f"- total run time: {total:.0f} s")
    failed = [(s, f) for s in sections for f in s.figures if f.ok is False] + [
        (s, None) for s in sections if s.error
    ]
    out += ["", "## Summary", ""]
    out.append("| figure | value | bar | verdict |")
    out.append("|---|---|---|---|")
    for section in sections:
        if section.error:
            out.append(f"| {_md_cell(section.title)} | ERROR | | {_md_cell(section.error)} |")
        for fig in section.figures:
            out.append(
                f"| {_md_cell(fig.name)} | {_md_cell(fig.value)} | {_md_cell(fig.bar)} "
                f"| {fig.verdict} |"
            )
    out += ["", f"Bars failed: {len(failed)}." if failed else "", ""]
    for section in sections:
        out += [f"## {section.title}", "", f"Method: {section.method}", ""]
        if section.error:
            out += [f"**Error:** {section.error}", ""]
        if section.figures:
            out.append("| figure | value | bar | verdict | note |")
            out.append("|---|---|---|---|---|")
            for fig in section.figures:
                out.append(
                    f"| {_md_cell(fig.name)} | {_md_cell(fig.value)} | {_md_cell(fig.bar)} "
                    f"| {fig.verdict} | {_md_cell(fig.note)} |"
                )
            out.append("")
        for note in section.notes:
            out.append(f"- {note}")
        out += ["", f"({section.seconds:.0f} s)", ""]
    changes = Path(__file__).with_name("_changes.md")
    if changes.exists():
        out += [changes.read_text(encoding="utf-8")]
    return "\n".join(line for line in out).rstrip() + "\n"


def write_results(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8")

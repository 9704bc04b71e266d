"""The results table: one line per figure, with its relay baseline, ratio and target."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[dict[str, Any]], markdown: bool = True) -> str:
    """A Markdown table (it reads as plain text too), for the terminal and the docs."""
    header = [
        "scenario",
        "metric",
        "variant",
        "value",
        "unit",
        "baseline",
        "ratio",
        "target",
        "met",
    ]
    lines = [header]
    for row in rows:
        ratio = row.get("ratio")
        met = row.get("met")
        lines.append(
            [
                row["scenario"],
                row["metric"],
                row["variant"],
                _fmt(row["value"]),
                row["unit"],
                _fmt(row.get("baseline")),
                f"{ratio:.2f}x" if ratio is not None else "-",
                row.get("target") or "",
                "" if met is None else ("yes" if met else "**no**"),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
        if index == 0:
            out.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(out)


def main() -> None:
    """``python -m bench.report [results.json]``: the table of a saved run, for the docs."""
    import json
    import sys
    from pathlib import Path

    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("results.json"))
    document = json.loads(path.read_text())
    print(table(document["rows"]))


if __name__ == "__main__":
    main()

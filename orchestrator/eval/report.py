"""Evaluation reports as a self-contained HTML page (inline SVG, no scripts) or a PNG chart.

PNG needs matplotlib, which crossdesk does not depend on; HTML always works.
"""

from __future__ import annotations

import html
import importlib.util
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.errors import InputError

SUFFIXES = (".html", ".htm", ".png")
_COLOURS = ("#2f6db5", "#e08a2c", "#3a9b5c", "#b53a3a")
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.metric{font-size:1.6em;font-weight:600}
.cards{display:flex;gap:1.5em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em}
.muted{color:#777;font-size:.9em}
"""


def check_path(path: Path | str) -> Path:
    """Fail before a long run, not after it, when the report cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"--report {path}: name an .html or .png file")
    if suffix == ".png" and importlib.util.find_spec("matplotlib") is None:
        raise InputError(
            f"--report {path}: a PNG chart needs matplotlib, which is not installed; "
            "use an .html report (self-contained, no extra package) or pip install matplotlib"
        )
    if not path.parent.exists():
        raise InputError(f"--report {path}: folder {path.parent} does not exist")
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{_esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{_esc(v)}</td>' for i, v in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def bar_chart(groups: dict[str, dict[str, float]], *, width: int = 640) -> str:
    """Grouped horizontal bars (values in [0, 1]) as inline SVG."""
    series = list(dict.fromkeys(s for g in groups.values() for s in g))
    bar, gap, label_w = 14, 10, 150
    height = len(groups) * (len(series) * bar + gap) + 30
    scale = width - label_w - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="12">']
    y = 20
    for name, values in groups.items():
        parts.append(f'<text x="0" y="{y + bar}" >{_esc(name)}</text>')
        for i, s in enumerate(series):
            v = max(0.0, min(1.0, float(values.get(s, 0.0))))
            colour = _COLOURS[i % len(_COLOURS)]
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{v * scale:.1f}" height="{bar - 2}" fill="{colour}"/>'
            )
            parts.append(f'<text x="{label_w + v * scale + 4:.1f}" y="{y + bar - 3}">{v:.3f}</text>')
            y += bar
        y += gap
    for i, s in enumerate(series):  # legend
        x = label_w + i * 110
        parts.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{_COLOURS[i % len(_COLOURS)]}"/>')
        parts.append(f'<text x="{x + 14}" y="11">{_esc(s)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _heat_table(rows: Sequence[str], columns: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    top = max((v for r in matrix for v in r), default=0) or 1
    head = '<th class="l">expected \\ got</th>' + "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = []
    for name, values in zip(rows, matrix, strict=True):
        cells = "".join(
            f'<td style="background:rgba(47,109,181,{0.08 + 0.7 * v / top:.2f})">{v}</td>'
            if v
            else "<td>0</td>"
            for v in values
        )
        body.append(f'<tr><td class="l">{_esc(name)}</td>{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _cards(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="muted">{_esc(k)}</div><div class="metric">{_esc(v)}</div></div>'
            for k, v in items
        )
        + "</div>"
    )


def _routing_html(r: dict[str, Any]) -> list[str]:
    acc = r["department_accuracy"]
    cards = [
        ("department accuracy (strict)", _pct(acc["strict"])),
        ("lenient", _pct(acc["lenient"])),
        ("best guess", _pct(acc["best_guess_strict"])),
        ("out of scope", _pct(r["out_of_scope_rate"])),
        ("unclear", _pct(r["unclear_rate"])),
    ]
    if r["intent_accuracy"] is not None:
        cards.insert(3, ("intent accuracy", _pct(r["intent_accuracy"])))
    out = [
        f"<p class=muted>{r['data']['messages']} messages from {_esc(r['data']['file'])}, "
        f"{r['data']['labels']} labels; router: {_esc(r['router']['kind'])}; threshold {r['threshold']}</p>",
        _cards(cards),
        "<h2>Per department</h2>",
        bar_chart(
            {
                d: {"precision": m["precision"], "recall": m["recall"], "F1": m["f1"]}
                for d, m in r["per_department"].items()
            }
        ),
        "<h2>Confusion matrix</h2>",
        _heat_table(r["confusion"]["rows"], r["confusion"]["columns"], r["confusion"]["matrix"]),
        "<h2>Labels, weakest first</h2>",
        _table(
            ["label", "department", "messages", "strict", "lenient", "misrouted to"],
            [
                [
                    p["label"],
                    p["department"],
                    p["n"],
                    _pct(p["strict"]),
                    _pct(p["lenient"]),
                    ", ".join(f"{n} ({c})" for n, c in p["routed_to"]),
                ]
                for p in r["per_label"]
            ],
            left=2,
        ),
    ]
    if r["worst_misses"]:
        out += [
            "<h2>Most confident misses</h2>",
            _table(
                ["line", "expected", "got", "confidence", "text"],
                [
                    [m["line"], m["expected"], m["got"], f"{m['confidence']:.2f}", m["text"]]
                    for m in r["worst_misses"]
                ],
            ),
        ]
    return out


def _multi_html(r: dict[str, Any]) -> list[str]:
    return [
        f"<p class=muted>{r['messages']} two-issue messages; router: {_esc(r['router'])}</p>",
        _cards(
            [
                ("both found, no third", _pct(r["both_found_no_third"])),
                ("lenient", _pct(r["lenient"])),
                ("both found", _pct(r["both_found"])),
                ("third dispatched", _pct(r["third_dispatched"])),
                ("both parts right alone", _pct(r["parts_right_alone"])),
                ("lost in the joining", _pct(r["lost_in_joining"])),
            ]
        ),
        "<h2>By joiner</h2>",
        bar_chart({j: {"both found, no third": v} for j, v in r["per_joiner"].items()}),
        "<h2>Some misses</h2>",
        _table(
            ["expected", "got", "parts alone", "text"],
            [
                [
                    "+".join(f["expected"]),
                    "+".join(f["got"]),
                    " / ".join("+".join(a) or "nothing" for a in f["alone"]),
                    f["text"],
                ]
                for f in r["failures"]
            ],
        ),
    ]


def _kb_html(r: dict[str, Any]) -> list[str]:
    return [
        f"<p class=muted>{r['tasks']} queries over {r['articles']} articles</p>",
        _cards(
            [
                ("recall@5", f"{r['recall@5']:.3f}"),
                ("recall@10", f"{r['recall@10']:.3f}"),
                ("MRR@10", f"{r['mrr@10']:.3f}"),
            ]
        ),
        "<h2>Per query</h2>",
        _table(
            ["task", "gold articles", "recall@5", "recall@10", "first gold rank"],
            [
                [t["task"], t["gold"], t["recall@5"], t["recall@10"], t["first_rank"] or "-"]
                for t in r["per_task"]
            ],
        ),
    ]


_TITLES = {"routing": "Routing evaluation", "multi": "Two-issue messages", "kb": "Knowledge retrieval"}
_SECTIONS = {"routing": _routing_html, "multi": _multi_html, "kb": _kb_html}


def render_html(report: dict[str, Any]) -> str:
    kind = report["kind"]
    body = "\n".join(_SECTIONS[kind](report))
    title = _TITLES[kind]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>crossdesk · {title}</title>'
        f"<style>{_CSS}</style></head><body><h1>crossdesk · {title}</h1>\n{body}\n</body></html>\n"
    )


def _png(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = report["kind"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if kind == "routing":
        deps = list(report["per_department"])
        for i, metric in enumerate(("precision", "recall", "f1")):
            ax.barh(
                [j * 4 + i for j in range(len(deps))],
                [report["per_department"][d][metric] for d in deps],
                label=metric,
            )
        ax.set_yticks([j * 4 + 1 for j in range(len(deps))], deps)
        acc = report["department_accuracy"]
        ax.set_title(f"department accuracy: strict {acc['strict']:.1%}, lenient {acc['lenient']:.1%}")
        ax.legend()
    elif kind == "multi":
        names = list(report["per_joiner"])
        ax.barh(names, [report["per_joiner"][n] for n in names])
        ax.set_title(f"both departments, no third: {report['both_found_no_third']:.1%}")
    else:
        names = ["recall@5", "recall@10", "mrr@10"]
        ax.barh(names, [report[n] for n in names])
        ax.set_title(f"knowledge retrieval on {report['tasks']} queries")
    ax.set_xlim(0, 1)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)


def write_report(report: dict[str, Any], path: Path | str) -> Path:
    """Write `report` (from evaluate_routing / evaluate_multi / evaluate_kb) as HTML or PNG."""
    path = check_path(path)
    if path.suffix.lower() == ".png":
        _png(report, path)
    else:
        _atomic_write(path, render_html(report).encode("utf-8"))
    return path

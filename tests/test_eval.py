"""`crossdesk eval` and `crossdesk train`: labelled data in, honest numbers and clear errors out.

The tests on public data sets run each command on a small sample and skip when the
data folder is absent (CROSSDESK_EVAL_DATA, default ../shared/data next to the repo).
The rest use small labelled files written here.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CROSSDESK_EVAL_DATA") or ROOT.parent / "shared" / "data")
BANKING77 = DATA / "banking77"
TAU2 = DATA / "tau2_banking_knowledge"
needs_banking77 = pytest.mark.skipif(
    not (BANKING77 / "test.csv").is_file(), reason=f"Banking77 not found in {DATA} (set CROSSDESK_EVAL_DATA)"
)
needs_tau2 = pytest.mark.skipif(
    not (TAU2 / "documents.json").is_file(),
    reason=f"tau2 knowledge not found in {DATA} (set CROSSDESK_EVAL_DATA)",
)

# our own small labelled history: two departments, labels named the way a help desk might
HISTORY = {
    "charged_twice": (
        "billing",
        [
            "I was charged two times for one coffee",
            "the supermarket took my payment twice",
            "double payment for the same taxi ride",
            "my gym fee went out twice this month",
            "same amount debited twice from my account today",
            "you billed me twice for one order",
            "two identical charges from the bookshop",
            "paid once, charged twice at the cinema",
            "the hotel charged my card a second time",
            "duplicate debit for my phone bill",
            "I see the restaurant payment two times",
            "charged twice for a single train ticket",
        ],
    ),
    "missing_refund": (
        "billing",
        [
            "the shop refunded me but the money never arrived",
            "where is the refund for my returned shoes",
            "refund promised a week ago, still nothing",
            "the airline says they refunded me, I can't see it",
            "my refund is missing from my balance",
            "still waiting for the money back from the store",
            "merchant confirmed the refund but it's not in my account",
            "how long until my refund shows up",
            "the refund for my cancelled order hasn't come through",
            "no sign of the refund the seller sent",
            "refund not credited yet after ten days",
            "my money back from the hotel is not here",
        ],
    ),
    "locked_out": (
        "technical",
        [
            "I can't get into the app anymore",
            "the app says my account is locked",
            "login fails even with the right password",
            "I'm locked out after three attempts",
            "sign in doesn't work on my new phone",
            "the website won't let me log in",
            "access blocked when I open the app",
            "can't sign in since this morning",
            "my login keeps getting rejected",
            "the app logs me out and won't let me back in",
            "I cannot access online banking at all",
            "log in button does nothing",
        ],
    ),
}


def write_history(folder: Path, *, jsonl: bool = False) -> tuple[Path, Path]:
    rows = [(text, label) for label, (_, texts) in HISTORY.items() for text in texts]
    if jsonl:
        data = folder / "history.jsonl"
        data.write_text(
            "".join(json.dumps({"message": t, "topic": lab}) + "\n" for t, lab in rows), encoding="utf-8"
        )
    else:
        data = folder / "history.csv"
        with data.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["message", "topic"])
            writer.writerows(rows)
    mapping = folder / "mapping.json"
    mapping.write_text(
        json.dumps({label: {"department": dep} for label, (dep, _) in HISTORY.items()}), encoding="utf-8"
    )
    return data, mapping


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_names_the_column_the_label_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, mapping = write_history(tmp_path)
    base = ["eval", "routing", "--data", str(data), "--mapping", str(mapping)]

    code, _, err = cli(capsys, *base, "--text-col", "text", "--label-col", "topic")
    assert code == 2 and "no text column 'text'" in err and "'message'" in err and "--text-col" in err

    code, _, err = cli(capsys, *base, "--text-col", "message", "--label-col", "category")
    assert code == 2 and "no label column 'category'" in err

    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"charged_twice": "billing", "locked_out": "technical"}), encoding="utf-8")
    code, _, err = cli(
        capsys,
        "eval",
        "routing",
        "--data",
        str(data),
        "--mapping",
        str(partial),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    assert code == 2 and "'missing_refund'" in err and "add them to the mapping" in err

    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({lab: "biling" for lab in HISTORY}), encoding="utf-8")
    code, _, err = cli(
        capsys,
        "eval",
        "routing",
        "--data",
        str(data),
        "--mapping",
        str(typo),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    assert code == 2 and "'biling'" in err and "no loaded plugin" in err

    code, _, err = cli(
        capsys, "eval", "routing", "--data", str(tmp_path / "nope.csv"), "--mapping", str(mapping)
    )
    assert code == 2 and "nope.csv: no such file" in err

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"message": "hi", "topic": "locked_out"}\n{not json\n', encoding="utf-8")
    code, _, err = cli(
        capsys,
        "eval",
        "routing",
        "--data",
        str(broken),
        "--mapping",
        str(mapping),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    assert code == 2 and "line 2" in err and "not valid JSON" in err

    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"message,topic\n\xff\xfe\x00 oops,locked_out\n")
    code, _, err = cli(
        capsys,
        "eval",
        "routing",
        "--data",
        str(binary),
        "--mapping",
        str(mapping),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    assert code == 2 and "not UTF-8" in err
    assert "Traceback" not in err


def test_a_report_that_cannot_be_written_fails_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, mapping = write_history(tmp_path)
    base = [
        "eval",
        "routing",
        "--data",
        str(data),
        "--mapping",
        str(mapping),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    ]
    code, _, err = cli(capsys, *base, "--report", str(tmp_path / "report.pdf"))
    assert code == 2 and ".html or .png" in err
    if importlib.util.find_spec("matplotlib") is None:
        code, _, err = cli(capsys, *base, "--report", str(tmp_path / "chart.png"))
        assert code == 2 and "matplotlib" in err and ".html" in err
        assert not (tmp_path / "chart.png").exists()


# --- routing on our own small history --------------------------------------------------------


def test_routing_report_on_a_small_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, mapping = write_history(tmp_path, jsonl=True)
    report_path = tmp_path / "routing.html"
    report = cli_json(
        capsys,
        "eval",
        "routing",
        "--data",
        str(data),
        "--mapping",
        str(mapping),
        "--text-col",
        "message",
        "--label-col",
        "topic",
        "--report",
        str(report_path),
    )
    assert report["data"]["messages"] == 36 and report["data"]["labels"] == 3
    assert report["router"]["kind"] == "plugins"
    acc = report["department_accuracy"]
    # the plugins' own examples know double charges, refunds and lock-outs
    assert acc["strict"] >= 0.8 and acc["lenient"] >= acc["strict"]
    assert report["intent_accuracy"] is None  # the plugins' intents are not this history's labels
    conf = report["confusion"]
    assert sum(map(sum, conf["matrix"])) == 36
    assert conf["columns"][-2:] == ["(unclear)", "(out of scope)"]
    billing = report["per_department"]["billing"]
    assert billing["support"] == 24 and 0.0 <= billing["precision"] <= 1.0
    assert {r["label"] for r in report["per_label"]} == set(HISTORY)
    html = report_path.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "<svg" in html and "Confusion matrix" in html
    assert "<script" not in html


def test_multi_report_tells_the_parts_own_routing_from_the_joining(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, mapping = write_history(tmp_path)
    report_path = tmp_path / "multi.html"
    args = ["--data", str(data), "--mapping", str(mapping), "--text-col", "message", "--label-col", "topic"]
    report = cli_json(capsys, "eval", "multi", *args, "--limit", "60", "--report", str(report_path))
    assert report["messages"] == 60
    # each message is right with both parts right alone, lost in the joining, or right although a
    # part fails alone; nothing else
    assert report["both_found_no_third"] == pytest.approx(
        report["parts_right_alone"] - report["lost_in_joining"] + report["right_though_a_part_fails_alone"]
    )
    assert report["parts_right_alone"] >= 0.6  # the plugins' examples know these single problems
    for miss in report["failures"]:
        assert len(miss["alone"]) == 2 and miss["got"] != miss["expected"]
    assert "parts alone" in report_path.read_text(encoding="utf-8")
    code, out, _ = cli(capsys, "eval", "multi", *args, "--limit", "20")
    assert code == 0 and "both parts right when sent alone" in out and "lost in the joining" in out


def test_routing_on_one_half_keeps_every_label_and_never_mixes_the_halves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, mapping = write_history(tmp_path)
    base = ["eval", "routing", "--data", str(data), "--mapping", str(mapping)]
    base += ["--text-col", "message", "--label-col", "topic"]
    first = cli_json(capsys, *base, "--half", "1")
    second = cli_json(capsys, *base, "--half", "2")
    sizes = {lab: len(texts) for lab, (_, texts) in HISTORY.items()}
    assert first["data"]["messages"] == sum((n + 1) // 2 for n in sizes.values())
    assert first["data"]["messages"] + second["data"]["messages"] == 36
    assert first["data"]["labels"] == second["data"]["labels"] == 3
    assert {r["label"]: r["n"] for r in second["per_label"]} == {lab: n // 2 for lab, n in sizes.items()}
    # --limit still applies, within the half
    assert cli_json(capsys, *base, "--half", "2", "--limit", "5")["data"]["messages"] == 5
    with pytest.raises(SystemExit) as exc:
        main([*base, "--half", "3"])
    assert exc.value.code == 2 and "--half" in capsys.readouterr().err


# --- train, use, reset -----------------------------------------------------------------------


def test_train_then_triage_reports_labels_and_ask_dispatches_department_intents(
    seeded_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.config import load_settings
    from orchestrator.nlu import Router, load_router
    from orchestrator.nlu.trained import trained_path
    from plugins.manager import load_plugins

    data, mapping = write_history(tmp_path)
    out = cli_json(
        capsys,
        "train",
        "--data",
        str(data),
        "--mapping",
        str(mapping),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    settings, plugins = load_settings(), load_plugins()
    assert Path(out["path"]) == trained_path(settings) and trained_path(settings).is_file()
    assert out["departments_from_history"] == ["billing", "technical"]
    # departments the history never mentions keep the plugins' intents, so they stay reachable
    assert "compliance" in out["departments_from_plugins"]
    assert out["aliases"]["billing.charged_twice"] == "double_charge"
    assert out["aliases"]["technical.locked_out"] == "login_problem"
    assert cli_json(capsys, "train", "--status") == {
        "router": "trained",
        "trained_file": str(trained_path(settings)),
        "encoder": None,
    }
    with pytest.MonkeyPatch.context() as mp:  # a trained router does not use the sentence encoder
        mp.setenv("CROSSDESK_ENCODER", "minilm")
        assert cli_json(capsys, "train", "--status")["encoder"] is None

    labelled = load_router(settings, plugins, labels=True)
    assert set(labelled.departments) == set(plugins.departments)
    ((top,),) = labelled.predict(["you took the money for my coffee twice"], k=1)
    assert top[:2] == ("billing", "charged_twice")
    dispatch = load_router(settings, plugins)
    ((top,),) = dispatch.predict(["you took the money for my coffee twice"], k=1)
    assert top[:2] == ("billing", "double_charge")
    ((top,),) = dispatch.predict(["please erase all the personal data you hold about me"], k=1)
    assert top[0] == "compliance"

    # triage reports the history's labels ...
    import io

    import orchestrator.cli.cmd_triage as triage

    lines = "the app won't let me sign in\n"
    stdin = io.TextIOWrapper(io.BytesIO(lines.encode()), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(triage.sys, "stdin", stdin)
        code, text, err = cli(capsys, "triage")
    assert code == 0, err
    (row,) = [json.loads(line) for line in text.splitlines()]
    assert [(t["department"], t["intent"]) for t in row["tasks"]] == [("technical", "locked_out")]

    # ... and a turn is dispatched with the department's own intent, which it knows how to handle
    code, text, err = cli(
        capsys, "ask", "--json", "--customer", "C1001", "I was charged twice for StreamFlix"
    )
    assert code == 0, err
    turn = json.loads(text)
    assert [(t["department"], t["intent"]) for t in turn["tasks"]] == [("billing", "double_charge")]
    assert turn["tasks"][0]["status"] != "not_mine"

    assert cli_json(capsys, "train", "--reset") == {"reset": True}
    assert not trained_path(settings).exists()
    assert cli_json(capsys, "train", "--status")["router"] == "plugins"
    with pytest.MonkeyPatch.context() as mp:  # ... the plugins' router does, when it is switched on
        mp.setenv("CROSSDESK_ENCODER", "minilm")
        assert cli_json(capsys, "train", "--status")["encoder"] == "all-MiniLM-L6-v2"
    assert isinstance(load_router(settings, plugins), Router)
    assert cli_json(capsys, "train", "--reset") == {"reset": False}


def test_a_trained_router_is_set_aside_when_the_departments_change(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from orchestrator.config import load_settings
    from orchestrator.nlu import load_router
    from orchestrator.nlu.trained import active_router_kind
    from plugins.manager import load_plugins

    data, mapping = write_history(tmp_path)
    cli_json(
        capsys,
        "train",
        "--data",
        str(data),
        "--mapping",
        str(mapping),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    monkeypatch.setenv("CROSSDESK_DISABLE_PLUGINS", "compliance")
    settings = load_settings()
    plugins = load_plugins(disabled=settings.disabled_plugins)
    assert active_router_kind(settings, plugins) == "plugins"
    router = load_router(settings, plugins, labels=True)
    assert "compliance" not in router.departments
    assert "locked_out" not in {c for _, c in router.classes}
    assert "run crossdesk train again" in caplog.text


def test_train_refuses_bad_input_and_keeps_the_previous_router(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.config import load_settings
    from orchestrator.nlu.trained import trained_path

    data, mapping = write_history(tmp_path)
    cli_json(
        capsys,
        "train",
        "--data",
        str(data),
        "--mapping",
        str(mapping),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    path = trained_path(load_settings())
    before = path.read_bytes()
    typo = tmp_path / "typo.json"
    typo.write_text(
        json.dumps({"charged_twice": "billing", "missing_refund": "biling", "locked_out": "technical"})
    )
    code, _, err = cli(
        capsys,
        "train",
        "--data",
        str(data),
        "--mapping",
        str(typo),
        "--text-col",
        "message",
        "--label-col",
        "topic",
    )
    assert code == 2 and "'biling'" in err
    code, _, err = cli(capsys, "train", "--data", str(data))
    assert code == 2 and "--mapping" in err
    code, _, err = cli(capsys, "train", "--reset", "--data", str(data))
    assert code == 2
    assert path.read_bytes() == before


# --- the public data sets (small samples) ----------------------------------------------------


@needs_banking77
def test_eval_routing_on_a_banking77_sample(capsys: pytest.CaptureFixture[str]) -> None:
    report = cli_json(
        capsys,
        "eval",
        "routing",
        "--data",
        str(BANKING77 / "test.csv"),
        "--text-col",
        "text",
        "--label-col",
        "category",
        "--mapping",
        str(BANKING77 / "departments.json"),
        "--limit",
        "200",
    )
    assert report["data"]["messages"] == 200 and report["data"]["rows_in_file"] == 3080
    assert report["data"]["labels"] > 50  # the sample is drawn across the file, not its first rows
    acc = report["department_accuracy"]
    assert 0.75 <= acc["strict"] <= acc["lenient"] <= 1.0
    assert 0.0 <= report["out_of_scope_rate"] <= 0.05
    assert sum(map(sum, report["confusion"]["matrix"])) == 200
    assert set(report["per_department"]) >= {"billing", "compliance", "technical"}
    for m in report["worst_misses"]:
        assert m["expected"] != m["got"].split(".")[0]


@needs_banking77
def test_eval_multi_on_banking77_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    multi = [
        "eval",
        "multi",
        "--data",
        str(BANKING77 / "test.csv"),
        "--text-col",
        "text",
        "--label-col",
        "category",
        "--mapping",
        str(BANKING77 / "departments.json"),
    ]
    report = cli_json(capsys, *multi, "--limit", "100")
    assert report["messages"] == 100
    assert set(report["per_joiner"]) == {"'. Also, '", "' and '", "', plus '", "'\\n'"}
    assert 0.4 <= report["both_found_no_third"] <= report["both_found"] <= 1.0
    assert report["both_found_no_third"] <= report["lenient"]
    # every message is right alone-and-joined, lost in the joining, or a routing miss of a part
    assert report["both_found_no_third"] == pytest.approx(
        report["parts_right_alone"] - report["lost_in_joining"] + report["right_though_a_part_fails_alone"]
    )
    for miss in report["failures"]:
        assert len(miss["alone"]) == 2
    held_out = cli_json(capsys, *multi, "--limit", "40", "--half", "2")
    assert held_out["messages"] == 40


def test_halves_split_every_label_in_file_order(tmp_path: Path) -> None:
    from orchestrator.eval.data import label_half, read_labelled

    path = tmp_path / "h.csv"
    rows = [("a1", "a"), ("b1", "b"), ("a2", "a"), ("a3", "a"), ("b2", "b"), ("a4", "a"), ("b3", "b")]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([("text", "label"), *rows])
    data = read_labelled(path, "text", "label")
    first, second = label_half(data, 1), label_half(data, 2)
    assert first.texts == ["a1", "b1", "a2", "b2"]  # the odd label's extra row goes to the first half
    assert second.texts == ["a3", "a4", "b3"]
    assert second.lines == [5, 7, 8]  # still pointing at the file's lines


@needs_tau2
def test_eval_kb_on_tau2_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kb.html"
    report = cli_json(
        capsys,
        "eval",
        "kb",
        "--docs",
        str(TAU2 / "documents.json"),
        "--tasks",
        str(TAU2 / "tasks.json"),
        "--limit",
        "20",
        "--report",
        str(out),
    )
    assert report["articles"] == 698 and report["tasks"] == 20
    assert 0.0 <= report["recall@5"] <= report["recall@10"] <= 1.0
    assert report["mrr@10"] >= 0.4
    assert report["gold_not_in_articles_count"] == 0
    assert "recall@10" in out.read_text(encoding="utf-8")


@needs_tau2
def test_eval_kb_prior_half_comes_from_the_other_half_only(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", "kb", "--docs", str(TAU2 / "documents.json"), "--tasks", str(TAU2 / "tasks.json")]
    report = cli_json(capsys, *base, "--half", "odd", "--prior-half", "even", "--limit", "8")
    assert report["tasks"] == 8 and report["prior_tasks"] >= 40  # every even task feeds the prior
    for bad in (["--prior-half", "even"], ["--half", "even", "--prior-half", "even"]):
        code, out, err = cli(capsys, *base, *bad)
        assert code == 2 and out == ""
        assert "--prior-half even needs --half odd" in err


def test_kb_tasks_split_into_even_and_odd_positions_of_the_file(tmp_path: Path) -> None:
    from orchestrator.eval.kb import read_tasks

    path = tmp_path / "tasks.json"
    tasks = [{"id": f"t{i}", "question": f"question {i}", "gold": [f"KB-{i}"]} for i in range(5)]
    tasks[2]["gold"] = []  # no gold: skipped, but it still holds its position
    path.write_text(json.dumps(tasks), encoding="utf-8")
    even = read_tasks(path, "question", "gold", half="even")
    odd = read_tasks(path, "question", "gold", half="odd")
    assert [t[0] for t in even] == ["t0", "t4"]
    assert [t[0] for t in odd] == ["t1", "t3"]
    assert odd[1] == ("t3", "question 3", ["KB-3"])


def test_reading_keeps_quoted_line_breaks_skips_empty_texts_and_samples_across_the_file(
    tmp_path: Path,
) -> None:
    from orchestrator.eval.data import read_labelled

    path = tmp_path / "tickets.csv"
    rows = (
        ['"my card\nstopped working",card']
        + [f"message {i},label_{i // 10}" for i in range(100)]
        + ['"",card']
    )
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    data = read_labelled(path, "text", "label")
    assert data.texts[0] == "my card\nstopped working" and data.labels[0] == "card"
    assert len(data) == 101 and data.skipped_empty == 1
    sample = read_labelled(path, "text", "label", limit=20)
    assert len(sample) == 20 and sample.total_rows == 101
    assert sample.lines == sorted(sample.lines)  # file order kept
    assert len(set(sample.labels)) >= 6  # drawn across the file, not its first rows
    assert read_labelled(path, "text", "label", limit=20).texts == sample.texts  # seeded

"""The router learns any departments' intents and says how sure it is."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nlu_fixture import fixture_intents

from orchestrator.nlu import NLU_DEPARTMENT, OUT_OF_SCOPE, Router, RouterError
from orchestrator.nlu.pseudo import PSEUDO_INTENTS
from orchestrator.nlu.router import reliability
from plugins.contracts import Intent

# paraphrases that are not in the fixture's examples
IN_DOMAIN = [
    ("I got billed two times for one coffee", "payments", "double_charge"),
    ("the store owes me my money back, I sent the jacket back", "payments", "refund"),
    ("my card was refused at the bakery this morning", "cards", "card_declined"),
    ("somebody pinched my card on the bus", "cards", "card_lost"),
    ("the app won't accept my sign in since yesterday", "access", "login_problem"),
    ("I have no idea what my password is, I need a new one", "access", "password_reset"),
]
GIBBERISH = ["asdkjh qwe zzz", "qwpoeiruty", "zxcvb nmlkj poiuy", "lorem ipsum dolor sit amet"]
OUT_OF_SCOPE_TEXTS = [
    "what's the weather like in Madrid tomorrow?",
    "tell me a funny joke",
    "who won the match last night",
]


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.fit(fixture_intents())


def test_predict_returns_top_k_sorted_over_all_classes(router: Router) -> None:
    (preds,) = router.predict(["my card was declined at the shop"], k=4)
    assert len(preds) == 4
    probs = [p for _, _, p in preds]
    assert probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert set(router.classes) >= {(d, i) for d, i, _ in preds}
    assert router.departments == ["payments", "cards", "access"]
    assert router.predict([]) == []
    assert router.predict_proba(["x", "y"]).sum(axis=1) == pytest.approx([1.0, 1.0])


def test_in_domain_paraphrases_are_routed_confidently(router: Router) -> None:
    preds = router.predict([t for t, _, _ in IN_DOMAIN], k=1)
    for (text, dep, intent), (top,) in zip(IN_DOMAIN, preds, strict=True):
        assert (top[0], top[1]) == (dep, intent), text
        assert top[2] > 0.6, (text, top)


def test_gibberish_gets_low_department_confidence(router: Router) -> None:
    preds = router.predict(GIBBERISH, k=len(router.classes))
    for text, ranked in zip(GIBBERISH, preds, strict=True):
        best_department = max(p for d, _, p in ranked if d != NLU_DEPARTMENT)
        assert best_department < 0.3, (text, ranked[:3])
    assert router.familiarity(GIBBERISH) == [0.0] * len(GIBBERISH)
    assert min(router.familiarity([t for t, _, _ in IN_DOMAIN])) >= 0.5


def test_out_of_scope_is_recognised(router: Router) -> None:
    for text, (top,) in zip(OUT_OF_SCOPE_TEXTS, router.predict(OUT_OF_SCOPE_TEXTS, k=1), strict=True):
        assert top[:2] == (NLU_DEPARTMENT, OUT_OF_SCOPE), text
        assert top[2] > 0.5


def test_held_out_calibration_is_recorded(router: Router) -> None:
    info = router.info
    ours = sum(len(i.examples) for i in PSEUDO_INTENTS)
    assert info["examples"] == sum(len(i.examples) for _, i in fixture_intents()) + ours
    assert 0.7 <= info["cv_accuracy"] <= 1.0
    assert info["cv_ece"] < 0.15  # confidence tracks accuracy on examples the model did not see
    assert info["languages"]["en"] == info["examples"]


def test_training_is_deterministic(router: Router) -> None:
    again = Router.fit(fixture_intents())
    texts = [t for t, _, _ in IN_DOMAIN] + GIBBERISH
    assert (again.predict_proba(texts) == router.predict_proba(texts)).all()


def test_a_turns_few_spans_score_exactly_as_a_large_batch(router: Router) -> None:
    """Small calls take the fast scorer (orchestrator.nlu.fastscore), large ones scikit-learn."""
    import numpy as np

    from orchestrator.nlu.fastscore import FAST_BATCH

    texts = [
        "I was charged twice for the same coffee",
        "the app crashes when I open it and I can't log in",
        "please delete all my personal data",
        "qwzx vbnm plok",  # words the router never saw: the intercepts only
        "",
        "我的卡被扣了两次钱",
        "Why did my transfer fail?? €40 to account 12345",
    ]
    batch = texts * (FAST_BATCH // len(texts) + 2)
    assert len(batch) > FAST_BATCH
    slow = router.predict_proba(batch)[: len(texts)]
    fast = np.vstack([router.predict_proba([t]) for t in texts])
    # equal up to float32 rounding (the embeddings' precision; BLAS rounds by batch shape too)
    assert np.allclose(fast, slow, rtol=1e-5, atol=1e-7)
    assert np.allclose(router.predict_proba(texts), slow, rtol=1e-5, atol=1e-7)
    assert (fast.argmax(axis=1) == slow.argmax(axis=1)).all()


def test_reliability_table() -> None:
    rel = reliability([0.95, 0.9, 0.2, 0.25], [True, True, False, True])
    assert rel["n"] == 4 and rel["accuracy"] == 0.75
    assert [b["n"] for b in rel["bins"]] == [2, 2]
    assert rel["ece"] == pytest.approx(0.5 * abs(0.925 - 1.0) + 0.5 * abs(0.225 - 0.5), abs=1e-4)
    assert reliability([], [])["n"] == 0


def test_cache_hit_skips_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Router.load_or_fit(fixture_intents(), tmp_path)
    files = list(tmp_path.glob("router-*.joblib"))
    assert len(files) == 1
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind

    def no_training(*args: object, **kwargs: object) -> Router:
        raise AssertionError("a cache hit must not retrain")

    monkeypatch.setattr(Router, "fit", classmethod(no_training))
    second = Router.load_or_fit(fixture_intents(), tmp_path)
    texts = [t for t, _, _ in IN_DOMAIN]
    assert (second.predict_proba(texts) == first.predict_proba(texts)).all()
    assert second.key == first.key


def test_changed_examples_miss_the_cache(tmp_path: Path) -> None:
    Router.load_or_fit(fixture_intents(), tmp_path)
    changed = fixture_intents()
    dep, intent = changed[0]
    changed[0] = (
        dep,
        intent.model_copy(update={"examples": (*intent.examples, "charged two times at the zoo")}),
    )
    router = Router.load_or_fit(changed, tmp_path)
    assert len(list(tmp_path.glob("router-*.joblib"))) == 2
    assert router.key != Router.fit(fixture_intents()).key


def test_old_cache_files_are_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestrator.nlu.router as router_module

    monkeypatch.setattr(router_module, "CACHE_KEEP", 1)
    Router.load_or_fit(fixture_intents(), tmp_path)
    changed = fixture_intents()[1:]
    newest = Router.load_or_fit(changed, tmp_path)
    (kept,) = tmp_path.glob("router-*.joblib")
    assert Router.load(kept).key == newest.key


def test_corrupt_cache_is_retrained_and_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    Router.load_or_fit(fixture_intents(), tmp_path)
    (path,) = tmp_path.glob("router-*.joblib")
    path.write_bytes(b"not a pickle at all")
    with caplog.at_level(logging.WARNING, logger="orchestrator.nlu.router"):
        router = Router.load_or_fit(fixture_intents(), tmp_path)
    assert "unusable" in caplog.text
    assert router.predict(["I lost my card"], k=1)[0][0][1] == "card_lost"
    assert Router.load(path).key == router.key  # the file was rewritten and is readable again


def test_load_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RouterError, match="train one first"):
        Router.load(tmp_path / "missing.joblib")
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(RouterError, match="retrain"):
        Router.load(bad)


def test_fit_labelled_history_round_trips(tmp_path: Path) -> None:
    texts: list[str] = []
    labels: list[str] = []
    for dep, intent in fixture_intents():
        texts.extend(intent.examples)
        labels.extend([f"{dep}:{intent.name}"] * len(intent.examples))
    mapping = {f"{d}:{i.name}": d for d, i in fixture_intents()}
    router = Router.fit_labelled(texts, labels, mapping)
    (top,) = router.predict(["somebody pinched my card on the bus"], k=1)[0]
    assert top[:2] == ("cards", "cards:card_lost")
    saved = router.save(tmp_path / "sub" / "mine.joblib")
    loaded = Router.load(saved)
    assert loaded.classes == router.classes
    assert (loaded.predict_proba(texts[:5]) == router.predict_proba(texts[:5])).all()


def test_fit_labelled_rejects_bad_input() -> None:
    with pytest.raises(RouterError, match="one label per text"):
        Router.fit_labelled(["a", "b"], ["x"], {"x": "cards"})
    with pytest.raises(RouterError, match="without a department: y"):
        Router.fit_labelled(["a", "b"], ["x", "y"], {"x": "cards"})
    with pytest.raises(RouterError, match="no non-empty"):
        Router.fit_labelled(["  "], ["x"], {"x": "cards"})


def test_fit_rejects_bad_intents() -> None:
    with pytest.raises(RouterError, match="at least one department"):
        Router.fit([])
    reserved = Intent(name="x", description="x", examples=("a b c",) * 5)
    with pytest.raises(RouterError, match="reserved"):
        Router.fit([(NLU_DEPARTMENT, reserved)])
    with pytest.raises(RouterError, match="given twice"):
        Router.fit([("cards", reserved), ("cards", reserved)])


def test_predict_wants_a_list_of_strings(router: Router) -> None:
    with pytest.raises(TypeError, match="list of texts"):
        router.predict("my card")
    with pytest.raises(TypeError, match="strings"):
        router.predict([None])  # type: ignore[list-item]


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, logging, orchestrator.nlu\n"
        "heavy = [m for m in ('numpy', 'sklearn', 'wordllama', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from orchestrator.nlu.router import embed\n"
        "embed(['hello'])\n"
        # wordllama configures root logging on import; the router must undo that
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr

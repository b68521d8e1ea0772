"""The crossdesk conformance kit, run against the claims department."""

from pathlib import Path

from plugins.conformance import assert_conformant

import crossdesk_claims


def test_claims_passes_the_conformance_kit(tmp_path: Path) -> None:
    report = assert_conformant(crossdesk_claims, workdir=tmp_path)
    assert report.departments == ("claims",)


def test_every_example_reads_as_a_claims_message() -> None:
    from crossdesk_claims.cues import is_claims_text
    from crossdesk_claims.intents import INTENTS

    missed = [e for intent in INTENTS for e in intent.examples if not is_claims_text(e)]
    assert missed == []

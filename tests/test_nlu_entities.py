"""Entity extraction: amounts, dates, masked card/account references, ids and countries."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from orchestrator.nlu.entities import extract

NOW = date(2026, 3, 11)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("I was charged €12.50", 12.5, "EUR"),
        ("they took 12,50 EUR", 12.5, "EUR"),
        ("a payment of $1,200 left", 1200.0, "USD"),
        ("GBP 40 is missing", 40.0, "GBP"),
        ("I lost 40 quid", 40.0, "GBP"),
        ("¥300 was taken", 300.0, "CNY"),
        ("扣了我300元", 300.0, "CNY"),
        ("S$20 fee", 20.0, "SGD"),
        ("1.200,50 € was debited", 1200.5, "EUR"),
        ("I sent 5万元", 50000.0, "CNY"),
        ("I want to move 15k", 15000.0, None),
        ("they charged 20 dollars", 20.0, "USD"),
    ],
)
def test_money_in_many_notations(text: str, amount: float, currency: str | None) -> None:
    (money,) = extract(text).amounts
    assert money.amount == amount
    assert money.currency == currency
    assert money.text in text


@pytest.mark.parametrize("text", ["I called 3 times", "it took 12 months", "order 5 items", "walk 5 m"])
def test_bare_numbers_are_not_money(text: str) -> None:
    assert extract(text).amounts == ()


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("on 2026-03-01", "2026-03-01"),
        ("on 3 March", "2026-03-03"),
        ("March 3rd, 2025", "2025-03-03"),
        ("on 03/04/2026", "2026-04-03"),  # day first by default
        ("on 25/12/2025", "2025-12-25"),
        ("yesterday", "2026-03-10"),
        ("today", "2026-03-11"),
        ("last Friday", "2026-03-06"),
        ("2 days ago", "2026-03-09"),
        ("昨天", "2026-03-10"),
        ("3月5日", "2026-03-05"),
        ("上周五", "2026-03-06"),
        ("ayer", "2026-03-10"),
        ("el viernes pasado", "2026-03-06"),
        ("el 12 de marzo de 2025", "2025-03-12"),
    ],
)
def test_dates_resolve_to_iso_against_now(text: str, iso: str) -> None:
    assert extract(text, now=NOW).dates == (iso,)


def test_dates_accept_a_datetime_and_month_first_order() -> None:
    assert extract("yesterday", now=datetime(2026, 1, 1, 9, 30)).dates == ("2025-12-31",)
    assert extract("on 03/04/2026", now=NOW, day_first=False).dates == ("2026-03-04",)
    assert extract("on 31/02/2026", now=NOW).dates == ()  # not a real day


def test_card_numbers_are_masked() -> None:
    ents = extract("My card 4111 1111 1111 1111 was charged, also the card ending 1234 and 尾号5678")
    assert ents.card_refs == ("****1111", "****1234", "****5678")


def test_ibans_and_account_numbers_are_masked() -> None:
    ents = extract("Send it to IBAN GB82 WEST 1234 5698 7654 32 or account number 12345678")
    assert ents.account_refs == ("IBAN ****5432", "account ****5678")


def test_no_extractor_echoes_a_full_card_number_or_iban() -> None:
    text = (
        "invoice 4111111111111111 is wrong, transaction id 5500005555555559, pay ES9121000418450200051332 "
        "and my card 4000-0566-5566-5556 paid €5"
    )
    dumped = extract(text).model_dump_json()
    assert not re.search(r"\d{9,}", dumped.replace(" ", "").replace("-", ""))
    assert "****1111" in dumped and "IBAN ****1332" in dumped and "****5556" in dumped


def test_invoice_and_transaction_ids() -> None:
    ents = extract(
        "invoice #123 and INV-2024-001, transaction id ABC12345, TX-99881, transaction reference 5566778"
    )
    assert ents.invoice_ids == ("123", "INV-2024-001")
    assert ents.transaction_ids == ("ABC12345", "TX-99881", "5566778")
    assert extract("the invoice for my rent is wrong").invoice_ids == ()


def test_countries_by_name_and_code() -> None:
    ents = extract("I moved from China to Spain, now in Singapore with UK and US cards; 中国 España 美国")
    assert ents.countries == ("CN", "ES", "SG", "GB", "US")


def test_country_codes_are_ignored_in_shouted_text() -> None:
    assert extract("MY CARD DOES NOT WORK IN THE US AND IT IS ANNOYING").countries == ()
    assert extract("please help us").countries == ()


def test_plain_text_has_no_entities() -> None:
    assert extract("my app keeps crashing", now=NOW).model_dump(exclude_defaults=True) == {}

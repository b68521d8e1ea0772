"""Personal-data detection and masking: checksummed numbers, contact details, ids, context."""

from __future__ import annotations

import pytest

from policies.pii import KINDS, categories, find_pii, luhn_ok, mask, mask_data


def kinds_in(text: str) -> list[str]:
    return [m.kind for m in find_pii(text)]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 4242 4242 4242 4242 please", "card ****4242 please"),
        ("my card is 4111-1111-1111-1111.", "my card is ****1111."),
        ("amex 3782 822463 10005 was declined", "amex ****0005 was declined"),
        ("two cards 5555555555554444 and 4012888888881881", "two cards ****4444 and ****1881"),
    ],
)
def test_card_numbers_keep_only_the_last_four(text: str, masked: str) -> None:
    assert mask(text) == masked
    assert categories(text) == {"card_number"}


def test_numbers_that_fail_luhn_or_have_no_card_prefix_are_left_alone() -> None:
    assert not luhn_ok("4242424242424241")
    for text in (
        "card 4242 4242 4242 4241",  # Luhn fails
        "order 1234567890123",  # 13 digits, not an issuer prefix
        "reference 9999 9999 9999 9995",  # Luhn-valid, no issuer starts with 9
        "I paid 1,234.56 EUR on 2024-05-01 for invoice INV-20240501 (TX-99812)",
    ):
        assert find_pii(text) == [], text


def test_a_card_number_followed_by_a_year_is_still_found() -> None:
    text = "card 4111 1111 1111 1111 2025 expiry"
    assert mask(text) == "card ****1111 2025 expiry"


@pytest.mark.parametrize(
    "iban",
    ["DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819", "FR14 2004 1010 0505 0001 3M02 606"],
)
def test_ibans_with_a_valid_checksum_are_masked(iban: str) -> None:
    text = f"please send it to {iban} today"
    assert categories(text) == {"iban"}
    tail = iban.replace(" ", "")[-4:]
    assert mask(text) == f"please send it to ****{tail} today"


def test_an_iban_with_a_wrong_checksum_is_not_reported() -> None:
    assert "iban" not in categories("IBAN DE88 3704 0044 0532 0130 00")


def test_emails_and_phone_numbers_in_many_formats() -> None:
    text = (
        "Mail ana.lopez+bank@example.co.uk, or call +34 612 345 678, (415) 555-0132, 415-555-0132, "
        "07700 900123, 020 7946 0958, 13812345678 or 9123 4567."
    )
    assert mask(text) == (
        "Mail [email], or call [phone], [phone], [phone], [phone], [phone], [phone] or [phone]."
    )


def test_dates_and_amounts_are_not_phone_numbers() -> None:
    assert find_pii("Paid 2024-05-01, 12.05.2024 and 1 250,00 EUR; balance 3500") == []


def test_national_ids() -> None:
    assert kinds_in("SSN 123-45-6789") == ["ssn"]
    assert kinds_in("my social security number is 123456789") == ["ssn"]
    assert kinds_in("SSN 000-12-3456") == []  # never issued
    assert kinds_in("NI number AB 12 34 56 C") == ["uk_nino"]
    assert kinds_in("id 11010519491231002X") == ["cn_resident_id"]
    assert kinds_in("id 110105194912310021") == []  # wrong check digit
    assert kinds_in("NRIC S1234567D") == ["sg_nric"]
    assert kinds_in("NRIC S1234567A") == []  # wrong check letter


def test_dates_of_birth_only_in_context() -> None:
    text = "My date of birth is 17/05/1944 and I was born on May 17, 1944. The charge was on 17/05/2024."
    assert mask(text) == (
        "My date of birth is [date_of_birth] and I was born on [date_of_birth]. The charge was on 17/05/2024."
    )


def test_street_addresses_and_postcodes() -> None:
    assert mask("I moved to 221B Baker Street, London NW1 6XE") == "I moved to [address], London [address]"
    assert categories("Wohnung in der Hauptstraße 12") == {"address"}


def test_mask_can_be_limited_to_some_kinds() -> None:
    text = "card 4242424242424242, mail a@b.io"
    assert mask(text, kinds=["email"]) == "card 4242424242424242, mail [email]"
    with pytest.raises(ValueError, match="unknown personal-data kind"):
        mask(text, kinds=["passport"])


def test_matches_are_ordered_and_never_overlap() -> None:
    text = "IBAN GB29NWBK60161331926819, card 4242424242424242, phone +44 20 7946 0958"
    matches = find_pii(text)
    assert [m.kind for m in matches] == ["iban", "card_number", "phone"]
    for a, b in zip(matches, matches[1:], strict=False):
        assert a.end <= b.start


def test_mask_data_walks_nested_values() -> None:
    data = {"reply": "sent to a@b.io", "tags": ["4242424242424242", 3], "n": 1.5}
    assert mask_data(data) == {"reply": "sent to [email]", "tags": ["****4242", 3], "n": 1.5}


def test_text_without_digits_or_at_signs_has_no_personal_data() -> None:
    assert find_pii("I was charged twice and my app keeps crashing") == []
    assert set(KINDS) >= {"card_number", "iban", "email", "phone", "ssn", "uk_nino", "cn_resident_id"}

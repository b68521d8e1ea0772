"""Splitting a message into sub-issue spans that point back into the original text."""

from __future__ import annotations

import pytest

from orchestrator.nlu.split import MAX_SPANS, split


def texts(message: str) -> list[str]:
    spans = split(message)
    for s in spans:
        assert message[s.start : s.end] == s.text  # offsets index the original message
    return [s.text for s in spans]


def test_sentences_and_new_problem_markers_become_separate_spans() -> None:
    msg = "Hi! I was charged twice for my subscription. Also the app keeps crashing when I log in."
    assert texts(msg) == [
        "Hi! I was charged twice for my subscription.",  # the short greeting stays attached
        "Also the app keeps crashing when I log in.",
    ]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "My card was declined at the shop and I also need to update my address",
            ["My card was declined at the shop", "I also need to update my address"],
        ),
        (
            "I was charged twice; the app crashes on login",
            ["I was charged twice", "the app crashes on login"],
        ),
        (
            "my card is blocked, plus my transfer to Spain never arrived",
            ["my card is blocked", "my transfer to Spain never arrived"],
        ),
        (
            "Mi tarjeta no funciona y también quiero saber por qué me cobraron dos veces",
            ["Mi tarjeta no funciona", "quiero saber por qué me cobraron dos veces"],
        ),
        ("我的卡被冻结了，还有转账一直失败", ["我的卡被冻结了", "转账一直失败"]),
    ],
)
def test_clause_markers_split_when_both_sides_are_requests(message: str, expected: list[str]) -> None:
    assert texts(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        "I want to cancel and get a refund",
        "freeze my card and send me a new one",
        "I ordered a card and it has not arrived yet",
        "I paid 40 quid plus fees",
        "charged by Amazon and eBay",
    ],
)
def test_one_request_joined_by_and_stays_whole(message: str) -> None:
    assert texts(message) == [message]


def test_abbreviations_decimals_and_ids_do_not_end_sentences() -> None:
    msg = "My payment of $1.50 failed, e.g. at the shop. I moved to the U.S. last year. Please check invoice no. 123 again."
    assert texts(msg) == [
        "My payment of $1.50 failed, e.g. at the shop.",
        "I moved to the U.S. last year.",
        "Please check invoice no. 123 again.",
    ]


def test_newlines_and_cjk_terminators_end_sentences() -> None:
    assert texts("my card is lost\nthe app crashes all the time") == [
        "my card is lost",
        "the app crashes all the time",
    ]
    assert texts("我的卡被冻结了。转账一直失败！") == ["我的卡被冻结了。", "转账一直失败！"]


def test_short_fragments_attach_to_a_neighbour() -> None:
    assert texts("My card was declined at the shop. Help please!") == [
        "My card was declined at the shop. Help please!"
    ]
    assert texts("Thanks!") == ["Thanks!"]


@pytest.mark.parametrize("message", ["", "   ", "\n\t\n", "\x00\x01"])
def test_empty_input_gives_no_spans(message: str) -> None:
    assert split(message) == []


def test_long_input_is_capped_and_the_tail_merged() -> None:
    msg = "My card was declined and I need help. " * 3000  # about 114 KB
    spans = split(msg)
    assert len(spans) == MAX_SPANS
    assert spans[-1].end == len(msg.rstrip())  # nothing is lost: the tail is in the last span
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def test_max_spans_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_spans"):
        split("hello", max_spans=0)


def test_a_bare_comma_before_a_new_subject_is_a_soft_cut() -> None:
    text = "I was charged twice for StreamFlix this month, the app won't let me log in since yesterday"
    spans = split(text)
    assert [s.text for s in spans] == [
        "I was charged twice for StreamFlix this month",
        "the app won't let me log in since yesterday",
    ]
    assert [s.soft for s in spans] == [False, True]


def test_a_short_question_pointing_back_stays_with_its_sentence() -> None:
    text = "The 480 to Harbour Lettings has been pending for days, when will it arrive? My card is broken."
    spans = [s.text for s in split(text)]
    assert spans[0].endswith("when will it arrive?")
    assert spans[-1] == "My card is broken."


def test_also_inside_a_clause_is_not_a_cut() -> None:
    spans = [s.text for s in split("My transfer failed, my card was also declined at the shop")]
    assert "my card was also declined at the shop" in spans[-1]
    assert not any(s.strip() == "my card was" for s in spans)


def test_an_imperative_after_and_starts_a_new_request_after_a_full_first_one() -> None:
    spans = split("Please delete my personal data and cancel my subscription")
    assert [s.text for s in spans] == ["Please delete my personal data", "cancel my subscription"]
    assert spans[1].soft and spans[1].comma  # merged back unless it is clearly a different problem


def test_the_last_line_of_a_message_is_a_new_line_not_a_sentence_of_the_line_before() -> None:
    text = "Can I change money into another currency?\nMy card is gone, I think it was stolen"
    spans = split(text, attach_pointing_back=False)
    assert [s.text for s in spans] == [
        "Can I change money into another currency?",
        "My card is gone, I think it was stolen",
    ]
    assert not spans[1].sentence


def test_a_line_pointing_back_is_a_soft_cut_but_not_a_bare_comma() -> None:
    spans = split(
        "Where do I activate my new card?\nI did not make this payment.", attach_pointing_back=False
    )
    assert [s.text for s in spans] == ["Where do I activate my new card?", "I did not make this payment."]
    assert spans[1].soft and not spans[1].comma  # another department's problem on a new line stays split


@pytest.mark.parametrize(
    "message",
    [
        "If I am abroad, how do I change my PIN?",
        "When I tried to pay online, my card was declined",
        "Until the new card comes, can I use a virtual one?",
    ],
)
def test_a_leading_condition_or_scene_is_not_cut_at_its_comma(message: str) -> None:
    assert texts(message) == [message]


def test_any_and_may_join_two_problems_as_a_weak_cut() -> None:
    spans = split("Do I need to verify my identity every time and contactless isn't working for me")
    assert [s.text for s in spans] == [
        "Do I need to verify my identity every time",
        "contactless isn't working for me",
    ]
    assert spans[1].soft and not spans[1].comma


@pytest.mark.parametrize(
    "message",
    [
        "I paid with my card in a shop and was charged an extra fee",
        "I tried to send money to my brother and it was declined",
        "I was at the cash machine today and withdrew less than I asked",
    ],
)
def test_and_going_on_with_the_same_subject_is_not_a_cut(message: str) -> None:
    assert texts(message) == [message]


def test_what_happened_next_after_a_comma_is_a_weak_cut() -> None:
    spans = split(
        "The ATM didn't give me any cash but I was debited 100 pounds, and now the machine has kept my card."
    )
    assert [s.text for s in spans] == [
        "The ATM didn't give me any cash but I was debited 100 pounds",
        "the machine has kept my card.",
    ]
    assert spans[1].soft and not spans[1].comma  # merged back unless another department's problem
    assert texts("Got charged twice at Tesco, then my card stopped working at the ATM.") == [
        "Got charged twice at Tesco",
        "my card stopped working at the ATM.",
    ]
    # without the comma "and now" goes on with the same story: no cut
    assert texts("I entered the wrong pin too many times and now I am blocked") == [
        "I entered the wrong pin too many times and now I am blocked"
    ]


def test_an_inline_numbered_list_is_cut_at_each_number() -> None:
    assert texts("1) refund the duplicate Uber charge 2) reset my password") == [
        "1) refund the duplicate Uber charge",
        "reset my password",
    ]
    assert texts("My limit under Art. 22(3) is what?") == ["My limit under Art. 22(3) is what?"]


def test_a_short_fragment_opening_a_line_goes_with_the_rest_of_its_line() -> None:
    text = "How do I get a virtual card?\nHelp me. There is a direct debit I never set up."
    assert texts(text) == [
        "How do I get a virtual card?",
        "Help me. There is a direct debit I never set up.",
    ]

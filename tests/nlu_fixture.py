"""Three small made-up departments for the NLU tests: the router must learn any plugin's intents."""

from __future__ import annotations

from plugins.contracts import Intent

PAYMENTS = [
    Intent(
        name="double_charge",
        description="Charged twice for one purchase",
        examples=(
            "I was charged twice for the same order",
            "the shop took my money two times",
            "there are two identical payments on my statement",
            "you billed me double for one purchase",
            "duplicate charge for my groceries yesterday",
            "the same payment went out twice this morning",
            "my subscription was taken two times this month",
            "why do I see the restaurant bill twice",
            "one purchase but two debits on my account",
            "I paid once and got charged again",
            "the taxi fare was deducted twice",
            "double payment for the same hotel night",
        ),
    ),
    Intent(
        name="refund",
        description="Wants money back for a purchase",
        examples=(
            "I want a refund for my order",
            "how do I get my money back from the shop",
            "please give me back the money for the cancelled flight",
            "the merchant promised a refund but I never got it",
            "can you reverse this purchase and refund me",
            "I returned the item, where is my refund",
            "refund the fee you took from me",
            "I need my money back for a faulty product",
            "how long does a refund take to arrive",
            "the seller won't refund me, can you help",
            "I'd like to claim my money back for this payment",
            "get me a refund for the concert tickets",
        ),
    ),
]
CARDS = [
    Intent(
        name="card_declined",
        description="A card payment was refused",
        examples=(
            "my card was declined at the supermarket",
            "the payment terminal refused my card",
            "why does my card keep getting rejected",
            "card declined when paying online",
            "my card doesn't work in shops anymore",
            "the cashier said my card was refused",
            "contactless payment failed with my card",
            "I can't pay with my card, it says declined",
            "my card got rejected at the petrol station",
            "every purchase with my card is being declined",
            "online checkout keeps refusing my card",
            "the restaurant couldn't take my card, declined again",
        ),
    ),
    Intent(
        name="card_lost",
        description="A card was lost or stolen",
        examples=(
            "I lost my card",
            "my card was stolen from my bag",
            "I can't find my card anywhere, please block it",
            "someone took my wallet with my card in it",
            "freeze my card, I think I dropped it",
            "my card is missing since yesterday",
            "I left my card in a taxi",
            "my purse was stolen, cancel my card",
            "block my card right now, it's gone",
            "my card has been lost abroad",
            "I need a replacement because my card was stolen",
            "lost my debit card on the train",
        ),
    ),
]
ACCESS = [
    Intent(
        name="login_problem",
        description="Cannot sign in to the app",
        examples=(
            "I can't log in to the app",
            "the app won't let me sign in",
            "login keeps failing on my phone",
            "I'm locked out of my account online",
            "it says my credentials are wrong when I sign in",
            "I cannot access the app since the update",
            "the login screen just spins forever",
            "my fingerprint login stopped working",
            "can't get into online banking",
            "sign in error every time I open the app",
            "the app logs me out and won't let me back in",
            "I keep getting an error at login",
        ),
    ),
    Intent(
        name="password_reset",
        description="Wants to reset or change a password",
        examples=(
            "I forgot my password",
            "how do I reset my password",
            "I want to change my password",
            "the password reset email never arrives",
            "reset my passcode please",
            "I need a new password for the app",
            "my password expired, how do I set a new one",
            "where can I change my login password",
            "the reset password link doesn't work",
            "I don't remember my password anymore",
            "help me recover my password",
            "can I update my password from the app",
        ),
    ),
]

DEPARTMENTS = {"payments": PAYMENTS, "cards": CARDS, "access": ACCESS}


def fixture_intents() -> list[tuple[str, Intent]]:
    return [(dep, intent) for dep, intents in DEPARTMENTS.items() for intent in intents]

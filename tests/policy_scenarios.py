"""Backend set-ups the policy and takeover scenario tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from orchestrator.backend import queries
from orchestrator.backend.models import Transaction


def add_duplicate_charge(orch: Any, customer_id: str, amount: str, merchant: str, prefix: str) -> None:
    """Two identical card payments a minute apart (`{prefix}-1`, `{prefix}-2`): the second is a
    duplicate the billing department refunds in full."""
    with Session(orch.engine) as s:
        account = queries.accounts(s, customer_id)[0]
        card = queries.cards(s, customer_id)[0]
        when = datetime.now(UTC) - timedelta(hours=3)
        for i in (1, 2):
            s.add(
                Transaction(
                    id=f"{prefix}-{i}",
                    customer_id=customer_id,
                    account_id=account.id,
                    card_id=card.id,
                    amount=-Decimal(amount),
                    currency=account.currency,
                    merchant=merchant,
                    kind="card_payment",
                    created_at=when + timedelta(minutes=i),
                )
            )
        s.commit()

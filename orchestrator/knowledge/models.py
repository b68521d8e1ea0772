"""Tables of the shared knowledge store, and the validated shape of an incoming article.

Tables are prefixed ``kb_`` so they never clash with other stores in the shared database.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import JSON, Column, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

ALL_JURISDICTIONS = "*"
# "EU", "UK", "US", "US-CA", "SG" ...: a region code, optionally with a sub-region
_JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_DEPARTMENT = re.compile(r"^[a-z][a-z0-9_]*$")
# permissive on purpose: KB exports use ids such as "doc_accounts_(general)_001"
_ARTICLE_ID = re.compile(r"^[^\s\x00-\x1f]{1,200}$")


def utcnow() -> datetime:
    # this SQLModel stores timezone-aware datetimes as UTC and refuses naive ones
    return datetime.now(UTC)


class Article(SQLModel, table=True):
    __tablename__ = "kb_article"

    id: str = SQLField(primary_key=True)  # "KB-BIL-001"
    title: str
    body: str = SQLField(sa_column=Column(Text, nullable=False))
    department: str = SQLField(index=True)
    # ["*"] means every jurisdiction
    jurisdictions: list[str] = SQLField(default_factory=lambda: ["*"], sa_column=Column(JSON, nullable=False))
    valid_from: date | None = None
    valid_to: date | None = None  # last day the article applies; None: open-ended
    version: int = 1
    tags: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    source: str = ""  # the file the article was loaded from
    updated_at: datetime = SQLField(default_factory=utcnow)


class CaseNoteRow(SQLModel, table=True):
    __tablename__ = "kb_case_note"

    id: int | None = SQLField(default=None, primary_key=True)
    customer_id: str | None = SQLField(default=None, index=True)
    conversation_id: str | None = SQLField(default=None, index=True)
    department: str
    kind: str = SQLField(index=True)
    subject: str = SQLField(default="", index=True)
    text: str = SQLField(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = SQLField(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = SQLField(default_factory=utcnow, index=True)


def _as_list(value: Any) -> Any:
    """Front matter often says `tags: fees, card` or `jurisdictions: EU`; accept both forms."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ArticleIn(BaseModel):
    """An article as a loader or a caller hands it to the store, validated before anything is written."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1)
    department: str
    jurisdictions: list[str] = Field(default_factory=lambda: [ALL_JURISDICTIONS], min_length=1)
    valid_from: date | None = None
    valid_to: date | None = None
    tags: list[str] = Field(default_factory=list)
    source: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ARTICLE_ID.match(value):
            raise ValueError("must be 1-200 characters without spaces, e.g. KB-BIL-001")
        return value

    @field_validator("department")
    @classmethod
    def _department(cls, value: str) -> str:
        value = value.lower()
        if not _DEPARTMENT.match(value):
            raise ValueError("must be a lower-case name such as billing, compliance, technical or general")
        return value

    @field_validator("jurisdictions", mode="before")
    @classmethod
    def _jurisdictions_in(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("jurisdictions")
    @classmethod
    def _jurisdictions(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for item in value:
            code = item.strip().upper()
            if code != ALL_JURISDICTIONS and not _JURISDICTION.match(code):
                raise ValueError(f"{item!r} is not a jurisdiction code; use codes like EU, UK, US-CA or '*'")
            if code not in out:
                out.append(code)
        if ALL_JURISDICTIONS in out and len(out) > 1:
            raise ValueError("'*' already means every jurisdiction; list either '*' or specific codes")
        return out

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_in(cls, value: Any) -> Any:
        value = _as_list(value)
        if value is None:
            return []
        if isinstance(value, list):
            # YAML reads `tags: [fees, 12363]` with a number in it; a tag is text either way
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(t.strip().lower() for t in value if t.strip()))

    @field_validator("valid_to")
    @classmethod
    def _window(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value < start:
            raise ValueError(f"{value} is before valid_from {start}")
        return value

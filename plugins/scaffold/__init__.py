"""`crossdesk plugin new`: generate an installable department package from the templates in template/.

Templates are plain files ending in ``.tmpl`` with ``string.Template``
placeholders; ``__package__`` and ``__name__`` in a path become the package and
department names. The package is written to a temporary folder next to its
destination and moved into place at the end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATE_ROOT = Path(__file__).parent / "template"
NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_NAME = 30
MAX_DESCRIPTION = 200
# names the knowledge store and the orchestrator already use for something else
RESERVED = frozenset(
    {"general", "human", "policy", "orchestrator", "supervisor", "crossdesk", "plugins", "test"}
)

QUESTION_TEMPLATES = (
    "how does {w} work?",
    "I have a question about {w}",
    "can you explain the {w} rules to me",
    "what are the conditions for {w} in my country",
    "where can I read more about {w}",
    "who is eligible for {w}?",
    "tell me more about {w} please",
    "what exactly does {w} include",
    "I'm a bit confused by how {w} is handled",
    "quick question on {w}",
    "do you offer {w} to customers living abroad",
    "what happens to my {w} if I move to another country?",
    "explain {w} to me like I'm new here",
    "Hi, I'd like some information on {w}",
    "what are the limits on {w}",
    "is {w} available on every plan",
    "{W}: how long does it usually take?",
    "I read something about {w} in your newsletter, what is it",
)
REQUEST_TEMPLATES = (
    "I want to start a {w} request",
    "please open a {w} case for me",
    "can you set up {w} on my profile",
    "sign me up for {w}",
    "I need help with my {w} today",
    "something went wrong with my {w}, please sort it out",
    "my {w} request has been stuck for a week",
    "can someone follow up on my {w}",
    "withdraw my {w} request please",
    "I'd like to change the details of my {w}",
    "where are we with my {w} request?",
    "Please raise a {w} ticket, it is urgent",
    "I was told to contact you about {w}",
    "help me submit a {w} application",
    "update my {w} preferences",
    "my {w} isn't doing what it should",
    "could you check on my {w} for me",
)


class ScaffoldError(Exception):
    """The name or destination is unusable; the message says what to do instead."""


@dataclass(frozen=True)
class Names:
    """Every spelling of one department name the templates use."""

    name: str  # gift_cards: the department and entry-point name
    package: str  # crossdesk_gift_cards
    dist: str  # crossdesk-gift-cards
    words: str  # gift cards
    class_name: str  # GiftCards

    @classmethod
    def of(cls, name: str) -> Names:
        return cls(
            name=name,
            package=f"crossdesk_{name}",
            dist=f"crossdesk-{name.replace('_', '-')}",
            words=name.replace("_", " "),
            class_name="".join(p.capitalize() for p in name.split("_")),
        )


def check_name(raw: str, taken: Iterable[str] = ()) -> str:
    """Return the department name or raise ScaffoldError saying how to fix it."""
    name = raw.strip()
    suggestion = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if suggestion and not suggestion[0].isalpha():
        suggestion = ""
    hint = f"; try {suggestion!r}" if suggestion and suggestion != name and NAME.match(suggestion) else ""
    if not name:
        raise ScaffoldError(
            "the department name is empty; give a lower-case name such as 'claims' or 'gift_cards'"
        )
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"the name {name!r} is longer than {MAX_NAME} characters; choose a shorter one")
    if not NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a valid department name: use lower-case letters, digits and single underscores, "
            f"starting with a letter{hint}"
        )
    if keyword.iskeyword(name) or name in RESERVED:
        raise ScaffoldError(f"{name!r} is reserved; choose another name, e.g. '{name}_desk'")
    if name in set(taken):
        raise ScaffoldError(
            f"a department or plugin named {name!r} is already installed (see `crossdesk plugins list`); "
            "department names must be unique, so choose another one"
        )
    return name


def clean_description(text: str) -> str:
    """One line that is safe inside a Python and a TOML double-quoted string."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).replace("\\", "/").replace('"', "'")
    return " ".join(text.split())[:MAX_DESCRIPTION]


def examples(templates: Iterable[str], words: str) -> list[str]:
    return [t.format(w=words, W=words.capitalize()) for t in templates]


def substitutions(names: Names, description: str) -> dict[str, str]:
    def block(items: list[str]) -> str:
        # double quotes, as a formatter would write them
        return "\n".join(f"            {json.dumps(item, ensure_ascii=False)}," for item in items)

    last = names.words.split()
    stem = [re.escape(w) for w in last]
    if stem[-1].endswith("s") and len(last[-1]) > 3:
        stem[-1] = stem[-1][:-1]
    return {
        "name": names.name,
        "package": names.package,
        "dist": names.dist,
        "words": names.words,
        "class_name": names.class_name,
        "description": clean_description(description),
        "case_prefix": names.name.upper().replace("_", "")[:8],
        "article_id": f"KB-{names.name.upper().replace('_', '-')}-001",
        "keyword_pattern": r"\b" + r"[\s_-]*".join(stem) + r"s?\b",
        "question_examples": block(examples(QUESTION_TEMPLATES, names.words)),
        "request_examples": block(examples(REQUEST_TEMPLATES, names.words)),
    }


def render(names: Names, description: str) -> dict[Path, str]:
    """Relative path -> file content for the whole package."""
    values = substitutions(names, description)
    files: dict[Path, str] = {}
    for source in sorted(TEMPLATE_ROOT.rglob("*.tmpl")):
        rel = source.relative_to(TEMPLATE_ROOT).with_suffix("")  # drop .tmpl
        rel = Path(
            *(p.replace("__package__", names.package).replace("__name__", names.name) for p in rel.parts)
        )
        try:
            files[rel] = Template(source.read_text(encoding="utf-8")).substitute(values)
        except (KeyError, ValueError) as exc:  # a broken template is our bug, not the user's
            raise RuntimeError(f"scaffold template {source.name} is broken: {exc}") from exc
    return files


def generate(name: str, parent: Path, *, description: str = "", taken: Iterable[str] = ()) -> Path:
    """Write the package `crossdesk-<name>` into `parent` and return its path."""
    name = check_name(name, taken)
    names = Names.of(name)
    parent = parent.expanduser()
    if not parent.is_dir():
        raise ScaffoldError(f"{parent} is not an existing folder; create it first or pass another --dir")
    target = parent / names.dist
    if target.exists():
        raise ScaffoldError(f"{target} already exists; remove it, or pass another --dir")
    files = render(names, description or f"the {names.words} department")
    staging = Path(tempfile.mkdtemp(prefix=f".{names.dist}-", dir=parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target

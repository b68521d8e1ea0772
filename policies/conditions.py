"""The condition language of rule packs: parse once, evaluate in microseconds.

A condition is a string expression, a boolean, or a mapping with one key
`all`, `any` or `not` whose value holds further conditions (a list means
`all`). Expressions compare a fact path with a literal or another path:

    task.intent == "data_erasure"
    action.name == "refund" and action.amount > 500
    customer.age_band in ["70-79", "80+"]
    reply.pii contains "card_number"
    data_destination startswith "external"
    not (signals.sentiment > -0.6)

Operators: == != < <= > >= in, not in, contains, contains_any, startswith,
endswith, matches (regular expression search). A bare path tests truthiness.
`and` binds tighter than `or`; `not` tighter than both.

`task.*` and `action.*` range over the turn's tasks and actions. A comparison
on them holds when some task (action) satisfies it; inside one `all`/`and`
group every comparison refers to the same task (action), so
`action.name == "refund" and action.amount > 500` needs one refund above 500.
A missing value (no customer, an argument not given) compares as null and
fails every comparison except `!=` and `== null`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from orchestrator.nlu.types import Signals
from plugins.contracts import CustomerView, Entities, Task

COLLECTIONS = ("task", "action")

_ACTION_FIELDS = {
    "department",
    "name",
    "args",
    "taken",
    "ok",
    "money_movement",
    "amount",
    "currency",
    "risk_rank",
}
# root name -> allowed second segment (None: no sub-fields)
FIELDS: dict[str, frozenset[str] | None] = {
    "stage": None,
    "jurisdiction": None,
    "message": None,
    "wants_human": None,
    "data_destination": None,
    "repeat_contacts": None,
    "customer": frozenset(CustomerView.model_fields) | {"risk_rank"},
    "task": frozenset(Task.model_fields),
    "action": frozenset(_ACTION_FIELDS),
    "signals": frozenset(Signals.model_fields),
    "reply": frozenset({"text", "pii"}),
}
# sub-fields that may be followed by any key (free-form mappings) or known keys
_DEEPER: dict[tuple[str, str], frozenset[str] | None] = {
    ("action", "args"): None,
    ("task", "entities"): frozenset(Entities.model_fields),
}


class ConditionError(ValueError):
    """A condition does not parse or names an unknown fact; the message says where."""


@dataclass
class Trace:
    """What made a condition hold: the comparisons that were true and the items they bound."""

    why: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)

    def merge(self, other: Trace) -> None:
        self.why.extend(other.why)
        self.tasks.extend(t for t in other.tasks if t not in self.tasks)
        self.actions.extend(a for a in other.actions if a not in self.actions)


Root = Mapping[str, Any]
Bind = Mapping[str, Any]


# ---------------------------------------------------------------- values


def _step(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return ".".join(self.parts)

    @property
    def collection(self) -> str | None:
        return self.parts[0] if self.parts[0] in COLLECTIONS else None

    def getter(self) -> Callable[[Root, Bind], Any]:
        head, rest = self.parts[0], self.parts[1:]
        source_is_bind = head in COLLECTIONS
        if not rest:
            if source_is_bind:
                return lambda root, bind: bind[head]
            return lambda root, bind: root[head]
        if len(rest) == 1:
            (key,) = rest
            if source_is_bind:
                return lambda root, bind: _step(bind[head], key)
            return lambda root, bind: _step(root[head], key)

        def deep(root: Root, bind: Bind) -> Any:
            obj = bind[head] if source_is_bind else root[head]
            for key in rest:
                obj = _step(obj, key)
            return obj

        return deep


def _check_path(parts: tuple[str, ...]) -> None:
    head = parts[0]
    if head not in FIELDS:
        raise ConditionError(
            f"unknown fact {'.'.join(parts)!r}; facts start with one of: {', '.join(FIELDS)}"
        )
    subs = FIELDS[head]
    if len(parts) == 1:
        return
    if subs is None:
        raise ConditionError(f"{head!r} has no sub-fields (got {'.'.join(parts)!r})")
    if parts[1] not in subs:
        raise ConditionError(
            f"unknown fact {'.'.join(parts)!r}; {head}.* is one of: {', '.join(sorted(subs))}"
        )
    if len(parts) > 2:
        key = (head, parts[1])
        if key not in _DEEPER:
            raise ConditionError(f"{head}.{parts[1]} has no sub-fields (got {'.'.join(parts)!r})")
        allowed = _DEEPER[key]
        if allowed is not None and (parts[2] not in allowed or len(parts) > 3):
            raise ConditionError(
                f"unknown fact {'.'.join(parts)!r}; {head}.{parts[1]}.* is one of: {', '.join(sorted(allowed))}"
            )


# ---------------------------------------------------------------- tokens and parser

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>)
      | (?P<punct>[()\[\],])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    )""",
    re.VERBOSE,
)
_WORD_OPS = {"in", "contains", "contains_any", "startswith", "endswith", "matches"}
_KEYWORDS = {"and", "or", "not", "true", "false", "null"} | _WORD_OPS


@dataclass
class _Tok:
    kind: str
    value: str
    pos: int
    end: int


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise ConditionError(f"cannot read {src[pos:].strip()[:20]!r} at character {pos} of {src!r}")
        kind = m.lastgroup or ""
        toks.append(_Tok(kind, m.group(kind), m.start(kind), m.end()))
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def is_word(self, value: str, offset: int = 0) -> bool:
        t = self.peek(offset)
        return t is not None and t.kind == "word" and t.value == value

    def expect(self, kind: str, value: str | None = None) -> _Tok:
        t = self.peek()
        if t is None or t.kind != kind or (value is not None and t.value != value):
            want = value or kind
            got = "the end" if t is None else repr(t.value)
            raise ConditionError(f"expected {want} but found {got} in {self.src!r}")
        self.i += 1
        return t

    def parse(self) -> Node:
        if not self.toks:
            raise ConditionError("empty condition")
        node = self.parse_or()
        t = self.peek()
        if t is not None:
            raise ConditionError(f"unexpected {t.value!r} at character {t.pos} of {self.src!r}")
        return node

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.is_word("or"):
            self.i += 1
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Any_(parts)

    def parse_and(self) -> Node:
        parts = [self.parse_not()]
        while self.is_word("and"):
            self.i += 1
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else All(parts)

    def parse_not(self) -> Node:
        if self.is_word("not") and not self.is_word("in", 1):
            start = self.peek()
            assert start is not None
            self.i += 1
            inner = self.parse_not()
            return Not(inner, self.src[start.pos : self._last_end()].strip())
        return self.parse_atom()

    def _last_end(self) -> int:
        return self.toks[self.i - 1].end

    def parse_atom(self) -> Node:
        t = self.peek()
        if t is not None and t.kind == "punct" and t.value == "(":
            self.i += 1
            node = self.parse_or()
            self.expect("punct", ")")
            return node
        start = t.pos if t is not None else len(self.src)
        left = self.parse_operand()
        op = self.parse_op()
        if op is None:
            if not isinstance(left, Path):
                raise ConditionError(f"a literal alone is not a condition in {self.src!r}")
            return Truthy(left, self.src[start : self._last_end()].strip())
        right = self.parse_operand()
        text = self.src[start : self._last_end()].strip()
        return make_comparison(left, op, right, text)

    def parse_op(self) -> str | None:
        t = self.peek()
        if t is None:
            return None
        if t.kind == "op":
            self.i += 1
            return t.value
        if t.kind == "word" and t.value in _WORD_OPS:
            self.i += 1
            return t.value
        if self.is_word("not") and self.is_word("in", 1):
            self.i += 2
            return "not in"
        return None

    def parse_operand(self) -> Any:
        t = self.peek()
        if t is None:
            raise ConditionError(f"condition ends too early: {self.src!r}")
        self.i += 1
        if t.kind == "num":
            return float(t.value) if "." in t.value else int(t.value)
        if t.kind == "str":
            return _unquote(t.value)
        if t.kind == "punct" and t.value == "[":
            items: list[Any] = []
            while not (self.peek() is not None and self.peek().kind == "punct" and self.peek().value == "]"):  # type: ignore[union-attr]
                item = self.parse_operand()
                if isinstance(item, Path | list):
                    raise ConditionError(f"lists hold literals only, in {self.src!r}")
                items.append(item)
                nxt = self.peek()
                if nxt is not None and nxt.kind == "punct" and nxt.value == ",":
                    self.i += 1
                elif not (nxt is not None and nxt.kind == "punct" and nxt.value == "]"):
                    raise ConditionError(f"expected ',' or ']' in list in {self.src!r}")
            self.i += 1
            return items
        if t.kind == "word":
            if t.value == "true":
                return True
            if t.value == "false":
                return False
            if t.value == "null":
                return None
            if t.value in _KEYWORDS:
                raise ConditionError(f"expected a fact or a value but found {t.value!r} in {self.src!r}")
            parts = tuple(t.value.split("."))
            _check_path(parts)
            return Path(parts)
        raise ConditionError(f"unexpected {t.value!r} at character {t.pos} of {self.src!r}")


def _unquote(raw: str) -> str:
    # only quotes and backslashes are escaped, so regular expressions keep their \d and \b
    return re.sub(r"\\([\"'\\])", r"\1", raw[1:-1])


# ---------------------------------------------------------------- nodes


class Node:
    colls: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()

    def test(self, root: Root, bind: Bind, trace: Trace | None) -> bool:
        raise NotImplementedError


def _bindings(root: Root, bind: Bind, unbound: Sequence[str]) -> Iterator[dict[str, Any]]:
    pools = [list(enumerate(root[c])) for c in unbound]
    for combo in itertools.product(*pools):
        extended = dict(bind)
        for coll, (index, item) in zip(unbound, combo, strict=True):
            extended[coll] = item
            extended[f"#{coll}"] = index
        yield extended


def _note_items(bind: Bind, trace: Trace) -> None:
    task = bind.get("task")
    if task is not None and task.id not in trace.tasks:
        trace.tasks.append(task.id)
    if bind.get("action") is not None:
        index = bind.get("#action", -1)
        if index not in trace.actions:
            trace.actions.append(index)


class _Leaf(Node):
    text: str

    def holds(self, root: Root, bind: Bind) -> bool:
        raise NotImplementedError

    def explain(self, root: Root, bind: Bind) -> str:
        raise NotImplementedError

    def test(self, root: Root, bind: Bind, trace: Trace | None) -> bool:
        unbound = [c for c in COLLECTIONS if c in self.colls and c not in bind]
        if not unbound:
            if not self.holds(root, bind):
                return False
            if trace is not None:
                trace.why.append(self.explain(root, bind))
            return True
        for extended in _bindings(root, bind, unbound):
            if self.holds(root, extended):
                if trace is not None:
                    trace.why.append(self.explain(root, extended))
                    _note_items(extended, trace)
                return True
        return False


def _fmt(value: Any) -> str:
    if isinstance(value, frozenset | set):
        return "[" + ", ".join(repr(v) for v in sorted(value, key=str)) + "]"
    return repr(value)


class Truthy(_Leaf):
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.get = path.getter()
        self.text = text
        self.colls = frozenset({path.collection} - {None})  # type: ignore[arg-type]
        self.paths = frozenset({path.text})

    def holds(self, root: Root, bind: Bind) -> bool:
        return bool(self.get(root, bind))

    def explain(self, root: Root, bind: Bind) -> str:
        where = ""
        if self.colls:
            where = f" [{_describe_bind(bind)}]"
        return f"{self.text}{where}"


def _describe_bind(bind: Bind) -> str:
    out = []
    if "task" in bind:
        out.append(f"task {bind['task'].id}")
    if "action" in bind:
        a = bind["action"]
        out.append(f"action {a.department}.{a.name}")
    return ", ".join(out)


def _number(value: Any, other: Any) -> Any:
    if isinstance(value, str) and isinstance(other, int | float | Decimal) and not isinstance(other, bool):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _compare(op: str) -> Callable[[Any, Any], bool]:
    def ordered(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
        def run(a: Any, b: Any) -> bool:
            if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
                return False
            # action arguments often arrive as JSON ("800.00"): compare them as the numbers they are
            a, b = _number(a, b), _number(b, a)
            try:
                return fn(a, b)
            except TypeError:
                return False

        return run

    def member(a: Any, b: Any) -> bool:
        try:
            return b is not None and a in b
        except TypeError:
            return False

    def contains(a: Any, b: Any) -> bool:
        try:
            return a is not None and b in a
        except TypeError:
            return False

    def contains_any(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        try:
            return any(v in a for v in b)
        except TypeError:
            return False

    table: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": ordered(lambda a, b: a < b),
        "<=": ordered(lambda a, b: a <= b),
        ">": ordered(lambda a, b: a > b),
        ">=": ordered(lambda a, b: a >= b),
        "in": member,
        "not in": lambda a, b: not member(a, b),
        "contains": contains,
        "contains_any": contains_any,
        "startswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.startswith(b),
        "endswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.endswith(b),
    }
    return table[op]


class Comparison(_Leaf):
    def __init__(self, left: Any, op: str, right: Any, text: str) -> None:
        self.op = op
        self.text = text
        self.left = left
        self.right = right
        self.get_left = left.getter() if isinstance(left, Path) else (lambda root, bind: left)
        if isinstance(right, Path):
            self.get_right = right.getter()
        else:
            const = right
            self.get_right = lambda root, bind: const
        if op == "matches":
            pattern = re.compile(right)
            self.fn: Callable[[Any, Any], bool] = lambda a, b: (
                isinstance(a, str) and pattern.search(a) is not None
            )
        else:
            self.fn = _compare(op)
        colls = {p.collection for p in (left, right) if isinstance(p, Path)} - {None}
        self.colls = frozenset(colls)  # type: ignore[arg-type]
        self.paths = frozenset(p.text for p in (left, right) if isinstance(p, Path))

    def holds(self, root: Root, bind: Bind) -> bool:
        return self.fn(self.get_left(root, bind), self.get_right(root, bind))

    def explain(self, root: Root, bind: Bind) -> str:
        shown = []
        for side, get in ((self.left, self.get_left), (self.right, self.get_right)):
            if isinstance(side, Path):
                shown.append(f"{side.text} = {_fmt(get(root, bind))}")
        where = _describe_bind(bind) if self.colls else ""
        detail = "; ".join(([where] if where else []) + shown)
        return f"{self.text} ({detail})" if detail else self.text


def make_comparison(left: Any, op: str, right: Any, text: str) -> Comparison:
    if not isinstance(left, Path) and not isinstance(right, Path):
        raise ConditionError(f"{text!r} compares two literals; one side must be a fact")
    literal = right if not isinstance(right, Path) else None
    if op in ("<", "<=", ">", ">=") and not isinstance(right, Path):
        if not isinstance(literal, int | float) or isinstance(literal, bool):
            raise ConditionError(f"{text!r}: {op} needs a number on the right")
    if op in ("in", "not in", "contains_any") and not isinstance(right, Path):
        if not isinstance(literal, list):
            raise ConditionError(f'{text!r}: {op} needs a list on the right, e.g. ["a", "b"]')
        try:
            right = frozenset(literal)
        except TypeError:
            right = tuple(literal)
    if op in ("startswith", "endswith", "matches") and not isinstance(literal, str):
        raise ConditionError(f"{text!r}: {op} needs a quoted string on the right")
    if op == "matches":
        try:
            re.compile(str(literal))
        except re.error as exc:
            raise ConditionError(f"{text!r}: not a valid regular expression ({exc})") from exc
    if op == "contains" and isinstance(literal, list):
        raise ConditionError(f"{text!r}: contains takes one value; use contains_any for a list")
    return Comparison(left, op, right, text)


class All(Node):
    def __init__(self, children: Sequence[Node]) -> None:
        self.children = tuple(children)
        self.colls = frozenset().union(*(c.colls for c in self.children))
        self.paths = frozenset().union(*(c.paths for c in self.children))

    def _all(self, root: Root, bind: Bind, trace: Trace | None) -> bool:
        if trace is None:
            return all(c.test(root, bind, None) for c in self.children)
        local = Trace()
        for child in self.children:
            if not child.test(root, bind, local):
                return False
        trace.merge(local)
        return True

    def test(self, root: Root, bind: Bind, trace: Trace | None) -> bool:
        unbound = [c for c in COLLECTIONS if c in self.colls and c not in bind]
        if not unbound:
            return self._all(root, bind, trace)
        for extended in _bindings(root, bind, unbound):
            if self._all(root, extended, trace):
                if trace is not None:
                    _note_items(extended, trace)
                return True
        return False


class Any_(Node):
    def __init__(self, children: Sequence[Node]) -> None:
        self.children = tuple(children)
        self.colls = frozenset().union(*(c.colls for c in self.children))
        self.paths = frozenset().union(*(c.paths for c in self.children))

    def test(self, root: Root, bind: Bind, trace: Trace | None) -> bool:
        for child in self.children:
            if child.test(root, bind, trace):
                return True
        return False


class Not(Node):
    def __init__(self, child: Node, text: str) -> None:
        self.child = child
        self.text = text
        self.colls = child.colls
        self.paths = child.paths

    def test(self, root: Root, bind: Bind, trace: Trace | None) -> bool:
        if self.child.test(root, bind, None):
            return False
        if trace is not None:
            trace.why.append(self.text)
        return True


class Const(Node):
    def __init__(self, value: bool) -> None:
        self.value = value

    def test(self, root: Root, bind: Bind, trace: Trace | None) -> bool:
        if self.value and trace is not None:
            trace.why.append("always")
        return self.value


def compile_condition(spec: Any, where: str = "when") -> Node:
    """Compile a condition (string, bool, list or {all|any|not: ...}); errors name `where`."""
    try:
        return _compile(spec, where)
    except ConditionError:
        raise
    except re.error as exc:  # pragma: no cover - make_comparison checks patterns first
        raise ConditionError(f"{where}: {exc}") from exc


def _compile(spec: Any, where: str) -> Node:
    if isinstance(spec, bool):
        return Const(spec)
    if isinstance(spec, str):
        try:
            return _Parser(spec).parse()
        except ConditionError as exc:
            raise ConditionError(f"{where}: {exc}") from None
    if isinstance(spec, list):
        if not spec:
            raise ConditionError(f"{where}: an empty list is not a condition")
        return All([_compile(s, f"{where}[{i}]") for i, s in enumerate(spec)])
    if isinstance(spec, Mapping):
        if len(spec) != 1:
            raise ConditionError(
                f"{where}: a mapping condition needs exactly one key of all, any, not (got {sorted(spec)})"
            )
        ((key, value),) = spec.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{where}.{key}: needs a non-empty list of conditions")
            children = [_compile(s, f"{where}.{key}[{i}]") for i, s in enumerate(value)]
            return All(children) if key == "all" else Any_(children)
        if key == "not":
            child = _compile(value, f"{where}.not")
            return Not(child, f"not ({_text_of(value)})")
        raise ConditionError(f"{where}: unknown key {key!r}; use all, any or not")
    raise ConditionError(
        f"{where}: a condition is a string, true/false, a list or a mapping, not {type(spec).__name__}"
    )


def _text_of(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    return repr(spec)


def referenced(node: Node, prefix: str) -> bool:
    """Whether the condition reads a fact path starting with `prefix`."""
    return any(p == prefix or p.startswith(prefix + ".") for p in node.paths)

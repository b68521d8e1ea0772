"""Turn one customer message into routed sub-issues: the supervisor's offline NLU.

split -> strip greetings and requests for a person -> classify every span in one
batch -> decide per span (task, unclear, out of scope, greeting, person) -> merge
neighbours that ask the same thing -> number the tasks and attach entities.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.nlu import entities, signals
from orchestrator.nlu.pseudo import FOLLOW_UP, GREETING, HUMAN_REQUEST, NLU_DEPARTMENT, OUT_OF_SCOPE, VAGUE
from orchestrator.nlu.signals import guess_language
from orchestrator.nlu.split import MAX_SPANS, split, word_count
from orchestrator.nlu.types import Decomposition
from plugins.contracts import Task

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.nlu.router import Router

_MAX_ALTERNATIVES = 3
_CONTEXT_CHARS = 300  # of the previous message, used to route a vague follow-up
# the router's probabilities were calibrated on its examples' languages; in a language it
# has (almost) never seen they mean little, so such spans are asked about, not dispatched
MIN_LANGUAGE_EXAMPLES = 10
# below this share of words seen in training a span is gibberish or another language to the router
MIN_FAMILIARITY = 0.5
# what is left of "Hello, can I talk to a human please?" once the request itself is blanked out
_FILLER_RE = re.compile(
    r"(?:[\W_]|\b(?:please|pls|plz|now|right\s+now|asap|i\s+(?:want|need|would\s+like|wanna)(?:\s+to)?"
    r"|i'?d\s+(?:like|love)(?:\s+to)?|can\s+i|could\s+i|may\s+i|let\s+me|just|ok|okay|thanks?|thank\s+you"
    r"|and|or|so|to|a|an|the|with|hi|hello|hey|good\s+(?:morning|afternoon|evening)|dear|sir|madam|someone"
    r"|somebody|here|there|about\s+(?:this|it|that|my\s+account)|regarding\s+(?:this|it|that|my\s+account)"
    r"|por\s+favor)\b"
    # what is left of "我要跟人工客服说话" once the request itself is taken out
    r"|请|谢谢|你好|您好|我要|我想|我需要|帮我|给我|跟|和|与|说话|讲话|聊天|聊|沟通|联系|一下|吧|呢|啊)*",
    re.I,
)

# --- per-span work -----------------------------------------------------------------------------


# a soft-cut piece in the same department stays separate only when it names its own problem this clearly
SOFT_MERGE_INTENT_P = 0.6
COMMA_SPLIT_CONFIDENCE = 0.9
# below this department confidence a span naming one of the customer's things is routed with what
# the thing is (Decomposer.decompose's `terms`)
NAMES_DECIDE_BELOW = 0.9
# two sentences of one line without "also"/"plus" between them stay two tasks of two departments
# only when both are routed this confidently ("I am 17. Can I open an account?" is one request)
SENTENCE_SPLIT_CONFIDENCE = 0.8


@dataclass
class _Piece:
    start: int
    end: int
    route_text: str = ""  # what the router sees: greeting and "talk to a person" removed
    named_text: str = ""  # route_text with the customer's names said what they are (see _with_terms)
    # classify | human+classify, then task | unclear | out_of_scope | greeting | human | follow_up
    kind: str = "classify"
    language: str = "en"
    department: str = ""
    intent: str = ""
    confidence: float = 0.0
    alternatives: tuple[tuple[str, str, float], ...] = ()
    familiarity: float = 1.0
    looked_like_follow_up: bool = False
    soft: bool = False  # cut at a bare comma or a weak "and" (see split.Span.soft)
    intent_p: float = 0.0  # probability of the best intent alone
    comma: bool = False  # the soft cut was a bare comma
    sentence: bool = False  # a new sentence on the same line, with no marker of a new problem
    vague: bool = False  # says there is a problem but not what about ("I don't know what to do")

    def take_reading(self, other: _Piece) -> None:
        """Be routed as `other` is, when the two are merged and `other` says what they are about."""
        self.kind, self.department, self.intent = other.kind, other.department, other.intent
        self.alternatives, self.vague = other.alternatives, other.vague


@dataclass
class _Message:
    text: str
    now: datetime | date | None
    context: str  # the previous user message, for vague follow-ups
    pieces: list[_Piece] = field(default_factory=list)
    terms: Mapping[str, str] = field(default_factory=dict)  # see Decomposer.decompose


def _blank(text: str, ranges: list[tuple[int, int]]) -> str:
    chars = list(text)
    for s, e in ranges:
        chars[s:e] = " " * (e - s)
    return "".join(chars)


def _with_terms(text: str, terms: Mapping[str, str]) -> str:
    """`text` with the first mention of each of the customer's names followed by what it is."""
    lowered = text.lower()
    for name, kind in terms.items():
        if kind.lower() in lowered:
            continue  # "cancel my MusicHub subscription" says it already
        found = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)
        if found is not None:
            text = f"{text[: found.end()]} {kind}{text[found.end() :]}"
            lowered = text.lower()
    return text


def _prepare(msg: _Message) -> None:
    text = msg.text
    for span in split(text, max_spans=MAX_SPANS, attach_pointing_back=False):
        piece = _Piece(
            span.start,
            span.end,
            language=guess_language(span.text),
            soft=span.soft,
            comma=span.comma,
            sentence=span.sentence,
        )
        msg.pieces.append(piece)
        if signals.greeting_only(span.text):
            piece.kind = "greeting"
            continue
        local = span.text
        injected = signals.injection_spans(local)
        if injected and word_count(_blank(local, injected), limit=3) < 3:
            # an instruction to the assistant is not a request of the customer's: nothing to
            # dispatch (the turn's prompt_injection signal still records it for the policy node)
            piece.kind = "instruction"
            continue
        human = signals.human_request_spans(local)
        if signals.self_harm(local) and not human:
            # words of self-harm are not a request to a department: the policy node reads them from
            # the whole message and brings in a person; dispatching them would only add a task
            piece.kind = "context"
            continue
        if signals.investment_advice(local):
            # no department gives personal investment advice (suitability): say so, never ask which
            piece.kind = "out_of_scope"
            continue
        if human:
            local = _blank(local, human)
            if word_count(local, limit=3) < 3 or (len(local) < 300 and _FILLER_RE.fullmatch(local)):
                piece.kind = "human"
                continue
        lead = signals.leading_greeting_end(local)
        if lead:
            local = " " * lead + local[lead:]
            piece.start = span.start + lead + (len(local[lead:]) - len(local[lead:].lstrip()))
        piece.route_text = local.strip()
        if msg.terms:
            named = _with_terms(piece.route_text, msg.terms)
            piece.named_text = named if named != piece.route_text else ""
        piece.kind = "human+classify" if human else "classify"


def _remark(a: _Piece, b: _Piece) -> bool:
    """Of two neighbouring pieces with no marker of a new problem between them ("also", "plus", a
    new line), one is a request and the other a remark about it."""
    if not (b.soft or b.sentence):
        return False  # "..., plus can anyone help me, I lost my wallet": the remark opens the next part
    return (a.kind == "task" and b.kind == "unclear" and b.vague) or (
        a.kind == "unclear" and a.vague and b.kind == "task"
    )


# what opens a question or a request rather than a statement
_ASKS_RE = re.compile(
    r"\s*(?:what|what's|how|why|when|where|who|which|can|could|will|would|should|is|are|do|does|did|may"
    r"|please|tell|give|show|help)\b",
    re.IGNORECASE,
)


def _introduces(text: str, piece: _Piece) -> bool:
    """The piece ends with a colon: it announces what follows ("I have three problems:")."""
    return text[piece.start : piece.end].rstrip().endswith((":", "："))


def _scene(text: str, piece: _Piece) -> bool:
    """A soft-cut statement the router reads as out of scope, right after one of our requests: the
    customer's circumstances ("..., I have rent due tomorrow"), not a question to turn down."""
    said = text[piece.start : piece.end].strip()
    return piece.kind == "out_of_scope" and piece.soft and not said.endswith("?") and not _ASKS_RE.match(said)


def _context_text(history: Sequence[Mapping[str, Any]] | None) -> str:
    if not history:
        return ""
    last = history[-1]
    message = last.get("message") if isinstance(last, Mapping) else None
    return message[-_CONTEXT_CHARS:] if isinstance(message, str) else ""


class Decomposer:
    """Split a message into routed sub-issues with entities and risk signals.

    `threshold` is the lowest department probability that still dispatches a task;
    below it the span goes to `unclear` (with its best guess) so the supervisor asks.
    `standalone`: (department, intent) pairs that are requests of their own (`Intent.standalone`,
    `PluginSet.standalone_intents()`), never merged into a neighbouring request.
    """

    def __init__(
        self,
        router: Router,
        *,
        threshold: float = 0.45,
        day_first: bool = True,
        standalone: Collection[tuple[str, str]] = (),
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
        self.router = router
        self.threshold = threshold
        self.day_first = day_first  # how 03/04/2026 is read
        self.standalone = frozenset(standalone)
        classes = router.classes
        self._departments = router.departments
        self._columns: dict[str, list[int]] = {d: [] for d in self._departments}
        self._pseudo: dict[str, int] = {}
        for j, (dep, intent) in enumerate(classes):
            if dep == NLU_DEPARTMENT:
                self._pseudo[intent] = j
            else:
                self._columns[dep].append(j)
        self._classes = classes
        languages = router.info.get("languages")
        self._languages: dict[str, int] | None = dict(languages) if isinstance(languages, dict) else None

    def trusts(self, language: str) -> bool:
        """Whether the router saw enough examples in `language` for its confidence to mean something."""
        return self._languages is None or self._languages.get(language, 0) >= MIN_LANGUAGE_EXAMPLES

    # -- public --

    def decompose(
        self,
        text: str,
        *,
        now: datetime | date | None = None,
        history: Sequence[Mapping[str, Any]] | None = None,
        terms: Mapping[str, str] | None = None,
    ) -> Decomposition:
        """Decompose one message; `history` is the conversation's earlier turns ({"message": ...}).

        `terms`: the customer's own names for their things, each with the word that says what it
        is ({"MusicHub": "subscription"}); the router reads "cancel MusicHub" as "cancel MusicHub
        subscription". Only what is routed changes, never a task's text."""
        return self._run([text], now=now, histories=[history], terms=terms)[0]

    def decompose_many(
        self, texts: Sequence[str], *, now: datetime | date | None = None
    ) -> list[Decomposition]:
        """Decompose many independent messages with one batched classification (triage, evaluation)."""
        if isinstance(texts, str):
            raise TypeError("decompose_many takes a list of messages; use decompose() for one")
        return self._run(list(texts), now=now, histories=None)

    # -- internals --

    def _run(
        self,
        texts: list[str],
        *,
        now: datetime | date | None,
        histories: list[Sequence[Mapping[str, Any]] | None] | None,
        terms: Mapping[str, str] | None = None,
    ) -> list[Decomposition]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"message {i} is {type(t).__name__}, expected str")
        messages = [
            _Message(t, now, _context_text(histories[i]) if histories else "", terms=dict(terms or {}))
            for i, t in enumerate(texts)
        ]
        to_route: list[tuple[_Piece, bool]] = []
        for msg in messages:
            _prepare(msg)
            to_route.extend((p, bool(msg.context)) for p in msg.pieces if p.kind.endswith("classify"))
        if to_route:
            named = [i for i, (p, _) in enumerate(to_route) if p.named_text]
            route_texts = [p.route_text for p, _ in to_route] + [to_route[i][0].named_text for i in named]
            probs = self.router.predict_proba(route_texts)
            familiar = self.router.familiarity(route_texts)
            for k, i in enumerate(named, start=len(to_route)):
                # the customer's names only settle what the words alone leave unsure: "StreamFlix
                # took two payments" stays a double charge, "cancel MusicHub" becomes a subscription
                if self._department_scores(probs[i])[0][2] < NAMES_DECIDE_BELOW:
                    probs[i], familiar[i] = probs[k], familiar[k]
            follow_up = self._pseudo.get(FOLLOW_UP)
            for (piece, has_context), row, fam in zip(
                to_route, probs[: len(to_route)], familiar[: len(to_route)], strict=True
            ):
                piece.familiarity = fam
                if not has_context and follow_up is not None:
                    # with no earlier turn nothing can be a follow-up: give its share to the rest,
                    # but never drop "any news?" as chit-chat; it is asked about instead
                    piece.looked_like_follow_up = int(row.argmax()) == follow_up
                    row = row.copy()
                    row[follow_up] = 0.0
                    row /= max(float(row.sum()), 1e-12)
                self._decide(piece, row)
        self._use_context([m for m in messages if m.context])
        for msg in messages:
            for i, piece in enumerate(msg.pieces):
                if piece.kind == "follow_up":
                    piece.kind = "unclear"  # "any update?" with nothing earlier to refer to
                if piece.kind == "unclear" and i + 1 < len(msg.pieces) and _introduces(msg.text, piece):
                    piece.kind = "context"  # "I have three problems:" announces the list, asks nothing
        return [self._assemble(m) for m in messages]

    def _department_scores(self, row: np.ndarray) -> list[tuple[str, str, float]]:
        """(department, its best intent, department probability), best first."""
        out = []
        for dep, cols in self._columns.items():
            if not cols:
                continue
            best = max(cols, key=lambda j: row[j])
            out.append((dep, self._classes[best][1], float(row[cols].sum())))
        out.sort(key=lambda x: -x[2])
        return out

    def _set_guess(self, piece: _Piece, deps: list[tuple[str, str, float]]) -> None:
        top = deps[0] if deps else (NLU_DEPARTMENT, OUT_OF_SCOPE, 0.0)
        piece.department, piece.intent = top[0], top[1]
        piece.confidence = round(top[2], 4)
        piece.alternatives = tuple((d, i, round(p, 4)) for d, i, p in deps[1 : 1 + _MAX_ALTERNATIVES])

    def _decide(self, piece: _Piece, row: np.ndarray) -> None:
        had_human = piece.kind.startswith("human")
        deps = self._department_scores(row)
        self._set_guess(piece, deps)
        cols = self._columns.get(piece.department) or []
        piece.intent_p = float(max((row[j] for j in cols), default=0.0))
        if piece.familiarity < MIN_FAMILIARITY:
            piece.kind = "unclear"  # mostly words the router never saw: its scores mean little
            return
        pseudo = max(self._pseudo.items(), key=lambda kv: row[kv[1]], default=None)
        if pseudo is not None and (not deps or row[pseudo[1]] > deps[0][2]):
            name, p = pseudo[0], float(row[pseudo[1]])
            # non-English text lands in these classes when departments only have English
            # examples; only the keyword rules may drop it, otherwise we ask
            if p < self.threshold or piece.language != "en" or piece.looked_like_follow_up:
                piece.kind = "unclear"
            elif name == HUMAN_REQUEST and not had_human and signals.cannot_reach(piece.route_text):
                # "He's at work and can't call" reads like the requests for a person the router
                # learnt, but says why nobody can call: context, with nothing to dispatch
                piece.kind = "context"
            elif name == HUMAN_REQUEST:
                piece.kind = "human"
            elif name == GREETING:
                piece.kind = "human" if had_human else "greeting"
            elif name == FOLLOW_UP:
                piece.kind = "follow_up"
            elif name == VAGUE:
                piece.kind = "unclear"
                piece.vague = True
            else:
                piece.kind = "out_of_scope"
            return
        confident = deps[0][2] >= self.threshold and self.trusts(piece.language)
        piece.kind = "task" if confident else "unclear"

    def _use_context(self, messages: list[_Message]) -> None:
        """Route follow-ups ("it still hasn't arrived") and unsure spans with the previous message as context."""
        vague = [
            (m, p)
            for m in messages
            for p in m.pieces
            if p.kind == "follow_up" or (p.kind == "unclear" and p.familiarity >= MIN_FAMILIARITY)
        ]
        if not vague:
            return
        probs = self.router.predict_proba([f"{m.context} {p.route_text}" for m, p in vague])
        follow_up = self._pseudo.get(FOLLOW_UP)
        if follow_up is not None:  # the context supplies the topic: ask which department owns it
            probs[:, follow_up] = 0.0
            probs /= probs.sum(axis=1, keepdims=True)
        for (_, piece), row in zip(vague, probs, strict=True):
            deps = self._department_scores(row)
            confident = bool(deps) and deps[0][2] >= self.threshold and self.trusts(piece.language)
            if confident and all(deps[0][2] > row[j] for j in self._pseudo.values()):
                self._set_guess(piece, deps)
                piece.kind, piece.vague = "task", False

    def _merged(self, msg: _Message) -> list[_Piece]:
        out: list[_Piece] = []
        last: _Piece | None = None  # the last task/unclear piece a neighbour may merge into
        for piece in msg.pieces:
            if piece.kind in ("task", "unclear"):
                if last is not None and last.end <= piece.start and _remark(last, piece):
                    # "My card was declined. I don't know what to do.": a remark with no topic of its
                    # own belongs to the request next to it; asking about it, or routing it on its
                    # own, made up a second problem
                    if last.kind == "unclear":
                        last.take_reading(piece)
                        last.confidence = piece.confidence
                    last.end = piece.end
                    continue
                if (
                    piece.soft
                    and last is not None
                    and last.end <= piece.start
                    and (
                        piece.kind == "unclear"
                        or last.kind == "unclear"
                        # same department and no clear problem of its own ("..., the second time on Monday")
                        or (
                            last.department == piece.department
                            and (piece.comma or piece.intent_p < SOFT_MERGE_INTENT_P)
                            and not self._apart(last, piece)
                        )
                        # a bare comma splits off a new problem only when it is unmistakable on its own
                        or (piece.comma and piece.confidence < COMMA_SPLIT_CONFIDENCE)
                    )
                ):
                    # a bare-comma cut that did not reveal a second problem: undo it
                    if (last.kind == "unclear" and piece.kind == "task") or (
                        last.kind == piece.kind == "unclear" and piece.confidence > last.confidence
                    ):
                        # the best guess of two unsure halves is the surer half's
                        last.take_reading(piece)
                    last.end = piece.end
                    last.confidence = max(last.confidence, piece.confidence)
                    continue
                if (
                    piece.sentence
                    and last is not None
                    and last.end <= piece.start
                    and last.kind == "unclear"
                    and last.familiarity >= MIN_FAMILIARITY  # words the router knows, not gibberish
                    and piece.kind == "task"
                ):
                    # "I'm being deployed next month. Why did my balance drop?": the scene, then the request
                    last.take_reading(piece)
                    last.end = piece.end
                    last.confidence = piece.confidence
                    continue
                if (
                    piece.sentence
                    and last is not None
                    and last.kind == piece.kind == "task"
                    and last.department != piece.department
                    and min(last.confidence, piece.confidence) < SENTENCE_SPLIT_CONFIDENCE
                ):
                    # one request told in two sentences: the surer sentence names it
                    if piece.confidence > last.confidence:
                        last.take_reading(piece)
                    last.end = piece.end
                    last.confidence = max(last.confidence, piece.confidence)
                    continue
                if (
                    last is not None
                    and last.kind == piece.kind
                    and (last.department, last.intent) == (piece.department, piece.intent)
                ):
                    last.end = piece.end
                    last.confidence = max(last.confidence, piece.confidence)
                    continue
                out.append(piece)
                last = piece
            elif piece.kind == "greeting":
                out.append(piece)  # a "thanks" between two sentences does not separate them
            elif last is not None and last.end <= piece.start and _scene(msg.text, piece):
                # "I'm so stressed, I have rent due tomorrow and no money for food": told with the
                # request it explains; turning it down as out of scope answered nobody
                last.end = piece.end
            else:
                out.append(piece)
                last = None
        return out

    def _apart(self, a: _Piece, b: _Piece) -> bool:
        """Two surely read requests of one department, one of them a request of its own: "close my
        account, and delete my data" must open the erasure too, with its own deadline."""
        return (
            a.kind == b.kind == "task"
            and a.intent != b.intent
            and bool({(a.department, a.intent), (b.department, b.intent)} & self.standalone)
            and min(a.intent_p, b.intent_p) >= SOFT_MERGE_INTENT_P
        )

    def _task(self, msg: _Message, piece: _Piece, n: int) -> Task:
        span_text = msg.text[piece.start : piece.end]
        return Task(
            id=f"t{n}",
            text=span_text,
            span=(piece.start, piece.end),
            department=piece.department,
            intent=piece.intent,
            confidence=piece.confidence,
            entities=entities.extract(span_text, now=msg.now, day_first=self.day_first),
            alternatives=piece.alternatives,
        )

    def _assemble(self, msg: _Message) -> Decomposition:
        text = msg.text
        pieces = self._merged(msg)
        tasks: list[Task] = []
        unclear_pieces = [p for p in pieces if p.kind == "unclear"]
        for p in pieces:
            if p.kind == "task":
                tasks.append(self._task(msg, p, len(tasks) + 1))
        unclear = [self._task(msg, p, len(tasks) + i + 1) for i, p in enumerate(unclear_pieces)]
        oos = tuple(text[p.start : p.end] for p in pieces if p.kind == "out_of_scope")
        human = any(p.kind == "human" for p in pieces) or signals.wants_human(text)
        greeted = any(p.kind == "greeting" for p in pieces) or signals.greeting_only(text)
        return Decomposition(
            text=text,
            tasks=tuple(tasks),
            unclear=tuple(unclear),
            out_of_scope=bool(oos) and not tasks and not unclear,
            out_of_scope_spans=oos,
            wants_human=human,
            greeting_only=greeted and not (tasks or unclear or oos or human),
            language=guess_language(text),
            signals=signals.detect(text),
        )

"""Keyword signals the policy node reads: tone, threats, risk cues, requests for a person.

Cheap, explainable and multilingual where it is cheap (English, Spanish,
Chinese). These patterns are a floor, not a classifier: the router's
human_request and greeting classes catch the phrasings listed here miss.
"""

from __future__ import annotations

import math
import re

from orchestrator.nlu.types import Signals

_NEGATED_BEFORE = re.compile(r"\b(?:don'?t|do\s+not|doesn'?t|no\s+need\s+to|never|not)\b[^.!?]{0,12}$", re.I)

# --- requests for a person ---------------------------------------------------------------------

_PERSON = (
    r"(?:human(?:\s+being)?|person|people|agent|representative|rep|operator|somebody|someone"
    r"|manager|supervisor|staff(?:\s+member)?|employee|advisor|adviser|customer\s+service|banker)"
)
_HUMAN_RE = re.compile(
    r"\b(?:talk|speak|chat|get\s+through|connect\s+me|put\s+me\s+through|transfer\s+me|escalate"
    r"(?:\s+(?:this|it|me))?|hand\s+me\s+over|pass\s+me)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s+|the\s+|your\s+)?"
    rf"(?:real\s+|actual\s+|live\s+|human\s+|living\s+|proper\s+)?{_PERSON}\b"
    r"|\b(?:real|actual|live|living)\s+(?:person|human|agent|being|representative|operator|support)\b"
    r"|\bhuman\s+(?:agent|support|help|representative|operator|please)\b"
    r"|\b(?:agent|human|representative|operator)[\s,!.]*(?:please|pls|plz|now|asap)\b"
    r"|\bi\s+(?:want|need|would\s+like|demand|wanna)\s+(?:a\s+|an\s+|to\s+(?:talk|speak)\s+to\s+(?:a\s+|an\s+)?)?"
    r"(?:human|person|agent|representative|manager|supervisor)\b"
    r"|\b(?:no\s+more|stop\s+(?:the|this|these)?\s*)\s*(?:bots?|robots?|automated\s+(?:replies|answers))\b"
    r"|\b(?:hablar|comunicarme|contactar)\s+con\s+(?:una\s+persona|un\s+humano|un\s+agente|alguien"
    r"|un\s+operador|un\s+asesor|un\s+representante|un\s+gestor)"
    r"|\b(?:persona|agente|operador|asesor)\s+(?:real|humano|humana)\b"
    r"|转人工|人工客服|人工服务|找人工|接人工|真人|活人|客服人员|人工坐席",
    re.I,
)


# the whole message is just the word: "agent", "Representative!", "human please"
_HUMAN_ALONE_RE = re.compile(
    r"\W*(?:an?\s+)?(?:agent|human|representative|operator|person|real\s+person|manager|supervisor"
    r"|customer\s+service|advisor|persona|agente|人工)(?:\s+(?:please|pls|plz|now|por\s+favor))?\W*",
    re.I,
)


def human_request_spans(text: str) -> list[tuple[int, int]]:
    """Where the customer asks for a person (negated requests such as "I don't need an agent" skipped)."""
    if _HUMAN_ALONE_RE.fullmatch(text):
        return [(0, len(text))]
    out = []
    for m in _HUMAN_RE.finditer(text):
        if _NEGATED_BEFORE.search(text, max(0, m.start() - 30), m.start()):
            continue
        out.append((m.start(), m.end()))
    return out


# "He's at work and can't call": why someone else writes, not a request for a person
_CANNOT_REACH_RE = re.compile(
    r"\b(?:he|she|they)(?:'s|'re|\s+is|\s+are)?\b[^.!?]{0,40}?"
    r"\b(?:can'?t|cannot|can\s+not|couldn'?t|unable\s+to|not\s+able\s+to|won'?t\s+be\s+able\s+to)\s+"
    r"(?:call|phone|ring|talk|speak|come\s+in|get\s+to\s+the\s+phone)\b",
    re.I,
)


def cannot_reach(text: str) -> bool:
    """Someone else cannot call or talk ("he can't call"): context for a request made for them,
    not a request to talk to a person."""
    return bool(_CANNOT_REACH_RE.search(text))


def wants_human(text: str) -> bool:
    return bool(human_request_spans(text))


# --- greetings ---------------------------------------------------------------------------------

_GREETING_WORDS = (
    r"hi+|hello+|hey+|heya|hiya|howdy|hallo|greetings|yo|good\s+(?:morning|afternoon|evening|day|night)"
    r"|morning|evening|thank\s+(?:you|u)|thanks?|thx|tx|ty|tysm|cheers|many\s+thanks|much\s+appreciated"
    r"|appreciate\s+it|ok(?:ay)?|okey|k|kk|cool|great|perfect|awesome|nice|lovely|brilliant|got\s+it"
    r"|bye|goodbye|good\s*bye|see\s+(?:you|ya)|take\s+care|have\s+a\s+(?:good|nice|great|lovely)\s+"
    r"(?:day|one|evening|weekend)|you\s+too|how\s+are\s+(?:you|u)(?:\s+doing)?(?:\s+today)?"
    r"|how'?s\s+it\s+going|what'?s\s+up|sup|there|all|everyone|everybody|team|guys|folks|again"
    r"|so\s+much|a\s+lot|very\s+much|and|dear|sir|madam|mate|hola|buenas|buenos\s+d[ií]as"
    r"|buenas\s+(?:tardes|noches)|gracias|muchas\s+gracias|mil\s+gracias|adi[oó]s|hasta\s+luego|saludos"
    r"|qu[eé]\s+tal|c[oó]mo\s+est[aá]s?|vale|muy\s+bien|perfecto"
)
_GREETING_ZH = r"你好|您好|嗨|哈喽|哈啰|早上好|下午好|晚上好|早安|谢谢(?:你|您)?|多谢|感谢|再见|拜拜|好的|嗯|在吗|在不在|大家好"
_GREETING_EMOJI = r"[👍🙏😊🙂👋👌❤😀😃😄]"
_GREETING_RE = re.compile(rf"\b(?:{_GREETING_WORDS})\b|{_GREETING_ZH}|{_GREETING_EMOJI}", re.I)
# the whole text is greetings and punctuation; fails fast at the first other word
_GREETING_ONLY_RE = re.compile(
    rf"(?:[\W_]|\b(?:{_GREETING_WORDS})\b|{_GREETING_ZH}|{_GREETING_EMOJI})*", re.I
)
_CLOSING_RE = re.compile(
    r"\b(?:thanks?|thank\s+(?:you|u)|thx|ty|cheers|appreciated?|bye|goodbye|good\s*bye|take\s+care"
    r"|that'?s\s+(?:all|it|everything)|that\s+is\s+(?:all|it)|all\s+(?:good|sorted|set)|gracias|adi[oó]s)\b"
    r"|谢谢|多谢|感谢|再见|拜拜",
    re.I,
)
_LEADING_GREETING_RE = re.compile(
    r"\s*(?:(?:hi+|hello+|hey+|hiya|howdy|greetings|good\s+(?:morning|afternoon|evening|day)|hola"
    # an acknowledgement before a new question ("ok thanks. how long until ...?") is no request
    r"|ok(?:ay)?|thanks?(?:\s+(?:a\s+lot|so\s+much))?|thank\s+you(?:\s+so\s+much)?|cheers|great|perfect|cool"
    r"|alright|got\s+it|gracias|vale|好的|谢谢"
    r"|buenas(?:\s+(?:tardes|noches))?|buenos\s+d[ií]as|你好|您好|嗨|哈喽|早上好|下午好|晚上好|dear\s+\w+)"
    # a whole word: "history", "okapi" and "greatly" open with no greeting
    r"(?![a-zA-Z\u00c0-\u024f])"
    r"(?:\s+(?:there|team|all|everyone|guys|folks|support))?[\s,!.:;~-]*)+",
    re.I,
)


def greeting_only(text: str) -> bool:
    """True when the message is only greetings, thanks or sign-offs ("hi", "thanks!", "你好")."""
    return bool(_GREETING_ONLY_RE.fullmatch(text)) and bool(_GREETING_RE.search(text))


def closing(text: str) -> bool:
    """The customer thanks or says goodbye ("thanks, that's all!", "cheers", "谢谢")."""
    return bool(_CLOSING_RE.search(text))


def leading_greeting_end(text: str) -> int:
    """Offset just past a greeting that opens `text` ("Hi there, "), or 0."""
    m = _LEADING_GREETING_RE.match(text)
    if not m or m.end() >= len(text.rstrip()):
        return 0
    return m.end()


# --- sentiment ---------------------------------------------------------------------------------

# tone words only: topic words ("declined", "fraud", "stolen") say what happened, not how they feel
_LEXICON: dict[str, float] = {
    "terrible": -3, "horrible": -3, "awful": -3, "worst": -3, "useless": -2.5, "ridiculous": -2.5,
    "unacceptable": -3, "disgusting": -3, "disgraceful": -3, "disgrace": -3, "scam": -3, "scammers": -3,
    "angry": -2.5, "furious": -3, "livid": -3, "annoyed": -2, "annoying": -2, "frustrated": -2,
    "frustrating": -2, "disappointed": -2, "disappointing": -2, "upset": -2, "pathetic": -2.5,
    "incompetent": -2.5, "incompetence": -2.5, "rubbish": -2, "garbage": -2.5, "crap": -2.5,
    "shit": -3, "shitty": -3, "damn": -1.5, "hate": -3, "hated": -3, "sucks": -2.5, "bad": -2,
    "poor": -1.5, "worried": -1.5, "stressed": -1.5, "desperate": -2, "ruined": -2.5,
    "nightmare": -2.5, "unhelpful": -2, "rude": -2.5, "liars": -3, "lying": -2.5, "robbed": -2.5,
    "thieves": -3, "outrageous": -3, "insane": -2, "shocking": -2.5, "appalling": -3, "dreadful": -3,
    "waste": -2, "wasted": -2, "sad": -2, "unhappy": -2, "confusing": -1.5, "joke": -1.5,
    "ripoff": -3, "fed": -0.5, "sick": -1, "wtf": -2.5, "bullshit": -3, "idiots": -3, "stupid": -2.5,
    "hopeless": -2.5, "mess": -1.5, "angrier": -2.5, "fuming": -3, "horrendous": -3,
    "thanks": 2, "thank": 2, "thx": 1.5, "great": 3, "excellent": 3, "amazing": 3, "awesome": 3,
    "perfect": 3, "good": 2, "nice": 2, "love": 3, "loved": 3, "appreciate": 2.5, "appreciated": 2.5,
    "helpful": 2, "happy": 2.5, "glad": 2, "pleased": 2, "wonderful": 3, "fantastic": 3,
    "brilliant": 3, "best": 2.5, "fine": 1, "cool": 1, "quick": 1, "resolved": 1.5, "satisfied": 2,
    "kind": 1.5, "lovely": 2.5, "superb": 3, "grateful": 2.5, "smooth": 1.5, "easy": 1,
    "gracias": 2, "genial": 3, "excelente": 3, "perfecto": 3, "bien": 1.5, "bueno": 2, "buena": 2,
    "encantado": 2, "encantada": 2, "feliz": 2.5, "contento": 2, "contenta": 2, "agradecido": 2.5,
    "pésimo": -3, "pesimo": -3, "pésima": -3, "fatal": -2.5, "malo": -2, "mala": -2,
    "mal": -2, "enfadado": -2.5, "enfadada": -2.5, "enojado": -2.5, "enojada": -2.5, "molesto": -2,
    "molesta": -2, "harto": -2.5, "harta": -2.5, "vergüenza": -2.5, "estafa": -3, "ladrones": -3,
    "inútil": -2.5, "inutil": -2.5, "desastre": -3, "indignado": -3, "indignada": -3,
    "decepcionado": -2, "decepcionada": -2, "asco": -3, "basura": -2.5, "ridículo": -2.5,
}  # fmt: skip
_PHRASES: dict[str, float] = {
    r"rip(?:ped)?[\s-]+off": -3, r"fed\s+up": -2.5, r"sick\s+(?:and\s+tired\s+)?of": -2.5,
    r"had\s+enough": -2, r"thank\s+(?:you|u)": 0.5, r"no\s+help": -2, r"waste\s+of\s+time": -1,
    r"well\s+done": 2.5, r"fair\s+enough": 1, r"what\s+a\s+joke": -1.5,
}  # fmt: skip
_ZH_LEXICON: dict[str, float] = {
    "谢谢": 2, "感谢": 2, "太好了": 3, "很好": 2, "满意": 2, "棒": 2.5, "不错": 2, "开心": 2.5,
    "高兴": 2.5, "完美": 3, "好评": 2, "糟糕": -3, "差劲": -3, "太差": -3, "失望": -2.5, "生气": -2.5,
    "愤怒": -3, "气死": -3, "垃圾": -3, "骗子": -3, "骗人": -3, "恶心": -3, "烦": -2, "无语": -2,
    "坑人": -2.5, "离谱": -2.5, "太慢": -1.5, "着急": -1.5, "郁闷": -2, "烂": -2.5, "倒霉": -2,
    "不好": -2, "不满": -2.5, "受够": -2.5, "投诉": -1, "崩溃": -2,
}  # fmt: skip
_INTENSIFIERS = {
    "very", "really", "so", "extremely", "absolutely", "totally", "super", "incredibly", "completely",
    "utterly", "too", "truly", "seriously", "deeply", "highly", "fucking", "bloody", "muy", "tan",
    "súper", "bastante", "totalmente", "realmente",
}  # fmt: skip
_NEGATIONS = {
    "not", "no", "never", "dont", "don't", "isnt", "isn't", "wasnt", "wasn't", "doesnt", "doesn't",
    "didnt", "didn't", "cant", "can't", "cannot", "wont", "won't", "aren't", "arent", "nothing",
    "nobody", "neither", "nor", "without", "hardly", "nunca", "nada", "ni", "sin", "tampoco",
}  # fmt: skip
_TOKEN_RE = re.compile(r"[A-Za-zÀ-ÿñÑ']+")
_ZH_RE = re.compile("|".join(sorted(_ZH_LEXICON, key=len, reverse=True)))
_PHRASE_RE = re.compile("|".join(f"(?:{p})" for p in _PHRASES), re.I)


def _phrase_score(text: str) -> float:
    total = 0.0
    for m in _PHRASE_RE.finditer(text):
        for pattern, value in _PHRASES.items():
            if re.fullmatch(pattern, m.group(), re.I):
                total += value
                break
    return total


def sentiment(text: str) -> float:
    """Tone in [-1, 1]: lexicon with negation and intensifiers; CAPS and "!!!" amplify."""
    tokens = _TOKEN_RE.findall(text)
    lowered = [t.lower() for t in tokens]
    but_at = next((i for i, t in enumerate(lowered) if t in ("but", "pero", "however")), -1)
    total = 0.0
    for i, (tok, low) in enumerate(zip(tokens, lowered, strict=True)):
        value = _LEXICON.get(low)
        if value is None:
            continue
        if i > 0 and lowered[i - 1] in _INTENSIFIERS:
            value *= 1.5
        if any(w in _NEGATIONS for w in lowered[max(0, i - 3) : i]):
            value *= -0.6
        if len(tok) >= 3 and tok.isupper():
            value *= 1.5
        if but_at >= 0:
            value *= 1.5 if i > but_at else 0.5  # what follows "but" is what they mean
        total += value
    total += _phrase_score(text)
    for m in _ZH_RE.finditer(text):
        value = _ZH_LEXICON[m.group()]
        before = text[max(0, m.start() - 2) : m.start()]
        if before.endswith(("不", "没", "没有", "别")) and not m.group().startswith("不"):
            value *= -0.6
        if before.endswith(("非常", "很", "太", "真", "特别", "超")):
            value *= 1.5
        total += value
    if total:
        bangs = min(text.count("!") + text.count("！"), 4)
        total += math.copysign(0.3 * bangs, total)
        letters = [c for c in text if c.isalpha() and c.isascii()]
        if len(letters) >= 10 and sum(c.isupper() for c in letters) > 0.7 * len(letters):
            total *= 1.3  # a shouted message
    return max(-1.0, min(1.0, total / math.sqrt(total * total + 15)))


# --- risk cues ---------------------------------------------------------------------------------

_REGULATOR_RE = re.compile(
    r"\b(?:ombudsman|regulators?|regulatory\s+(?:body|authority)|financial\s+conduct\s+authority"
    r"|consumer\s+financial\s+protection|attorney\s+general|trading\s+standards|central\s+bank"
    r"|lawyers?|attorneys?|solicitors?|legal\s+action|legal\s+proceedings|lawsuit|sue|suing|court"
    r"|small\s+claims|class\s+action|report\s+(?:you|this|it)\s+to\s+the\s+(?:authorities|regulator)"
    r"|file\s+a\s+(?:formal\s+)?complaint\s+with|abogados?|demandar(?:les|los)?|demanda\s+judicial"
    r"|denuncia(?:r)?|tribunal(?:es)?|juzgado|banco\s+de\s+españa|defensor\s+del\s+(?:cliente|pueblo)"
    r"|acciones\s+legales|reclamaci[oó]n\s+(?:formal\s+)?ante)\b"
    r"|银保监会|银监会|金融监管总局|人民银行|央行|监管部门|监管机构|投诉到|举报|起诉|律师|法院|打官司|消协|12378",
    re.I,
)
# acronyms only in capitals: "sec" and "mas" are ordinary words
_REGULATOR_ACRONYM_RE = re.compile(
    r"\b(?:FCA|FOS|CFPB|OCC|FINRA|SEC|BaFin|MAS|PRA|CNMV|PBOC|CBIRC|NFRA|FDIC|ECB|EBA|BBB|DFPI)\b"
)

_SELF_HARM_RE = re.compile(
    r"\b(?:kill(?:ing)?\s+myself|end(?:ing)?\s+my\s+(?:own\s+)?life|take\s+my\s+(?:own\s+)?life|suicid(?:e|al)"
    r"|want\s+to\s+die|wanna\s+die|don'?t\s+want\s+to\s+(?:live|be\s+alive|be\s+here\s+anymore|go\s+on)"
    r"|no\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living)|better\s+off\s+dead|hurt(?:ing)?\s+myself"
    r"|harm(?:ing)?\s+myself|self[\s-]?harm|end\s+it\s+all|can'?t\s+go\s+on(?:\s+anymore)?"
    r"|suicid(?:io|arme|arse)|quitarme\s+la\s+vida|matarme|no\s+quiero\s+vivir|acabar\s+con\s+mi\s+vida)\b"
    r"|自杀|不想活|轻生|想死|活不下去|结束生命|了结自己",
    re.I,
)

_SPLIT_CUE_RE = re.compile(
    r"\b(?:split(?:ting)?|break(?:ing)?\s+(?:it|them|this|that|the\s+\w+)\s+(?:up|down|into)"
    r"|(?:several|multiple|many|lots\s+of)\s+smaller|smaller\s+(?:amounts|transfers|payments|deposits|chunks|sums)"
    r"|in\s+chunks|chunks|just\s+(?:under|below)|each\s+(?:one\s+)?(?:under|below)|stay(?:ing)?\s+(?:under|below)"
    r"|keep\s+(?:it|them|each|every)\s+(?:\w+\s+)?(?:under|below)|several\s+(?:transfers|deposits|payments)"
    r"|multiple\s+(?:transfers|deposits|payments)|twice|several\s+times|multiple\s+times"
    r"|in\s+(?:two|three|several|multiple)\s+(?:parts|goes|batches|instal(?:l)?ments|transfers|payments)"
    r"|dividir|partir\s+en|varias\s+(?:transferencias|partes)|en\s+partes)\b"
    r"|拆分|分(?:成|几|多)(?:笔|次)|化整为零",
    re.I,
)
_EVASION_CUE_RE = re.compile(
    r"\b(?:avoid|evade|get\s+around|bypass|dodge|circumvent|skirt|under\s+the\s+radar"
    r"|without\s+(?:triggering|(?:it|them)?\s*being\s+(?:reported|flagged|noticed|checked)"
    r"|the\s+bank\s+(?:noticing|reporting))"
    r"|(?:not|n't|never)\s+(?:get\s+|be\s+|being\s+)?(?:reported|flagged|noticed|detected|declared|checked)"
    r"|so\s+(?:that\s+)?(?:it|they|the\s+bank|nobody|no\s+one|you)\s+(?:doesn'?t|don'?t|won'?t|isn'?t"
    r"|aren'?t|can'?t)\s+(?:get\s+)?(?:report|flag|notice|see|trigger|reported|flagged|noticed)"
    r"|reporting\s+(?:threshold|requirements?|limit|rules?)|ctr|sar|aml\s+checks?"
    r"|so\s+(?:that\s+)?(?:nobody|no\s+one|no-one)\s+(?:flags?|notices?|reports?|sees?|checks?)"
    r"|para\s+(?:no\s+(?:declarar|reportar|avisar)|evitar)|sin\s+que\s+(?:lo\s+)?(?:reporten|detecten))\b"
    r"|n't\s+(?:get\s+|be\s+|being\s+)?(?:reported|flagged|noticed|detected|declared|checked)\b"
    r"|规避|避免(?:申报|报告|监管|审查)|不被(?:发现|监管|查)|绕过|不用申报|逃避",
    re.I,
)
_STRUCTURING_RE = re.compile(
    r"\bsmurfing\b|\bstructur(?:e|ing)\s+(?:my|the|these)\s+(?:deposits|transfers)", re.I
)

_REL = (
    r"husband|wife|partner|spouse|mother|mum|mom|mommy|mama|father|dad|daddy|papa|son|daughter|brother"
    r"|sister|friend|boss|grandmother|grandfather|grandma|grandpa|granny|gran|nan|aunt|uncle|cousin"
    r"|colleague|co-?worker|girlfriend|boyfriend|fianc[eé]e?|neighbou?r|client|parents?|child|kid"
    r"|flatmate|roommate|employer|niece|nephew|(?:mother|father|sister|brother)-in-law|ex"
)
_OBJ = (
    r"(?:bank\s+)?(?:account|card|balance|statements?|transactions|transaction\s+history|details|pin|password"
    r"|login|iban|savings|loan|pension|app)"
)
_THIRD_PARTY_RE = re.compile(
    rf"\bmy\s+(?:late\s+|elderly\s+|old\s+)?(?:{_REL})(?:'s|’s|s'|s)\s+(?:\w+\s+){{0,2}}?{_OBJ}\b"
    rf"|\bmy\s+(?:{_REL})\s+{_OBJ}\b"
    r"|\bon\s+behalf\s+of\s+(?:my|a|another|someone|somebody|him|her|them)\b"
    r"|\b(?:someone|somebody|anyone|another\s+person)\s+else'?s\s+(?:bank\s+)?(?:account|card)\b"
    r"|\banother\s+person'?s\s+(?:bank\s+)?(?:account|card)\b"
    r"|\b(?:la|el|los|las|su)\s+(?:cuenta|tarjeta|saldo|movimientos|datos|contraseña|pin)\s+de\s+mi\s+"
    r"(?:esposo|esposa|marido|mujer|madre|mamá|padre|papá|hijo|hija|hermano|hermana|amigo|amiga|novio"
    r"|novia|abuelo|abuela|jefe|pareja|suegra|suegro)\b"
    r"|我(?:的)?(?:老公|丈夫|妻子|老婆|爱人|妈妈|母亲|妈|爸爸|父亲|爸|儿子|女儿|朋友|哥哥|姐姐|弟弟|妹妹|爷爷"
    r"|奶奶|外婆|外公|老板|同事|家人)的?(?:银行)?(?:账户|账号|帐户|帐号|卡|余额|交易|密码)"
    r"|(?:替|帮)我?(?:老公|丈夫|妻子|老婆|妈妈|母亲|爸爸|父亲|儿子|女儿|朋友|家人)(?:查|看|改|转|取|办)",
    re.I,
)

_INJECTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|the\s+|your\s+|my\s+|of\s+)*"
    r"(?:previous|prior|above|earlier|preceding|former|initial|original|system|safety)?\s*"
    r"(?:instructions|prompts?|rules|directions|guidelines|directives|policies|guardrails)\b"
    r"|\byou\s+are\s+now\s+(?:(?:a|an|my|the|in)\s+)?(?:\w+\s+){0,3}?(?:assistant|ai|bot|model|chatbot|mode"
    r"|persona|character|admin|administrator|developer|dan|gpt|llm|unrestricted|unfiltered|jailbroken)\b"
    r"|\bfrom\s+now\s+on,?\s+you\s+(?:will|must|are|shall|should)\b"
    r"|\bsystem\s+prompt|\bdeveloper\s+mode\b|\bjailbreak|\bpretend\s+(?:you\s+are|to\s+be)\s+(?:a|an|my|the)\b"
    r"|\bnew\s+instructions\s*:|\breveal\s+(?:your\s+)?(?:system\s+)?(?:prompt|instructions)\b"
    r"|\brepeat\s+(?:the\s+)?(?:text|words|instructions)\s+above\b|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|admin|dan)\b"
    r"|</?system>|\[/?INST\]|<\|im_(?:start|end)\|>|###\s*(?:system|instruction)|\bBEGIN\s+SYSTEM\b"
    r"|\bignora\s+(?:todas\s+)?(?:las\s+)?instrucciones|\bolvida\s+(?:tus|las)\s+instrucciones|\bahora\s+eres\s+una?\b"
    r"|忽略(?:之前|以上|前面|所有|上述)(?:的)?(?:所有)?(?:指令|指示|提示|规则|说明)|你现在是|系统提示|提示词|越狱",
    re.I,
)
_URGENCY_RE = re.compile(
    r"\b(?:urgent(?:ly)?|asap|a\.s\.a\.p|immediately|right\s+(?:now|away)|emergency|stranded"
    r"|as\s+soon\s+as\s+possible|time[\s-]sensitive|desperately|urgente|urgencia|inmediatamente"
    r"|cuanto\s+antes|ya\s+mismo)\b|紧急|急|马上|立刻|尽快|赶紧",
    re.I,
)


# personal investment advice: no built-in department gives it, and suitability rules forbid
# recommending what nobody assessed ("Can I buy crypto with my card?" is a card question)
_ASSET = (
    r"(?:crypto(?:currenc(?:y|ies)|s)?(?:\s+coins?)?|bitcoins?|btc|ethereum|eth|dogecoin|altcoins?|stocks?"
    r"|shares|equities|etfs?|(?:index|mutual|investment|hedge)\s+funds?|bonds|commodit(?:y|ies)|forex|nfts?"
    # not the gold card or the silver plan
    r"|(?:gold|silver)(?!\s+(?:card|account|plan|membership|tier|member|one|level|status)))"
)
_INVEST_VERB = r"(?:buy|sell|invest|put|move|hold|pick|choose|go\s+for)"
_INVESTMENT_ADVICE_RE = re.compile(
    rf"\b(?:which|what)\s+(?:\w+\s+){{0,3}}{_ASSET}\b[^.?!]{{0,60}}\b(?:should|shall)\s+(?:i|we)\s+{_INVEST_VERB}"
    rf"|\bshould\s+(?:i|we)\s+{_INVEST_VERB}\b[^.?!]{{0,40}}\b{_ASSET}\b"
    rf"|\b(?:is|are)\s+(?:\w+\s+){{0,3}}{_ASSET}\s+(?:a\s+|an\s+)?(?:good|safe|smart|wise|bad|better)"
    r"\s+(?:investment|buy|bet|idea)"
    rf"|\bgood\s+time\s+to\s+(?:buy|sell|invest\s+in|get\s+into)\s+{_ASSET}"
    rf"|\bbest\s+(?:\w+\s+){{0,2}}{_ASSET}\s+to\s+(?:buy|invest|hold|own)"
    rf"|\bwill\s+(?:\w+\s+){{0,3}}{_ASSET}\s+(?:go\s+up|rise|crash|make\s+me\s+rich)"
    r"|\b(?:investment|investing|trading|stock|crypto)\s+(?:advice|tips|picks|recommendations?)\b",
    re.I,
)


# someone else pressing the customer to move their savings: the shape of an investment or "safe
# account" scam ("my grandson says I should move all my savings into crypto"). Narrow on purpose:
# each hit brings in a person
_PRESSER = (
    r"(?:says?|said|told\s+me|tells\s+me|telling\s+me|wants?\s+me|asked\s+me|asking\s+me|insists?|insisted"
    r"|keeps?\s+(?:saying|telling\s+me))"
)
_MOVE = r"(?:move|moving|transfer|transferring|send|sending|put|putting|invest|investing|withdraw|take\s+out)"
_HOARD = (
    rf"(?:(?:all\s+)?(?:of\s+)?my\s+(?:savings|pension|life\s+savings|nest\s+egg)|all\s+(?:of\s+)?my\s+money"
    rf"|everything\s+i\s+have|a\s+safe\s+account|gift\s+cards?|{_ASSET})"
)
_SCAM_PRESSURE_RE = re.compile(
    rf"\b{_PRESSER}\b[^.?!]{{0,40}}?\b(?:i\s+should|i\s+must|i\s+have\s+to|i\s+need\s+to|to)\s+{_MOVE}\b"
    rf"[^.?!]{{0,40}}?\b{_HOARD}\b"
    # "... to keep it safe": the bank never asks that
    rf"|\b{_MOVE}\s+(?:all\s+)?(?:my|the)\s+(?:money|savings)\s+(?:to|into)\s+a\s+(?:safe|secure|new)\s+account\b",
    re.I,
)


def scam_pressure(text: str) -> bool:
    """Someone is pressing the customer to move their savings (into crypto, a "safe account", ...)."""
    return bool(_SCAM_PRESSURE_RE.search(text))


def investment_advice(text: str) -> bool:
    """Asks what to invest in, buy or sell ("which crypto should I put my savings into?")."""
    return bool(_INVESTMENT_ADVICE_RE.search(text))


def regulator_threat(text: str) -> bool:
    return bool(_REGULATOR_RE.search(text) or _REGULATOR_ACRONYM_RE.search(text))


def self_harm(text: str) -> bool:
    return bool(_SELF_HARM_RE.search(text))


def structuring(text: str) -> bool:
    """Splitting money movements to stay under reporting thresholds (both cues in one sentence)."""
    if _STRUCTURING_RE.search(text):
        return True
    for sentence in re.split(r"(?<=[.!?。！？])\s+|\n+", text):
        if _SPLIT_CUE_RE.search(sentence) and _EVASION_CUE_RE.search(sentence):
            return True
    return False


def third_party(text: str) -> bool:
    return bool(_THIRD_PARTY_RE.search(text))


def prompt_injection(text: str) -> bool:
    return bool(_INJECTION_RE.search(text))


def injection_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each instruction aimed at the assistant ("ignore all previous instructions")."""
    return [m.span() for m in _INJECTION_RE.finditer(text)]


def urgency(text: str) -> bool:
    return bool(_URGENCY_RE.search(text))


# --- language ----------------------------------------------------------------------------------

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7af]")
_WORD_RE = re.compile(r"[a-záéíóúüñ]+")
_ES_WORDS = frozenset(
    "el la los las del que y un una por para con mi mis está esta estoy tengo quiero necesito hola gracias "
    "pero cuenta tarjeta dinero cómo como qué porque cuando hace pago banco transferencia cobraron ayuda "
    "favor buenos días buenas tardes noches también además ya muy se lo le al su es son hay mañana ayer "
    "cobro cargo saldo reembolso retiro cajero ni sin nada nunca usted ustedes puedo puede".split()
)
_EN_WORDS = frozenset(
    "the and my is to i you it of was in for on with have has not this that can me card account "
    "please what why how when where did does do are be been got get money payment help".split()
)


def guess_language(text: str) -> str:
    """Best-guess language: zh on Chinese characters, ja/ko on kana/hangul, es on Spanish words, else en."""
    sample = text[:2000]
    han = len(_HAN_RE.findall(sample))
    if _KANA_RE.search(sample) and han + len(_KANA_RE.findall(sample)) >= 2:
        return "ja"
    if len(_HANGUL_RE.findall(sample)) >= 2:
        return "ko"
    latin = len(_WORD_RE.findall(sample.lower()))
    if han >= 2 and han >= latin:
        return "zh"
    words = set(_WORD_RE.findall(sample.lower()))  # distinct: "la la la" is not Spanish
    es = len(words & _ES_WORDS)
    en = len(words & _EN_WORDS)
    marked = any(c in sample for c in "¿¡ñÑ")
    if (es >= 2 and es > en) or (marked and es >= 1 and es >= en):
        return "es"
    if han >= 1 and latin <= 2:
        return "zh"
    return "en"


def detect(text: str) -> Signals:
    """All signals for one message."""
    return Signals(
        sentiment=round(sentiment(text), 3),
        regulator_threat=regulator_threat(text),
        self_harm=self_harm(text),
        urgency=urgency(text),
        structuring=structuring(text),
        third_party=third_party(text),
        prompt_injection=prompt_injection(text),
        scam_pressure=scam_pressure(text),
    )

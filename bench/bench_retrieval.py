"""Knowledge search latency as the store grows (target: p50 <= 5 ms at 100k articles).

Builds a temporary SQLite database, fills it with synthetic articles made from
the starter knowledge base's vocabulary plus random filler words, and times
`KnowledgeStore.search` for realistic customer sub-issues (some filtered by
department or jurisdiction) at each size.

    python bench/bench_retrieval.py                       # 1k, 10k, 100k
    python bench/bench_retrieval.py --sizes 1000,5000 --rounds 3
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import string
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STARTER_KB = ROOT / "plugins" / "builtin" / "knowledge"
DEPARTMENTS = ("billing", "compliance", "technical", "general")
JURISDICTIONS = ("EU", "UK", "US", "US-CA", "CN", "SG")

# (query, department, jurisdiction): short sub-issues like the decomposer produces
QUERIES: list[tuple[str, str | None, str | None]] = [
    ("why was I charged a fee for taking cash out at an ATM in Spain", None, None),
    ("the exchange rate on my card payment looks wrong", "billing", None),
    ("how much do you charge for converting currency at the weekend", None, "EU"),
    ("I paid for a hotel and it was taken twice from my account", "billing", None),
    ("the shop refunded me two weeks ago but I still don't have the money", None, None),
    ("my transfer to my landlord is still pending since Monday", "billing", "UK"),
    ("SWIFT payment to my sister hasn't arrived, what is the UETR", None, None),
    ("I sent money to the wrong IBAN, can you cancel it", "billing", "EU"),
    ("how long does an ACH transfer take to reach my other bank", None, "US"),
    ("can I top up with a credit card and is there a fee", "billing", None),
    ("cancel my Premium plan and refund this month", None, None),
    ("I need an invoice with VAT for my subscription", "billing", "EU"),
    ("why do you need a photo of my passport again", "compliance", None),
    ("my account has been on hold for verification for a week", None, "SG"),
    ("you are asking where my money comes from, I sold my flat", "compliance", None),
    ("I want a copy of all the data you hold about me", None, "EU"),
    ("delete my personal information and stop selling my data", "compliance", "US-CA"),
    ("how long will you keep my records after I close the account", None, "CN"),
    ("I want to complain and take this to the ombudsman", None, "UK"),
    ("there is a payment I don't recognise from an online casino", None, None),
    ("I lost my card on the train last night", None, None),
    ("how can I deposit 15000 cash without it being reported", "compliance", "US"),
    ("someone called pretending to be from your fraud team and I moved money", None, "UK"),
    ("I can't log in, it says my account is locked", "technical", None),
    ("forgot my password and the reset email never arrives", None, None),
    ("got a new phone and the two factor code doesn't work", "technical", None),
    ("the app keeps crashing when I open my statements", None, None),
    ("my card gets declined everywhere even though I have money", "technical", None),
    ("contactless stopped working and it asks for my PIN", None, "EU"),
    ("I can't add the card to Apple Pay", "technical", None),
    ("is the app down right now? transfers are failing", None, None),
    ("my new card still hasn't arrived after two weeks", None, None),
    ("am I talking to a bot or a real person", None, None),
    ("which currencies can I hold in my account", "general", None),
    ("我的卡被冻结了 card frozen", None, "CN"),
    ('refund "NOT" AND OR NEAR * fee^2 🙂', None, None),
]


_WORDS = re.compile(r"[a-z]{3,}")


class Corpus:
    """Topics and vocabulary of the starter KB, the raw material of the synthetic articles."""

    def __init__(self) -> None:
        from orchestrator.knowledge.loader import read_articles

        self.topics: list[tuple[list[str], list[str], list[str]]] = []  # (title words, body words, tags)
        counts: Counter[str] = Counter()
        for _, article in read_articles([STARTER_KB]):
            title = _WORDS.findall(article.title.lower())
            body = _WORDS.findall(article.body.lower())
            self.topics.append((title, body, list(article.tags)))
            counts.update(title + body)
        self.words = sorted(counts)
        self.weights = [counts[w] for w in self.words]

    def articles(self, n: int, start: int, rng: random.Random) -> list:
        """Articles that read like the starter KB: mostly one topic's words, some general words, some noise."""
        from orchestrator.knowledge.models import ArticleIn

        today = date.today()
        out = []
        for i in range(start, start + n):
            title, body, tags = rng.choice(self.topics)
            length = rng.randint(80, 260)
            words = rng.choices(body, k=int(length * 0.6)) + rng.choices(
                self.words, self.weights, k=int(length * 0.15)
            )
            # random filler, so the index also holds many terms no query will ever use
            words += [
                "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 10))) for _ in range(length // 4)
            ]
            rng.shuffle(words)
            heading = rng.sample(title, min(len(title), 3)) + rng.choices(body, k=rng.randint(1, 5))
            out.append(
                ArticleIn(
                    id=f"SYN-{i:07d}",
                    title=" ".join(heading).capitalize(),
                    body=" ".join(words) + ".",
                    department=rng.choice(DEPARTMENTS),
                    jurisdictions=["*"]
                    if rng.random() < 0.6
                    else rng.sample(JURISDICTIONS, rng.randint(1, 2)),
                    valid_to=today - timedelta(days=rng.randint(1, 900)) if rng.random() < 0.1 else None,
                    tags=rng.sample(tags, min(len(tags), rng.randint(1, 4))),
                )
            )
        return out


def run(store, k: int) -> list[float]:
    """One pass over the queries; milliseconds per search."""
    samples = []
    for query, dep, jur in QUERIES:
        t = time.perf_counter()
        hits = store.search(query, department=dep, jurisdiction=jur, k=k)
        samples.append((time.perf_counter() - t) * 1000)
        if not hits:
            raise SystemExit(f"no hits for {query!r}: the benchmark data is broken")
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated article counts")
    parser.add_argument("--rounds", type=int, default=5, help="times each query runs per size")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temporary one)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    from sqlmodel import SQLModel

    from orchestrator.db import make_engine
    from orchestrator.knowledge.loader import load_path
    from orchestrator.knowledge.models import Article, CaseNoteRow
    from orchestrator.knowledge.store import KnowledgeStore, ensure_search_index

    rng = random.Random(args.seed)
    corpus = Corpus()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        engine = make_engine(f"sqlite:///{db}")
        SQLModel.metadata.create_all(engine, tables=[Article.__table__, CaseNoteRow.__table__])  # type: ignore[attr-defined]
        ensure_search_index(engine)
        store = KnowledgeStore(engine)
        load_path(store, STARTER_KB)  # the real articles sit among the synthetic ones
        print(
            f"synthetic articles from {len(corpus.topics)} starter topics, {len(corpus.words)} words; "
            f"{len(QUERIES)} queries x {args.rounds} rounds, k={args.k}"
        )
        print("cold: first pass after the writes, term statistics not yet cached; then warm passes")
        print(
            f"{'articles':>9} {'build s':>8} {'db MB':>7} {'cold p50':>8} {'cold max':>8} "
            f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        )
        have = store.count()
        for size in sizes:
            t0 = time.perf_counter()
            while have < size:
                batch = corpus.articles(min(5000, size - have), have, rng)
                store.upsert(batch)
                have += len(batch)
            build = time.perf_counter() - t0
            # first pass: term statistics cold (the writes above cleared them), page cache warm-ish
            cold = run(store, args.k)
            warm: list[float] = []
            for _ in range(args.rounds):
                warm += run(store, args.k)
            wal = db.with_name(db.name + "-wal")
            size_mb = (db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6
            print(
                f"{size:>9} {build:>8.1f} {size_mb:>7.1f} {statistics.median(cold):>8.2f} "
                f"{max(cold):>8.2f} {statistics.median(warm):>7.2f} {percentile(warm, 0.9):>7.2f} "
                f"{percentile(warm, 0.99):>7.2f} {max(warm):>7.2f}"
            )
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

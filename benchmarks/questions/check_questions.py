"""Check a question set against the rules it was written to (issue 10, issue 12).

    python benchmarks/questions/check_questions.py benchmarks/questions/wikinews-qa

A question set is a folder with ``questions*.jsonl`` files (one question a line) and
``dataset.json`` naming the corpus the questions are about. Each question:

    {"id": "wq-0001", "question": "...", "answers": ["...", ...], "article": "<article id>",
     "style": "who|what|which|where|when|why|how many|how much|keyword",
     "kind": "answerable|unanswerable|near_miss", "mentions": "<entity, near misses only>",
     "split": "dev|test"}

Rules checked (exit status 1 and one line per violation otherwise):
- answerable: 1-3 answer strings, each a verbatim substring of its article's text;
- no run of 4 or more consecutive words of the question appears in its article (readers'
  words, not the article's); for near misses, in any article that mentions the entity;
- near misses name (``mentions``) an entity the archive does mention;
- ids are unique, every style occurs, the split is fixed in the file (dev or test), and most
  answerable questions are answered beyond their article's first sentence.
Printed: counts per kind, style and split, and the share answered beyond the first sentence.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

STYLES = ("who", "what", "which", "where", "when", "why", "how many", "how much", "keyword")
KINDS = ("answerable", "unanswerable", "near_miss")
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD_RE.findall(text)]


def load_corpus(folder: Path) -> dict[str, str]:
    """Article id -> text, from the corpus that dataset.json names (relative to the folder)."""
    spec = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    texts: dict[str, str] = {}
    for entry in spec["corpus"]:
        path = (folder / entry["path"]).resolve()
        if not path.exists():
            raise SystemExit(f"{path}: the corpus file named by dataset.json is absent")
        if entry["format"] == "wikinews-jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                texts[f"wikinews-{row['id']}"] = row["text"]
        elif entry["format"] == "multihop-corpus":
            for n, row in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                texts[f"newsqa-{n}"] = f"{row.get('title', '')}\n{row['body']}"
        elif entry["format"] == "text":
            texts[entry["id"]] = path.read_text(encoding="utf-8")
        else:
            raise SystemExit(f"unknown corpus format {entry['format']!r} in dataset.json")
    return texts


def ngrams(tokens: list[str], n: int = 4) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def first_sentence_end(text: str) -> int:
    m = re.search(r"[.!?][\"'”’)]*(?=\s|$)", text)
    return m.end() if m else len(text)


def check(folder: Path) -> tuple[list[str], dict]:
    texts = load_corpus(folder)
    rows = [json.loads(line) for path in sorted(folder.glob("questions*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    errors: list[str] = []
    seen: set[str] = set()
    beyond = answerable = 0
    for row in rows:
        qid = row.get("id", "?")
        where = f"{qid}: "
        if qid in seen:
            errors.append(where + "duplicate id")
        seen.add(qid)
        kind, style, split = row.get("kind"), row.get("style"), row.get("split")
        if kind not in KINDS:
            errors.append(where + f"kind {kind!r} is not one of {KINDS}")
        if style not in STYLES:
            errors.append(where + f"style {style!r} is not one of {STYLES}")
        if split not in ("dev", "test"):
            errors.append(where + f"split {split!r} is not dev or test")
        q_grams = ngrams(words(row.get("question", "")))
        if kind == "answerable":
            answerable += 1
            text = texts.get(str(row.get("article")))
            if text is None:
                errors.append(where + f"unknown article {row.get('article')!r}")
                continue
            answers = row.get("answers") or []
            if not 1 <= len(answers) <= 3:
                errors.append(where + f"{len(answers)} answer strings (1 to 3 wanted)")
            positions = []
            for a in answers:
                pos = text.find(a)
                if pos < 0:
                    errors.append(where + f"answer {a!r} is not a verbatim substring of the article")
                else:
                    positions.append(pos)
            if positions and min(positions) >= first_sentence_end(text):
                beyond += 1
            copied = q_grams & ngrams(words(text))
            if copied:
                errors.append(where + f"copies article words: {' '.join(sorted(copied)[0])!r}")
        elif kind == "near_miss":
            mention = (row.get("mentions") or "").strip()
            holding = [t for t in texts.values() if mention and mention in t]
            if not holding:
                errors.append(where + f"near miss mentions {mention!r}, which no article holds")
            copied = q_grams & set().union(*(ngrams(words(t)) for t in holding))
            if copied:
                errors.append(where + f"copies words of an article about {mention!r}: "
                              f"{' '.join(sorted(copied)[0])!r}")
    kinds = Counter(r.get("kind") for r in rows)
    styles = Counter(r.get("style") for r in rows if r.get("kind") == "answerable")
    for style in STYLES:
        if not styles.get(style):
            errors.append(f"no answerable question of style {style!r}")
    summary = {
        "questions": len(rows), "kinds": dict(kinds), "styles": dict(styles),
        "splits": dict(Counter((r.get("split"), r.get("kind")) for r in rows).most_common()),
        "beyond_first_sentence": round(beyond / answerable, 3) if answerable else 0.0,
    }
    if answerable and beyond / answerable <= 0.5:
        errors.append(f"only {beyond}/{answerable} answerable questions are answered beyond the first sentence")
    return errors, summary


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    errors, summary = check(Path(argv[0]))
    for line in errors:
        print(line)
    print(json.dumps({k: (str(v) if k == "splits" else v) for k, v in summary.items()}, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

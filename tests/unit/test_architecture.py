"""Only ``chalicelib/store`` speaks DynamoDB (SPEC section 5, issue 19).

Outside the store, no code may use key builders, conditions, queries, ``DoesNotExist`` or
PynamoDB update expressions. ``LEFT`` lists what is still there from before the
repositories, file by file: the count of a file may only go down, and a file not listed
must have none. When the redesign is done ``LEFT`` is empty.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "chalicelib"
LAYERS = ("services", "jobs", "api", "domain")
#: The words of DynamoDB: key builders, conditions, queries, misses, update expressions.
DYNAMODB_WORDS = re.compile(
    r"\bkeys\.|DoesNotExist|\.does_not_exist\(|\bcondition=|\.query\("
    r"|\b[A-Z]\w+\.\w+\.(?:set|add|remove|exists|is_in|between|startswith)\(")

#: What is left, per file (only ever lowered): nothing since the payments area moved.
LEFT: dict[str, int] = {}


def dynamodb_words() -> dict[str, int]:
    found: dict[str, int] = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            count = len(DYNAMODB_WORDS.findall(path.read_text()))
            if count:
                found[str(path.relative_to(ROOT.parent))] = count
    return found


def test_no_dynamodb_words_outside_the_store_beyond_what_is_left() -> None:
    grown = {name: (count, LEFT.get(name, 0)) for name, count in dynamodb_words().items()
             if count > LEFT.get(name, 0)}
    assert not grown, f"DynamoDB outside chalicelib/store (found, allowed): {grown}"


def test_what_is_left_is_not_overstated() -> None:
    """Lower ``LEFT`` as files are cleaned, so it never hides a regression."""
    found = dynamodb_words()
    stale = {name: (found.get(name, 0), allowed) for name, allowed in LEFT.items()
             if found.get(name, 0) < allowed}
    assert not stale, f"lower LEFT for (found, listed): {stale}"

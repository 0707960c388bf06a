"""The README is where staff look: it must list every rule code exactly as govreg reports it."""

from __future__ import annotations

from registry.codes import RULES
from tests.support.paths import ROOT

README = ROOT / "README.md"


def test_readme_lists_every_code_with_its_meaning_and_fix() -> None:
    text = README.read_text(encoding="utf-8")
    for rule in RULES.values():
        row = f"| `{rule.code}` | {rule.severity} | {rule.title} | {rule.principle} | {rule.hint} |"
        assert row in text, f"README.md lacks or misstates {rule.code}"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.index("make demo") < text.index("make test") < 1500

"""Every documented example in rules.json is true: its bad side fires the rule and its good side
does not. And docs/wiring-rules.md is exactly what the generator writes from them today."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion_app.wiring import docs
from companion_app.wiring.check import check_example, rule_examples
from companion_app.wiring.rules import catalog, registered

EXAMPLES = [
    pytest.param(name, example, id=f"{name}-{i}")
    for name, entry in catalog().items()
    for i, example in enumerate(rule_examples(entry), start=1)
]


@pytest.mark.parametrize("name,example", EXAMPLES)
def test_bad_example_fires(name, example):
    found = [f for f in check_example(example, "bad") if f.rule == name]
    assert found, f"{name}: the bad example does not fire"
    assert all(f.severity in ("error", "warning", "info") and f.message and f.fix for f in found)


@pytest.mark.parametrize("name,example", EXAMPLES)
def test_good_example_is_quiet(name, example):
    found = [f for f in check_example(example, "good") if f.rule == name]
    assert not found, f"{name}: the good example fires: {found}"


def test_every_registered_rule_has_an_example():
    missing = [name for name in registered() if not rule_examples(catalog()[name])]
    assert missing == []


def test_docs_are_up_to_date():
    path = Path(__file__).resolve().parents[1] / "docs" / "wiring-rules.md"
    assert (
        path.read_text(encoding="utf-8") == docs.render()
    ), "docs/wiring-rules.md is stale: run python -m companion_app.wiring.docs"


def test_docs_show_every_rule_and_the_real_message():
    text = docs.render()
    for name, entry in catalog().items():
        assert f"## {name}\n" in text
        assert entry["meaning"] in text
    assert "error: main.py:2: Pin(40, Pin.OUT) on line 2:" in text

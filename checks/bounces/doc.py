"""docs/bounces.md from the classifier's table: ``python -m checks.bounces.doc > docs/bounces.md``.

A test keeps the file equal to what this prints, so the documented rules are the rules.
"""

from __future__ import annotations

import sys

from checks.bounces.sources import SOURCES
from checks.bounces.table import BLOCKLIST_NAMES, CODE_RULES, RULES, Rule

__all__ = ["render"]

_HEAD = """# Bounce classification rules

Generated from `checks/bounces/table.py` by `python -m checks.bounces.doc > docs/bounces.md`;
`tests/unit/test_bounce_classify.py` keeps them equal. The classifier reads one SMTP
reply (basic code, enhanced code, text) and the receiving host or recipient domain; the
first rule that matches gives the class. Text patterns are regular expressions over the
reply's text, lower-cased, with the `550-5.7.1` continuation prefixes removed and white
space collapsed. A reply no rule matches is `unclassified`.

Order: the providers' documented replies, then block-list citations, then generic
wording, then the enhanced status code alone. Provider ids: google, microsoft, yahoo
(Yahoo, AOL, AT&T, Verizon), apple, gmx (GMX, web.de, mail.com), comcast, mailru, other.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(n: int, rule: Rule) -> str:
    text = f"`{_cell(rule.text.pattern)}`" if rule.text is not None else ""
    code = f"`{_cell(rule.enhanced.pattern)}`" if rule.enhanced is not None else ""
    providers = ", ".join(sorted(rule.providers)) if rule.providers else "any"
    named = rule.blocklist or ""
    return f"| {n} | `{rule.cls.value}` | {text} | {code} | {providers} | {named} | {rule.source} |"


def render() -> str:
    lines = [_HEAD, "## Rules", ""]
    lines.append("| # | class | text pattern | enhanced code | providers | list | source |")
    lines.append("|---|---|---|---|---|---|---|")
    for n, rule in enumerate((*RULES, *CODE_RULES), start=1):
        lines.append(_row(n, rule))
    lines += [
        "",
        "## List names",
        "",
        "A `blocklisted` rule without a fixed list takes the "
        "first name whose pattern matches the text, else the provider's own list "
        "(microsoft, gmx, comcast, yahoo), else `unknown`.",
        "",
    ]
    lines += ["| pattern | list |", "|---|---|"]
    lines += [f"| `{_cell(p.pattern)}` | {name} |" for p, name in BLOCKLIST_NAMES]
    lines += ["", "## Sources", "", "| key | document |", "|---|---|"]
    lines += [f"| {key} | {doc} |" for key, doc in SOURCES.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

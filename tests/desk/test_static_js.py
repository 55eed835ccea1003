"""The page scripts share one front-end module (desk/static/desk/common.js, ``window.Desk``) and define no helper
twice: not one that common.js defines, and not the same one in two page scripts."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "desk" / "static" / "desk"
COMMON = STATIC / "common.js"
BASE = ROOT / "templates" / "desk" / "base.html"

# `function name(`, and `const name = function / (...) => / x => / Desk.oncePerBurst(` (a named closure is a
# definition too).
DEFINITION = re.compile(
    r"\bfunction\s+(?P<declared>[A-Za-z_$][\w$]*)\s*\("
    r"|\b(?:const|let|var)\s+(?P<assigned>[A-Za-z_$][\w$]*)\s*=\s*"
    r"(?:function\b|\([^()]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>|Desk\.oncePerBurst\()"
)

# Names that several pages use for their own, different work - not helpers to share:
# - render: board.js draws the recommendation, rfq_board.js the quotes, tca.js the pre-trade estimate;
# - load: board.js asks the recommendation API, rfq_board.js the RFQ API, each with its own one-at-a-time queue;
# - tick: board.js counts down to the re-evaluation, rfq_board.js runs the quotes' countdowns;
# - refresh: each page reloads its own parts (the blotter's tables, the risk gauges, a plan, the ticket's panel).
PAGE_NAMES = frozenset({"render", "load", "tick", "refresh"})


def _page_scripts() -> list[Path]:
    return sorted(p for p in STATIC.glob("*.js") if p != COMMON)


def _defined(path: Path) -> set[str]:
    return {m["declared"] or m["assigned"] for m in DEFINITION.finditer(path.read_text())}


def test_the_definition_pattern_finds_each_form() -> None:
    source = "function el(t) {}\nconst fmt = function (v) {};\nlet bps = (v) => v;\nvar pct = v => v;\n"
    source += "const refresh = Desk.oncePerBurst(function () {}, 150);\nconst el2 = Desk.el;\n"

    found = {m["declared"] or m["assigned"] for m in DEFINITION.finditer(source)}

    assert found == {"el", "fmt", "bps", "pct", "refresh"}


def test_common_js_exports_what_it_defines() -> None:
    source = COMMON.read_text()
    exported = set(re.findall(r"\b(\w+): \1\b", source[source.index("window.Desk = {") :]))

    assert {"el", "fmt", "bps", "money", "pct", "duration", "csrf", "call", "connectSocket"} <= exported


def test_no_page_script_defines_a_helper_of_common_js_again() -> None:
    shared = _defined(COMMON)

    again = {path.name: sorted(_defined(path) & shared) for path in _page_scripts()}

    assert {name: names for name, names in again.items() if names} == {}


def test_no_two_page_scripts_define_the_same_helper() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in _page_scripts():
        for name in _defined(path):
            where[name].append(path.name)

    twice = {name: files for name, files in where.items() if len(files) > 1}

    assert {name: files for name, files in twice.items() if name not in PAGE_NAMES} == {}
    # The allow-list stays short and true: each name on it is used by more than one page.
    assert set(twice) >= PAGE_NAMES


def test_base_loads_the_shared_module_before_the_page_scripts() -> None:
    base = BASE.read_text()

    assert base.index("'desk/common.js'") < base.index("{% block scripts %}")
    for path in _page_scripts():
        assert "window.deskSocket" not in path.read_text(), path.name

"""Hostile values in every slot of every template, and a parse of every page written.

Each page must hold exactly one script (our hashed static source), no event-handler
attribute, no element that loads or runs anything, and only http(s) or own-page hrefs.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2
import pytest
from selectolax.lexbor import LexborHTMLParser

from linkwatch.config import ReportSettings, Settings
from linkwatch.jobs.report import generate_report
from linkwatch.report.filters import safe_href
from linkwatch.report.render import content_security_policy, environment, script_source
from tests.kit.rows import insert, update
from tests.report.example import ReportDB, days_ago

TEMPLATES = Path(__file__).parents[2] / "linkwatch" / "report" / "templates"

XSS = "<script>alert(1)</script>"
ATTR = '" onmouseover="alert(1)" x="'
IMG = "<img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(1)>"
BIDI = "\u202eexe.txt\u202c \u2066rtl\u2069 zero\u200bwidth \ufeff"
LONG = "A" * 5000 + XSS
HOSTILE_TEXTS = [
    XSS,
    ATTR,
    IMG,
    SVG,
    BIDI,
    LONG,
    "</title><script>alert(1)</script>",
    "{{ 7*7 }}",
    "'; alert(1); //",
]
BAD_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    'https://evil.example/"onmouseover="alert(1)',
    "https://evil.example/<script>alert(1)</script>",
    "http://аррӏе.com/login",
    "https://evil.example/\u202ecod.exe",
    "//evil.example/x",
]
BAD_SNAPSHOTS = [
    "javascript:alert(1)",
    "https://web.archive.org.evil.example/web/20200101000000/http://x.org/",
    "https://web.archive.org/web/2020/http://x.org/",
    "data:text/html,<script>alert(1)</script>",
]
ALLOWED_TAGS = {
    "html",
    "head",
    "body",
    "meta",
    "title",
    "style",
    "script",
    "header",
    "nav",
    "main",
    "footer",
    "section",
    "h1",
    "h2",
    "h3",
    "p",
    "a",
    "div",
    "span",
    "ul",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
    "bdi",
    "strong",
    "code",
    "label",
    "input",
    "svg",
    "rect",
    "line",
    "text",
    "button",
}
OWN_PAGE = re.compile(
    r"^(?:#d\d+|(?:\.\./)?(?:index\.html(?:#[a-z-]+)?|report\.json|"
    r"(?:problems|redirected|documents|domains|unverifiable|no-snapshot)(?:-\d+)?\.html|"
    r"docs/\d+\.html#d\d+(?:-L\d+)?))$"
)
INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")


def _hostile_links(rdb: ReportDB, doc: int, doc2: int) -> None:
    c = rdb.clock
    for i, url in enumerate(BAD_URLS):
        text = HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)]
        state = ["dead", "failing", "unverifiable", "invalid", "alive", "new"][i % 6]
        link = rdb.link(
            url,
            state,
            host=["<b onmouseover=alert(1)>x</b>", "аррӏе.com", IMG][i % 3],
            failing_since=text[:40],
            state_since=XSS,
            last_outcome=SVG if i % 2 else "broken",
            last_status=IMG if i == 1 else 404,
            last_error=HOSTILE_TEXTS[(i + 1) % 9],
            last_final_url=BAD_URLS[(i + 1) % len(BAD_URLS)],
            redirect_permanent=1,
            invalid_reason=ATTR,
            title=HOSTILE_TEXTS[(i + 2) % 9],
            snapshot_url=BAD_SNAPSHOTS[i % len(BAD_SNAPSHOTS)],
            snapshot_timestamp=XSS,
            archived_copy=BAD_SNAPSHOTS[(i + 1) % len(BAD_SNAPSHOTS)],
            last_checked_at=XSS,
        )
        rdb.cite(doc if i % 2 else doc2, link, i + 1, text, raw_url=url, source=ATTR)
        rdb.check(link, days_ago(c, 1), SVG, None, error=XSS)
        rdb.check(link, days_ago(c, 2), "redirected", 301, error=BIDI)
        rdb.change(link, days_ago(c, 1), "failing", "dead")
        rdb.queue(link, XSS, error=IMG, attempts=1)
    # a redirected link whose new address is hostile
    moved = rdb.link(
        "https://example.org/moved",
        "alive",
        last_outcome="redirected",
        last_final_url="javascript:alert(1)",
        last_status=301,
    )
    rdb.cite(doc, moved, 99, BIDI)
    rdb.cite(doc2, moved, XSS, ATTR)  # type: ignore[arg-type]  # text in an INTEGER column


@pytest.fixture
def hostile_report(rdb: ReportDB, tmp_path: Path) -> dict[str, str]:
    doc = rdb.document(XSS + "\u202egpj.md", warnings=[IMG, ATTR])
    doc2 = rdb.document('"><img src=x onerror=alert(1)>.md')
    with rdb.store.write() as db:
        update(db, "documents", doc2, {"warnings": SVG})  # not even JSON
        insert(db, "runs", {"job": XSS, "started_at": XSS, "status": IMG, "error": ATTR})
    rdb.store.set_meta("archive." + XSS, IMG)
    _hostile_links(rdb, doc, doc2)
    settings = Settings(
        report=ReportSettings(dir=str(tmp_path / "out"), title=XSS, index_rows=2, page_rows=3),
        base_dir=str(tmp_path),
    )
    generate_report(settings, rdb.store, clock=rdb.clock)
    out = tmp_path / "out"
    return {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*.html")
    }


def test_every_kind_of_page_was_rendered(hostile_report: dict[str, str]) -> None:
    names = set(hostile_report)
    assert {
        "index.html",
        "problems.html",
        "problems-2.html",
        "documents.html",
        "domains.html",
        "redirected.html",
        "unverifiable.html",
        "no-snapshot.html",
    } <= names
    assert sum(name.startswith("docs/") for name in names) == 2


def _pages(report: dict[str, str]) -> list[tuple[str, Any]]:
    return [(name, LexborHTMLParser(html)) for name, html in sorted(report.items())]


def test_the_only_script_is_the_hashed_static_source(hostile_report: dict[str, str]) -> None:
    for name, tree in _pages(hostile_report):
        scripts = tree.css("script")
        assert len(scripts) == 1, name
        assert scripts[0].text(deep=True) == script_source(), name
        assert not scripts[0].attributes, name


def test_no_event_handler_attributes(hostile_report: dict[str, str]) -> None:
    for name, tree in _pages(hostile_report):
        for node in tree.root.traverse():
            assert not [a for a in node.attributes if a.lower().startswith("on")], (name, node.html)


def test_no_unexpected_elements(hostile_report: dict[str, str]) -> None:
    for name, tree in _pages(hostile_report):
        tags = {node.tag for node in tree.root.traverse() if not node.tag.startswith("-")}
        assert tags <= ALLOWED_TAGS, (name, tags - ALLOWED_TAGS)


def test_every_href_is_http_or_an_own_page(hostile_report: dict[str, str]) -> None:
    for name, tree in _pages(hostile_report):
        for a in tree.css("[href]"):
            href = a.attributes["href"] or ""
            if href.startswith(("http://", "https://")):
                assert safe_href(href) == href, (name, href)
                assert a.attributes.get("rel") == "noopener noreferrer nofollow", (name, href)
            else:
                assert OWN_PAGE.match(href), (name, href)


def test_no_src_action_or_formaction_attributes(hostile_report: dict[str, str]) -> None:
    for name, tree in _pages(hostile_report):
        for node in tree.root.traverse():
            assert not {"src", "srcset", "action", "formaction", "xlink:href", "srcdoc"} & set(
                node.attributes
            ), (name, node.html)


def test_style_attributes_are_only_our_own_widths(hostile_report: dict[str, str]) -> None:
    for name, tree in _pages(hostile_report):
        for node in tree.css("[style]"):
            assert re.fullmatch(r"width:\d+%", node.attributes["style"] or ""), name


def test_snapshot_links_only_to_wayback(hostile_report: dict[str, str]) -> None:
    for _name, tree in _pages(hostile_report):
        assert not tree.css("a.snap")  # every hostile snapshot URL was refused


def test_hostile_hosts_are_punycode(hostile_report: dict[str, str]) -> None:
    index = hostile_report["domains.html"]
    assert "xn--80ak6aa92e.com" in index
    assert "аррӏе" not in index


def test_bidi_and_invisible_characters_never_reach_the_page(
    hostile_report: dict[str, str],
) -> None:
    for name, html in hostile_report.items():
        assert not INVISIBLE.search(html), name
    assert "[U+202E]" in hostile_report["index.html"]


def test_hostile_text_is_shown_escaped(hostile_report: dict[str, str]) -> None:
    docs = "".join(html for name, html in hostile_report.items() if name.startswith("docs/"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in docs
    assert "&lt;img src=x onerror=alert(1)&gt;" in hostile_report["index.html"]


def test_long_values_are_truncated_with_the_full_value_in_title(
    hostile_report: dict[str, str],
) -> None:
    spans = [
        s
        for name, tree in _pages(hostile_report)
        if name.startswith("docs/")
        for s in tree.css("span[title]")
    ]
    titled = [s for s in spans if len(s.attributes["title"] or "") > 4000]
    assert titled
    assert all(len(s.text()) < 200 for s in titled)


def test_csp_and_referrer_policy_on_every_page(hostile_report: dict[str, str]) -> None:
    for name, tree in _pages(hostile_report):
        csp = tree.css_first('meta[http-equiv="Content-Security-Policy"]')
        assert csp is not None and csp.attributes["content"] == content_security_policy(), name
        referrer = tree.css_first('meta[name="referrer"]')
        assert referrer is not None and referrer.attributes["content"] == "no-referrer", name


def test_csp_allows_only_the_script_hash() -> None:
    policy = content_security_policy()
    assert "default-src 'none'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/]{43}='(;|$)", policy)
    assert "unsafe-inline'; img-src" in policy and policy.count("unsafe-inline") == 1


def test_report_json_keeps_values_as_data(rdb: ReportDB, settings: Settings) -> None:
    doc = rdb.document(XSS)
    link = rdb.link("javascript:alert(1)", "invalid", invalid_reason=ATTR)
    rdb.cite(doc, link, 1, BIDI)
    generate_report(settings, rdb.store, clock=rdb.clock)
    data = json.loads((settings.report_dir / "report.json").read_text(encoding="utf-8"))
    [cite] = data["links"][0]["citations"]
    assert {k: cite[k] for k in ("document", "line", "text")} == {
        "document": XSS,
        "line": 1,
        "text": BIDI,
    }
    assert data["links"][0]["snapshot"] is None


def test_title_setting_is_escaped(rdb: ReportDB, settings: Settings) -> None:
    hostile = replace(settings, report=replace(settings.report, title=XSS))
    generate_report(hostile, rdb.store, clock=rdb.clock)
    html = (settings.report_dir / "index.html").read_text(encoding="utf-8")
    assert "<title>&lt;script&gt;" in html


def test_escaping_does_not_depend_on_the_template_name() -> None:
    # select_autoescape() escapes "r.html" but not "r.html.j2" (it matches the last
    # extension); the report's environment escapes whatever a template is called
    names = ["r.html", "r.html.j2", "r.txt", "r"]
    env = environment().overlay(loader=jinja2.DictLoader(dict.fromkeys(names, "{{ x }}")))
    for name in names:
        assert env.get_template(name).render(x="<script>") == "&lt;script&gt;", name


def test_every_attribute_in_the_templates_is_quoted() -> None:
    # autoescaping does not protect href={{ u }}: "x onmouseover=alert(1)" adds an attribute
    unquoted = re.compile(r"""=\s*(?:\{\{|\{%)""")
    for template in TEMPLATES.glob("*.html"):
        for number, line in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
            assert not unquoted.search(line), f"{template.name}:{number}: {line.strip()}"

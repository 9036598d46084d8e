from html.parser import HTMLParser

import pytest

from auditor.report import html

from .conftest import BIDI, LONG


class Page(HTMLParser):
    """Every element and attribute the browser would build, and the text it would show."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    @property
    def shown(self) -> str:
        return "".join(self.text)

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "nav", "a", "section",
                "div", "p", "h1", "h2", "h3", "span", "b", "strong", "code", "ul", "ol", "li", "table", "thead",
                "tbody", "tr", "th", "td", "dl", "dt", "dd", "footer", "details", "summary", "mark",
                "svg", "rect"}
# Attributes a captured value may reach: as escaped text, never as a URL, script or style.
TEXT_ATTRIBUTES = {"data-label", "title", "aria-label"}


def render(audit, tmp_path) -> str:
    path = html.render(audit, tmp_path)
    assert path == tmp_path / "report.html"
    return path.read_text(encoding="utf-8")


def assert_inert(page: Page):
    for tag, attrs in page.tags:
        assert tag in ALLOWED_TAGS, tag
        assert not [a for a in attrs if a.startswith("on") or a in ("src", "srcdoc", "action", "formaction",
                                                                      "xlink:href")]
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs["href"]  # only in-page anchors
        if "style" in attrs:
            raise AssertionError("inline style attribute")


def test_self_contained_with_strict_csp(audit, tmp_path):
    text = render(audit, tmp_path)
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>")
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [html.CSP]
    assert "default-src 'none'" in csp[0] and "style-src 'unsafe-inline'" in csp[0]
    assert_inert(page)  # no script, no external resource, no link leaving the page
    assert "<script" not in text and "http://" not in text and "https://" not in text.split("<body>")[0]


def test_key_sections(audit, tmp_path):
    page = Page(render(audit, tmp_path))
    assert {"verdict", "consent", "findings", "timeline", "endpoints", "coverage", "notes"} <= page.ids()
    assert {"concern-privacy", "concern-confidentiality", "concern-awareness", "concern-security"} <= page.ids()
    assert {f"f-{f.id}" for f in audit.findings} <= page.ids()
    for _, attrs in page.tags:  # every in-page link resolves
        if "href" in attrs:
            assert attrs["href"][1:] in page.ids()
    shown = page.shown
    assert "FAIL" in shown and "2 findings at or above high" in shown
    assert "exit 1: findings at or above high" in shown
    assert "QUIC payloads are not decrypted" in shown
    assert "jdo***" in shown and "body:$.events[0].user" in shown
    assert "https://telemetry.polite-tool.example/v1/collect" in shown  # as text, not a link
    assert "sinkhole" in shown and "forward" in shown
    # A finding seen in several runs is one finding listing them, in the table and its details.
    priv = next(f for f in audit.findings if f.rule == "PRIV-001")
    details = text_of(render(audit, tmp_path), f'<details class="finding failing" id="f-{priv.id}"', "</details>")
    assert "Seen in" in details and "polite-tool: unset, unset-2, dnt" in details
    assert "PRIV-001 " in shown and shown.count("unset, unset-2, dnt") == 2  # the answer and the evidence


def text_of(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return Page(text[i:text.index(end, i)]).shown


def test_sections_in_the_order_a_reviewer_asks(audit, tmp_path):
    text = render(audit, tmp_path)
    order = [text.index(f'<section id="{s}"') for s in ("verdict", "consent", "findings", "timeline",
                                                        "endpoints", "coverage")]
    assert order == sorted(order)


def test_four_concerns_answered_with_the_deciding_finding(audit, tmp_path):
    page = Page(render(audit, tmp_path))
    text = render(audit, tmp_path)
    answers = {}
    for concern in ("privacy", "confidentiality", "awareness", "security"):
        block = text[text.index(f'id="concern-{concern}"'):]
        answers[concern] = Page(block[:block.index("</li>")]).shown
    assert "Yes" in answers["privacy"] and "PRIV-001" in answers["privacy"]
    assert "(+1 more)" in answers["privacy"]  # PRIV-004 below it
    assert "Yes" in answers["awareness"] and "CONSENT-001" in answers["awareness"]
    # CONF-002 is baselined: it answers nothing, but is counted as baselined.
    assert "No" in answers["confidentiality"] and "1 baselined" in answers["confidentiality"]
    assert "No" in answers["security"]
    hrefs = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").startswith("#f-")]
    assert hrefs, "the deciding finding links to its evidence"


def test_findings_are_rows_that_fold_out_their_evidence(audit, tmp_path):
    text = render(audit, tmp_path)
    findings = text[text.index('<section id="findings"'):text.index('<section id="timeline"')]
    assert findings.count('<details class="finding') == len(audit.findings)
    assert "<li>body</li><li>gzip</li><li>json</li>" in findings  # the decoding chain, outermost first
    assert "<mark>jdo***</mark>" in findings  # the matched span, masked and highlighted
    assert findings.count(' failing"') == 2  # PRIV-001 and CONSENT-001 at or above high


def test_grouped_finding_shows_its_runs_as_chips(build, tmp_path):
    grouped = build.finding("PRIV-001", "unset", variants=("unset", "unset-2", "dnt"))
    text = render(build.audit(findings=(grouped,)), tmp_path)
    row = text[text.index('<details class="finding'):text.index("</summary>")]
    assert row.count('<span class="chip">') == 3
    for run in ("unset", "unset-2", "dnt"):
        assert f'<span class="chip">{run}</span>' in row


def test_timeline_lanes(audit, tmp_path):
    text = render(audit, tmp_path)
    timeline = text[text.index('<section id="timeline"'):text.index('<section id="endpoints"')]
    assert timeline.count('<svg class="lane"') == 4
    assert timeline.count('class="m-data m-telemetry"') == 2 + 1 + 2  # unset, denied, unset-2
    assert 'class="m-lookup m-telemetry"' in timeline and 'class="m-contact m-unknown"' in timeline
    assert timeline.count('<rect class="notice"') == 1  # denied printed its notice
    assert "notice printed at 0.30 s" in timeline
    assert "0.70 s POST /v1/collect → telemetry.polite-tool.example (telemetry, sent data)" in timeline


def test_endpoints_count_requests_and_lookups_apart(build, tmp_path):
    from auditor.audit import Endpoint
    audit = build.audit(endpoints=(Endpoint("t.example", "telemetry", ("unset",), 12, "sinkhole", lookups=40),))
    text = render(audit, tmp_path)
    block = Page(text[text.index('<section id="endpoints"'):text.index('<section id="coverage"')]).shown
    assert "HTTP requests" in block and "DNS lookups" in block
    assert "12" in block and "40" in block


def test_coverage_stated_once(build, tmp_path):
    runs = (build.run("unset"), build.run("denied"), build.run("dnt", capture="proxy", coverage=("http",),
                                                               coverage_note="only clients that honour proxies"))
    shown = Page(render(build.audit(runs=runs), tmp_path)).shown
    assert shown.count("QUIC payloads are not decrypted") == 1
    assert "Most runs" in shown and "differs: proxy capture of http: only clients that honour proxies" in shown


def test_verdict_banner_states(audit, clean_audit, incomplete_audit, tmp_path):
    def banner(a, sub):
        text = render(a, tmp_path / sub)
        page = Page(text)
        return next(attrs["class"] for t, attrs in page.tags if attrs.get("id") == "verdict"), page.shown, text
    assert banner(audit, "a")[0] == "verdict fail"
    cls, shown, _ = banner(clean_audit, "b")
    assert cls == "verdict pass" and "PASS" in shown and "No findings." in shown
    cls, shown, text = banner(incomplete_audit, "c")
    assert cls == "verdict incomplete" and "INCOMPLETE" in shown and "exit 3" in shown
    assert "proves nothing" in shown and "tun device unavailable" in shown
    assert 'class="cell cell-unknown"' in text  # the grid does not claim "nothing sent"


def test_consent_grid(audit, tmp_path):
    text = render(audit, tmp_path)
    consent = text[text.index('<section id="consent"'):text.index('<section id="findings"')]
    shown = Page(consent).shown
    assert shown.index("unset-2") < shown.index("denied") < shown.index("dnt")
    rows = {r.split("</code>")[0].rsplit(">", 1)[-1]: r for r in consent.split("<tr>")[2:]}
    assert 'cell-sent" data-label="telemetry.polite-tool.example"' in rows["unset"]
    assert "sent ×2" in rows["unset"] and "contact, no data" in rows["unset"]
    assert "after notice ×1" in rows["denied"] and "CONSENT-001" in rows["denied"]
    assert 'cell-none' in rows["dnt"]


@pytest.mark.parametrize("needle", [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(document.cookie)//",
    "![beacon](https://tracker.example/p.png)",
])
def test_hostile_strings_are_text_not_markup(hostile_audit, tmp_path, needle):
    text = render(hostile_audit, tmp_path)
    page = Page(text)
    assert_inert(page)
    assert needle in page.shown  # visible to the reader, exactly as captured
    assert needle not in text or needle.startswith(("javascript", "!"))  # escaped in the source


def test_hostile_invisible_characters_are_shown_not_obeyed(hostile_audit, tmp_path):
    text = render(hostile_audit, tmp_path)
    assert "\u202e" not in text and "\x00" not in text and "\udcff" not in text
    assert BIDI.replace("\u202e", "\\u202e") in text
    assert "nul\\x00byte" in text


def test_long_values_are_clipped(hostile_audit, tmp_path):
    text = render(hostile_audit, tmp_path)
    assert LONG not in text and "chars)" in text
    assert len(text) < 60000


def test_deterministic(audit, tmp_path):
    assert html.render(audit, tmp_path / "a").read_bytes() == html.render(audit, tmp_path / "b").read_bytes()


def test_autoescape_cannot_be_bypassed_by_template_authors():
    env = html._ENV
    assert env.autoescape is True
    assert str(env.from_string("{{ x }}").render(x="<b>\u202e")) == "&lt;b&gt;\\u202e"


def test_finding_without_evidence(build, tmp_path):
    from auditor.findings import Finding
    f = Finding(rule="CONSENT-004", title="Telemetry before any notice", scenario="polite-tool",
                variant="unset", host="t.example", detail="no notice was printed (expect.notice)")
    shown = Page(render(build.audit(findings=(f,)), tmp_path)).shown
    assert "run-level fact" in shown and "no notice was printed" in shown


class Nesting(HTMLParser):
    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append((tag, self.getpos()))


@pytest.mark.parametrize("fixture", ["audit", "clean_audit", "incomplete_audit", "hostile_audit"])
def test_every_element_is_closed_where_it_was_opened(request, tmp_path, fixture):
    parser = Nesting()
    parser.feed(render(request.getfixturevalue(fixture), tmp_path))
    assert (parser.errors, parser.stack) == ([], [])


def test_payload_view_shows_the_masked_match_in_its_context(build, tmp_path):
    from dataclasses import replace
    f = build.finding("PRIV-001", "unset")
    f = f.with_(evidence=replace(f.evidence, context=('{"user": "', f'",\n "note": "{BIDI}<script>x</script>"}}')))
    text = render(build.audit(findings=(f,)), tmp_path)
    page = Page(text)
    assert_inert(page)
    assert '{"user": "jdo***",↵ "note": "' in page.shown  # line breaks shown as ↵
    assert '<code class="ctx">{&#34;user&#34;: &#34;<mark>jdo***</mark>&#34;,' in text  # the match highlighted
    assert "\u202e" not in text and "<script>x" not in text and "&lt;script&gt;x" in text

"""Accessibility: axe-core finds no serious or critical violation on the main pages, and
Chromium's accessibility tree names the search box.

No axe rule is disabled."""

import json

import pytest
from playwright.sync_api import expect

from support import package_url
from test_image import RUNS_HERE, check, image_url

# Impacts that fail the test; `minor` and `moderate` ones are printed only.
FAILING = ("serious", "critical")


def audit(session, axe_source: str, what: str) -> None:
    page = session.page
    page.add_script_tag(content=axe_source)
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    session.shot(what)
    violations = results["violations"]
    for v in violations:
        if v["impact"] not in FAILING:
            print(f"{what}: {v['impact']} {v['id']}: {v['help']}")
    failing = [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in violations
        if v["impact"] in FAILING
    ]
    assert not failing, f"axe on {what} ({page.url}):\n" + json.dumps(failing, indent=2)


@pytest.mark.parametrize("what", ["home", "search", "package", "graph"])
def test_axe(audit_session, axe_source, fixture, what):
    dependent = fixture.dependent["repository"]
    url = {
        "home": fixture.url("/"),
        "search": fixture.url("/search?q=" + fixture.versioned["name"][:4]),
        "package": package_url(fixture, dependent),
        "graph": fixture.url("/graph/" + dependent),
    }[what]
    audit_session.page.goto(url)
    audit(audit_session, axe_source, what)


def test_axe_on_an_image_with_a_verdict(audit_session, axe_source, fixture):
    page = audit_session.page
    page.goto(image_url(fixture))
    page.locator("textarea#host-profile").fill(fixture.host_profile.read_text())
    check(audit_session, "verdict", RUNS_HERE)
    audit(audit_session, axe_source, "image-with-verdict")


def test_the_search_box_is_labelled_in_the_accessibility_tree(session, fixture):
    page = session.page
    page.goto(fixture.url("/"))
    expect(page.locator("input#search")).to_be_visible()
    cdp = session.context.new_cdp_session(page)
    backend = cdp.send("DOM.describeNode", {"objectId": _object_id(cdp, "#search")})
    node_id = backend["node"]["backendNodeId"]
    tree = cdp.send("Accessibility.getFullAXTree")["nodes"]
    nodes = [n for n in tree if n.get("backendDOMNodeId") == node_id]
    assert nodes, "the search box is not in the accessibility tree"
    node = nodes[0]
    assert node["role"]["value"] in ("searchbox", "textbox", "combobox"), node["role"]
    name = node.get("name", {})
    assert name.get("value", "").strip(), f"the search box has no accessible name: {node}"
    # Named by a label (or aria-label/labelledby), not only by a placeholder.
    sources = [s for s in name.get("sources", []) if s.get("value") or s.get("attributeValue")]
    used = [s for s in sources if not s.get("superseded")]
    assert used and used[0].get("attribute") != "placeholder", json.dumps(name, indent=2)
    # The form around it is a search landmark.
    landmarks = [n for n in tree if n.get("role", {}).get("value") == "search"]
    assert landmarks, "no search landmark in the accessibility tree"
    session.shot("home")


def _object_id(cdp, selector: str) -> str:
    found = cdp.send(
        "Runtime.evaluate", {"expression": f"document.querySelector({json.dumps(selector)})"}
    )
    return found["result"]["objectId"]

"""Keyboard only: search, the results and the version select are reached with Tab, and a
result opens with Enter."""

from playwright.sync_api import Page, expect

from support import package_url

# More than enough presses to cross any of these pages' controls.
MAX_TABS = 40


def tab_to(page: Page, selector: str) -> int:
    """Press Tab until the focused element matches `selector`; returns the presses."""
    for presses in range(1, MAX_TABS + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return presses
    raise AssertionError(f"`{selector}` is not reached with {MAX_TABS} presses of Tab")


def test_search_and_open_a_result_with_the_keyboard(session, fixture):
    page = session.page
    versioned = fixture.versioned
    page.goto(fixture.url("/"))
    tab_to(page, "input#search")
    page.keyboard.type(versioned["name"], delay=30)
    link = f'ul#results a.package[href$="/packages/{versioned["repository"]}"]'
    other = f'ul#results a.package[href$="/packages/{fixture.dependency["repository"]}"]'
    # The results have followed the typing (the library no longer matches) before Tab.
    expect(page.locator(other)).to_have_count(0)
    expect(page.locator(link)).to_have_count(1)
    tab_to(page, link)
    session.shot("result-focused")
    # The focused link shows that it has the focus.
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle !== 'none' || s.boxShadow !== 'none'"
        " || s.textDecorationLine !== 'none'; }"
    )
    assert outline, "the focused result has no visible focus indicator"
    page.keyboard.press("Enter")
    expect(page).to_have_url(package_url(fixture, versioned["repository"]))
    expect(page.locator("h1")).to_contain_text(versioned["name"])
    session.shot("opened")


def test_version_select_with_the_keyboard(session, fixture):
    page = session.page
    versioned = fixture.versioned
    page.goto(package_url(fixture, versioned["repository"]))
    tab_to(page, "select#version")
    session.shot("select-focused")
    # The select has a name a screen reader reads.
    label = page.evaluate(
        "() => { const s = document.activeElement;"
        " return (s.labels && s.labels.length ? s.labels[0].innerText : '')"
        " || s.getAttribute('aria-label') || ''; }"
    )
    assert label.strip(), "select#version has no label"

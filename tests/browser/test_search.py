"""Search: results as you type on `/`, and the same form without JavaScript."""

import re

from playwright.sync_api import expect


def result(page, repository):
    """The result link to `repository`'s page."""
    return page.locator(f'ul#results a.package[href$="/packages/{repository}"]')


def result_repositories(page):
    """The repositories the result links point at, in order."""
    hrefs = page.locator("ul#results a.package").evaluate_all("as => as.map(a => a.href)")
    return [h.split("/packages/", 1)[1] for h in hrefs]


def test_results_appear_as_you_type(session, fixture):
    page = session.page
    page.goto(fixture.url("/"))
    expect(page.locator("form[role=search] input#search")).to_be_visible()
    session.shot("home")
    # A marker on this document: it is still there if typing did not load another page.
    page.evaluate("window.paksNoReload = true")
    versioned = fixture.versioned
    prefix = versioned["name"][:4]
    page.locator("input#search").press_sequentially(prefix, delay=50)
    # The list narrows to the packages whose name or summary has the letters: the library
    # (listed on `/` before typing) goes, the package stays.
    expect(result(page, fixture.dependency["repository"])).to_have_count(0)
    expect(result(page, versioned["repository"])).to_have_count(1)
    session.shot("typed-prefix")
    assert page.evaluate("window.paksNoReload === true"), "typing reloaded the page"
    # Other letters find the other package, and no longer the first.
    page.locator("input#search").fill("")
    page.locator("input#search").press_sequentially(fixture.dependency["name"][:5], delay=50)
    expect(result(page, fixture.dependency["repository"])).to_have_count(1)
    expect(result(page, versioned["repository"])).to_have_count(0)
    session.shot("typed-other")
    assert page.evaluate("window.paksNoReload === true"), "typing reloaded the page"


def test_search_without_javascript(static_session, fixture):
    page = static_session.page
    page.goto(fixture.url("/"))
    form = page.locator("form[role=search]")
    expect(form.locator("input#search[name=q]")).to_be_visible()
    dependency = fixture.dependency
    term = dependency["name"][:5]
    form.locator("input#search").fill(term)
    static_session.shot("filled")
    with page.expect_navigation():
        form.locator("input#search").press("Enter")
    assert re.search(r"/search\?(.*&)?q=" + re.escape(term), page.url), page.url
    expect(result(page, dependency["repository"])).to_have_count(1)
    assert fixture.versioned["repository"] not in result_repositories(page)
    static_session.shot("results")
    # A result is a plain link to the package's page.
    result(page, dependency["repository"]).click()
    expect(page).to_have_url(fixture.url("/packages/" + dependency["repository"]))
    expect(page.locator("h1")).to_contain_text(dependency["name"])
    static_session.shot("package")


def test_a_search_that_finds_nothing(static_session, fixture):
    page = static_session.page
    response = page.goto(fixture.url("/search?q=no-such-package-zzz"))
    assert response.status == 200, response.status
    expect(page.locator("ul#results a.package")).to_have_count(0)
    static_session.shot("no-results")

"""A package's page: versions and their builds, dependencies both ways, attachments, the
lines to copy, and the dependency graph."""

import re

from playwright.sync_api import expect

from support import build_marks, package_url, select_version


def test_open_a_package_from_the_search(session, fixture):
    page = session.page
    dependent = fixture.dependent
    page.goto(fixture.url("/search?q=" + dependent["name"]))
    link = page.locator(f'ul#results a.package[href$="/packages/{dependent["repository"]}"]')
    expect(link).to_have_count(1)
    session.shot("results")
    link.click()
    expect(page).to_have_url(package_url(fixture, dependent["repository"]))
    expect(page.locator("h1")).to_contain_text(dependent["name"])
    # One build for this platform, its dependencies, what is attached, what to copy.
    expect(page.locator("table#builds tbody tr")).not_to_have_count(0)
    for name in dependent["dependencies"]:
        expect(page.locator("ul#dependencies")).to_contain_text(name)
    for line in ("pre#install-line", "pre#image-line", "pre#pull-line"):
        expect(page.locator(line)).to_contain_text(dependent["name"])
    expect(page.locator("a#graph-link")).to_be_visible()
    session.shot("package")


def test_reverse_dependencies_and_attachments(static_session, fixture):
    page = static_session.page
    dependency = fixture.dependency
    page.goto(package_url(fixture, dependency["repository"]))
    expect(page.locator("h1")).to_contain_text(dependency["name"])
    for name in dependency["dependents"]:
        expect(page.locator("ul#reverse-dependencies")).to_contain_text(name)
    # Pushed without a key: nothing is attached. Pushed with `--sign`: a signature, an SBOM
    # and a provenance statement are, and the section says so ("yes" in its table).
    attachments = page.locator("#attachments")
    expect(attachments).to_be_attached()
    expect(attachments).not_to_contain_text(re.compile("yes", re.IGNORECASE))
    static_session.shot("unsigned")
    page.goto(package_url(fixture, fixture.signed))
    expect(attachments).to_contain_text(re.compile("yes", re.IGNORECASE))
    expect(attachments).to_contain_text(re.compile(r"sign", re.IGNORECASE))
    static_session.shot("signed")


def open_versioned(session, fixture):
    """Opens the package with several versions; returns its builds table, what marks the
    newest version's builds and the older's, and the older version."""
    page = session.page
    versioned = fixture.versioned
    newest, older = versioned["versions"][0], versioned["versions"][1]
    page.goto(package_url(fixture, versioned["repository"]))
    builds = page.locator("table#builds")
    new_marks = build_marks(page, fixture, versioned["repository"], newest)
    old_marks = build_marks(page, fixture, versioned["repository"], older)
    # The newest version is shown first, with its builds.
    expect(builds).to_contain_text(new_marks)
    expect(builds).not_to_contain_text(old_marks)
    session.shot("newest")
    return builds, new_marks, old_marks, older


def test_switch_the_version(session, fixture):
    page = session.page
    builds, new_marks, old_marks, older = open_versioned(session, fixture)
    select_version(page, older)
    expect(builds).to_contain_text(old_marks)
    expect(builds).not_to_contain_text(new_marks)
    expect(page.locator("select#version")).to_have_value(
        page.locator("select#version option", has_text=older).first.get_attribute("value")
    )
    session.shot("older")


def test_switch_the_version_without_javascript(static_session, fixture):
    page = static_session.page
    builds, new_marks, old_marks, older = open_versioned(static_session, fixture)
    select_version(page, older)
    with page.expect_navigation():
        page.locator("button#version-go").click()
    assert f"version={older}" in page.url, page.url
    expect(builds).to_contain_text(old_marks)
    expect(builds).not_to_contain_text(new_marks)
    static_session.shot("older")


def test_dependency_graph(session, fixture):
    page = session.page
    dependent = fixture.dependent
    page.goto(package_url(fixture, dependent["repository"]))
    page.locator("a#graph-link").click()
    graph_url = fixture.url("/graph/" + dependent["repository"])
    expect(page).to_have_url(re.compile(re.escape(graph_url) + r"(\?.*)?$"))
    graph = page.locator("svg#graph")
    expect(graph).to_be_visible()
    # A node for the package and one for each dependency, each named.
    for name in [dependent["name"], *dependent["dependencies"]]:
        expect(graph.locator("text", has_text=name).first).to_be_visible()
    session.shot("graph")
    # The same graph alone, as an SVG file.
    response = page.request.get(fixture.url(f"/graph/{dependent['repository']}.svg"))
    assert response.ok, response.status
    assert response.headers["content-type"].startswith("image/svg+xml"), response.headers
    svg = response.text()
    for name in dependent["dependencies"]:
        assert name in svg, svg

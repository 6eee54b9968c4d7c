"""Helpers shared by the browser tests."""

import re

from playwright.sync_api import Page

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


def package_url(fixture, repository: str) -> str:
    return fixture.url("/packages/" + repository)


def select_version(page: Page, version: str) -> None:
    """Choose `version` in `select#version` (its option's text names the version)."""
    option = page.locator("select#version option", has_text=version).first
    page.locator("select#version").select_option(value=option.get_attribute("value"))


def build_marks(page: Page, fixture, repository: str, version: str) -> re.Pattern:
    """What names the builds of `version` in a table: their package ids end in
    `-VERSION`, and their manifests' digests (read from the registry's `/v2/` API) start
    with a known prefix."""
    url = fixture.url(f"/v2/{repository}/manifests/{version}")
    response = page.request.get(url, headers={"Accept": MANIFEST_TYPES})
    assert response.ok, f"GET {url}: {response.status}"
    body = response.json()
    if "manifests" in body:
        digests = [m["digest"] for m in body["manifests"]]
    else:
        digests = [response.headers["docker-content-digest"]]
    marks = [re.escape(f"-{version}")]
    marks += [re.escape(d.split(":", 1)[1][:12]) for d in digests]
    return re.compile("|".join(marks))

"""An image's page: its layers, and whether it runs on a host (a `paks host --json`
profile pasted or uploaded)."""

import json
import re

import pytest
from playwright.sync_api import expect

def image_url(fixture) -> str:
    image = fixture.image
    return fixture.url(f"/images/{image['repository']}?ref={image['reference']}")


def other_arch(fixture) -> str:
    """The host profile of this machine, on a CPU architecture the image is not built for."""
    profile = json.loads(fixture.host_profile.read_text())
    profile["arch"] = "riscv64" if profile["arch"] != "riscv64" else "s390x"
    # This CPU's microarchitecture and features say nothing about another architecture.
    profile.update(microarch=None, targets=[], features=[])
    return json.dumps(profile, indent=2)


# This machine's own profile: the busybox image runs here, optimally or not (a baseline
# x86-64 build on an x86-64-v3 host is `runs-not-optimally`).
RUNS_HERE = "runs,runs-not-optimally"


def check(session, shot: str, expected: str):
    """Press `#check`, wait for a verdict with a status in `expected` (comma-separated),
    return its section."""
    page = session.page
    page.locator("#check").click()
    wanted = page.locator(
        ", ".join(f'section#verdict[data-status="{e}"]' for e in expected.split(","))
    )
    try:
        expect(wanted).to_be_visible()
    except AssertionError:
        session.shot(shot + "-unexpected")
        shown = page.locator("section#verdict")
        status = shown.first.get_attribute("data-status") if shown.count() else None
        text = shown.first.inner_text() if shown.count() else page.content()
        raise AssertionError(f"wanted a `{expected}` verdict, got `{status}`:\n{text}")
    session.shot(shot)
    assert wanted.inner_text().strip(), "the verdict gives no reasons"
    return wanted


def test_open_an_image_from_the_home_page(session, fixture):
    page = session.page
    image = fixture.image
    page.goto(fixture.url("/"))
    link = page.locator(f'a[href*="/images/{image["repository"]}"]').first
    expect(link).to_be_visible()
    session.shot("home")
    link.click()
    expect(page).to_have_url(re.compile(re.escape(f"/images/{image['repository']}")))
    # The busybox image has one layer, not a package.
    expect(page.locator("table#layers tr:has(td)")).to_have_count(1)
    expect(page.locator("textarea#host-profile[name=host]")).to_be_visible()
    expect(page.locator("input#host-file")).to_be_attached()
    session.shot("image")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_paste_a_host_profile(new_session, fixture, javascript):
    s = new_session(java_script_enabled=javascript)
    page = s.page
    page.goto(image_url(fixture))
    expect(page.locator("table#layers")).to_be_visible()
    # This machine's profile: the image is built for this machine.
    page.locator("textarea#host-profile").fill(fixture.host_profile.read_text())
    s.shot("pasted")
    check(s, "verdict-here", RUNS_HERE)
    # The same machine on another architecture: it will not run, and says why.
    if page.locator("textarea#host-profile").count() == 0:
        page.goto(image_url(fixture))
    page.locator("textarea#host-profile").fill(other_arch(fixture))
    verdict = check(s, "verdict-other-arch", "will-not-run")
    reasons = verdict.inner_text().lower()
    assert "riscv64" in reasons or "architecture" in reasons, reasons


def test_upload_a_host_profile(session, fixture, tmp_path):
    page = session.page
    page.goto(image_url(fixture))
    other = tmp_path / "other-arch.json"
    other.write_text(other_arch(fixture))
    page.locator("input#host-file").set_input_files(str(other))
    session.shot("uploaded")
    check(session, "verdict", "will-not-run")
    # Another file, another verdict.
    page.locator("input#host-file").set_input_files(str(fixture.host_profile))
    check(session, "verdict-here", RUNS_HERE)

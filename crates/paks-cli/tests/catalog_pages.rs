//! The catalogue's HTML pages on a real `paks serve`: packages pushed, every page fetched
//! over HTTP and its content checked (names, versions, copy lines, links), hostile package
//! metadata escaped, 404s that say what was missing, the security headers, the assets.

mod common;

use common::Env;
use paks_testkit::PaksServe;
use paks_testkit::raw_http::{exchange, header};

/// A registry with libgreet and hello (which depends on it) in `acme`, and `evil` (whose
/// metadata is hostile) in `bad`.
struct Site {
    server: PaksServe,
    builder: Env,
}

const HOSTILE: &str = r#"[package]
name = "evil"
version = "1.0.0"
summary = "<script>alert(1)</script> \"quoted\" & 'single'"
license = "\"><img src=x onerror=alert(2)>"
homepage = 'https://example.org/?q="><script>alert(3)</script>'

[build]
script = """
mkdir -p "$PREFIX/share"
echo hi > "$PREFIX/share/evil.txt"
"""
"#;

impl Site {
    fn new() -> Self {
        let builder = Env::new();
        let server = common::serve(&builder);
        let libgreet = builder.build("libgreet");
        let hello = builder.build("hello");
        let evil_dir = builder.dir.path().join("evil");
        std::fs::create_dir_all(&evil_dir).unwrap();
        std::fs::write(evil_dir.join("paks.toml"), HOSTILE).unwrap();
        let evil = std::path::PathBuf::from(builder.build_dir(&evil_dir).trim());
        let host = server.host();
        for (pak, repo) in [
            (libgreet, "acme/libgreet"),
            (hello, "acme/hello"),
            (evil, "bad/evil"),
        ] {
            builder.ok(&["push", pak.to_str().unwrap(), &format!("{host}/{repo}")]);
        }
        let site = Self { server, builder };
        // The catalogue reads pushes off the request's thread: wait until all three show.
        for _ in 0..200 {
            let (_, _, body) = site.get("/");
            if ["acme/libgreet", "acme/hello", "bad/evil"]
                .iter()
                .all(|r| body.contains(&format!("href=\"/packages/{r}\"")))
            {
                return site;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the catalogue never listed the pushed packages");
    }

    /// `GET path`: (status, head, body).
    fn get(&self, path: &str) -> (u16, String, String) {
        let (status, head, body) = exchange(self.server.addr(), "GET", path, &[], b"");
        (status, head, String::from_utf8(body).expect("UTF-8 pages"))
    }

    /// `GET path`, which must answer 200 with HTML and the security headers; the body.
    fn page(&self, path: &str) -> String {
        let (status, head, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {head}{body}");
        assert_html_headers(&head);
        body
    }
}

fn assert_html_headers(head: &str) {
    assert!(
        header(head, "content-type").is_some_and(|v| v.starts_with("text/html")),
        "{head}"
    );
    let csp = header(head, "content-security-policy").expect("a CSP header");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(header(head, "x-content-type-options"), Some("nosniff"));
}

#[test]
fn pages_show_the_packages_escape_hostile_metadata_and_say_what_is_missing() {
    let site = Site::new();
    home_and_search(&site);
    package_pages(&site);
    hostile_metadata_is_escaped(&site);
    graph_and_not_found(&site);
    image_page(&site);
}

fn image_page(site: &Site) {
    let host = site.server.host();
    site.builder.ok(&[
        "image",
        "build",
        &format!("{host}/acme/hello:1.0.0"),
        "--tag",
        &format!("{host}/apps/hello:1"),
        "--label",
        "note=<script>alert(4)</script>",
    ]);
    let page = site.page("/images/apps/hello?ref=1");
    assert!(page.contains("<h1>apps/hello:1</h1>"), "{page}");
    assert!(page.contains("<table id=\"layers\">"), "{page}");
    assert!(
        page.contains(
            "<a class=\"package\" href=\"/packages/acme/hello?version=1.0.0\">hello 1.0.0</a>"
        ),
        "{page}"
    );
    assert!(
        page.contains(
            "<a class=\"package\" href=\"/packages/acme/libgreet?version=1.0.0\">libgreet 1.0.0</a>"
        ),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(4)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("<textarea id=\"host-profile\" name=\"host\""),
        "{page}"
    );
    assert!(
        page.contains("<input type=\"file\" id=\"host-file\""),
        "{page}"
    );
    assert!(
        page.contains("<button id=\"check\" type=\"submit\">"),
        "{page}"
    );
    assert!(!page.contains("id=\"verdict\""), "{page}");
    // The form, as a browser without JavaScript sends it: this machine's own profile.
    let profile = site.builder.ok(&["host", "--json"]);
    let body = format!("host={}", encode(&profile));
    let (status, head, verdict) = exchange(
        site.server.addr(),
        "POST",
        "/images/apps/hello?ref=1",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    let verdict = String::from_utf8(verdict).unwrap();
    assert_eq!(status, 200, "{head}{verdict}");
    assert_html_headers(&head);
    let status = attribute_after(
        &verdict,
        "<section id=\"verdict\" aria-live=\"polite\" data-status=\"",
    );
    assert!(
        ["runs", "runs-not-optimally", "will-not-run"].contains(&status.as_str()),
        "{verdict}"
    );
    // The profile sent stays in the box; a profile that is not one is refused, saying why.
    assert!(verdict.contains("&quot;arch&quot;"), "{verdict}");
    let (status, head, refused) = exchange(
        site.server.addr(),
        "POST",
        "/images/apps/hello?ref=1",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"host=%3Cnot+json%3E",
    );
    let refused = String::from_utf8(refused).unwrap();
    assert_eq!(status, 400, "{head}{refused}");
    assert!(refused.contains("id=\"host-error\""), "{refused}");
    assert!(refused.contains("paks host --json"), "{refused}");
    assert!(refused.contains("&lt;not json&gt;</textarea>"), "{refused}");
    let (status, _, missing) = site.get("/images/apps/hello?ref=nope");
    assert_eq!(status, 404);
    assert!(
        missing.contains("<code>apps/hello:nope</code>"),
        "{missing}"
    );
    // The catalogue reads the push off the request's thread: `/` lists it soon after.
    let listed = (0..200).any(|_| {
        let found = site
            .page("/")
            .contains("<a class=\"image\" href=\"/images/apps/hello\">");
        if !found {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        found
    });
    assert!(listed, "`/` never listed the image apps/hello");
}

/// `value` percent-encoded for a form body.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn home_and_search(site: &Site) {
    // `/`: the search box, every package linked, and no inline script or style (CSP).
    let home = site.page("/");
    assert!(
        home.contains("<form role=\"search\" action=\"/search\""),
        "{home}"
    );
    assert!(home.contains("id=\"search\" name=\"q\""), "{home}");
    assert!(home.contains("<ul id=\"results\">"), "{home}");
    assert!(home.contains("<a class=\"package\" href=\"/packages/acme/hello\">acme/hello</a>"));
    assert!(home.contains("3 packages"), "{home}");
    assert!(!home.contains("<script>"), "no inline script: {home}");
    assert!(!home.contains("style="), "no inline style: {home}");

    // `/search?q=`: only what matches; the fragment is the items, with the count.
    let found = site.page("/search?q=greet");
    assert!(
        found.contains("href=\"/packages/acme/libgreet\""),
        "{found}"
    );
    assert!(
        found.contains("href=\"/packages/acme/hello\""),
        "summary matches: {found}"
    );
    assert!(!found.contains("href=\"/packages/bad/evil\""), "{found}");
    assert!(found.contains("value=\"greet\""), "{found}");
    let (status, head, fragment) = site.get("/search?q=libgr&fragment=1");
    assert_eq!(status, 200);
    // libgreet by name first, then hello by its summary.
    assert_eq!(header(&head, "x-result-count"), Some("2"), "{head}");
    assert!(fragment.starts_with("<li><a class=\"package\" href=\"/packages/acme/libgreet\""));
    assert!(!fragment.contains("<html"), "{fragment}");
    let none = site.page("/search?q=%3Cb%3Ezz");
    assert!(none.contains(">0 packages</p>"), "{none}");
    assert!(none.contains("value=\"&lt;b&gt;zz\""), "{none}");
    let script = site.page("/search?q=%3Cscript%3E");
    assert!(script.contains(">1 package</p>"), "{script}");
    assert!(script.contains("href=\"/packages/bad/evil\""), "{script}");
}

fn package_pages(site: &Site) {
    let host = site.server.host();
    // A package: name, version picker, builds, dependency linked, lines to copy.
    let hello = site.page("/packages/acme/hello");
    assert!(hello.contains("<h1>hello</h1>"), "{hello}");
    assert!(
        hello.contains("Prints a greeting, with libgreet"),
        "{hello}"
    );
    assert!(hello.contains("<select id=\"version\" name=\"version\"><option value=\"1.0.0\" selected>1.0.0</option></select>"), "{hello}");
    assert!(
        hello.contains("<button id=\"version-go\" type=\"submit\">"),
        "{hello}"
    );
    assert!(hello.contains("<table id=\"builds\">"), "{hello}");
    assert!(hello.contains("<th scope=\"row\">linux/"), "{hello}");
    assert!(
        hello.contains(
            "<a id=\"homepage\" rel=\"nofollow noopener\" href=\"https://example.org/hello\">"
        ),
        "{hello}"
    );
    assert!(
        hello.contains("<ul id=\"dependencies\"><li><a class=\"package\" href=\"/packages/acme/libgreet?version=1.0.0\">libgreet</a>"),
        "{hello}"
    );
    assert!(hello.contains("id=\"attachments\""), "{hello}");
    assert!(hello.contains("<a id=\"graph-link\" href=\"/graph/acme/hello?version=1.0.0\">"));
    assert!(
        hello.contains(&format!(
            "<pre id=\"install-line\">paks install {host}/acme/hello:1.0.0</pre>"
        )),
        "{hello}"
    );
    assert!(
        hello.contains(&format!("<pre id=\"image-line\">paks image build {host}/acme/hello:1.0.0 --output oci:hello-image</pre>")),
        "{hello}"
    );
    assert!(
        hello.contains(&format!(
            "<pre id=\"pull-line\">podman pull {host}/compose/acme/hello:latest</pre>"
        )),
        "{hello}"
    );
    // The same version asked for by name; libgreet is used by hello.
    assert_eq!(site.page("/packages/acme/hello?version=1.0.0"), hello);
    let libgreet = site.page("/packages/acme/libgreet");
    assert!(
        libgreet.contains("<ul id=\"reverse-dependencies\"><li><a class=\"package\" href=\"/packages/acme/hello?version=1.0.0\">acme/hello</a>"),
        "{libgreet}"
    );
}

fn hostile_metadata_is_escaped(site: &Site) {
    // Hostile metadata is text, never markup (a `javascript:` homepage, which recipes
    // refuse, would be no link either: unit test `only_http_urls_are_links`).
    let evil = site.page("/packages/bad/evil");
    assert!(
        evil.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; &#39;single&#39;"
        ),
        "{evil}"
    );
    assert!(
        evil.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{evil}"
    );
    assert!(!evil.contains("<script>alert"), "{evil}");
    assert!(!evil.contains("<img"), "{evil}");
    assert!(
        evil.contains(
            "href=\"https://example.org/?q=&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;\""
        ),
        "{evil}"
    );
    assert!(!site.page("/").contains("<script>alert"));
    assert!(!site.page("/search?q=evil").contains("<script>alert"));
}

fn graph_and_not_found(site: &Site) {
    // The graph: hello above libgreet, both linked; the SVG also alone.
    let graph = site.page("/graph/acme/hello");
    assert!(graph.contains("<svg id=\"graph\""), "{graph}");
    assert!(graph.contains("<a href=\"/packages/acme/hello?version=1.0.0\"><rect class=\"root\""));
    assert!(
        graph.contains("<a href=\"/packages/acme/libgreet?version=1.0.0\"><rect"),
        "{graph}"
    );
    assert!(graph.contains(">libgreet 1.0.0</text>"), "{graph}");
    assert_eq!(graph.matches("<path class=\"edge\"").count(), 1, "{graph}");
    let (status, head, alone) = site.get("/graph/acme/hello.svg");
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "content-type"), Some("image/svg+xml"));
    assert!(alone.starts_with("<?xml"), "{alone}");
    assert!(alone.contains("<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\""));

    // 404s say what was not found, escaped.
    for (path, what) in [
        ("/packages/acme/nope", "<code>acme/nope</code>"),
        (
            "/packages/acme/hello?version=9.9.9",
            "<code>acme/hello 9.9.9</code>",
        ),
        ("/graph/acme/nope", "<code>acme/nope</code>"),
        ("/packages/acme/%3Cb%3E", "<code>acme/&lt;b&gt;</code>"),
    ] {
        let (status, head, body) = site.get(path);
        assert_eq!(status, 404, "{path}: {head}");
        assert_html_headers(&head);
        assert!(body.contains(what), "{path}: {body}");
    }
}

#[test]
fn assets_are_embedded_cached_by_hash_and_revalidated() {
    let site = Site::new();
    let home = site.page("/");
    let css = attribute_after(&home, "<link rel=\"stylesheet\" href=\"");
    let js = attribute_after(&home, "<script src=\"");
    for (url, stem, ext) in [(&css, "style", "css"), (&js, "app", "js")] {
        let hash = url
            .strip_prefix(&format!("/-/assets/{stem}."))
            .and_then(|rest| rest.strip_suffix(&format!(".{ext}")));
        assert!(hash.is_some_and(|h| h.len() == 16), "{url}");
    }
    let (status, head, body) = site.get(&css);
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header(&head, "content-type"),
        Some("text/css; charset=utf-8")
    );
    assert!(
        header(&head, "cache-control")
            .unwrap()
            .contains("immutable"),
        "{head}"
    );
    assert!(body.contains("prefers-color-scheme: dark"), "{body}");
    let etag = header(&head, "etag").expect("an ETag").to_owned();
    assert!(css.contains(etag.trim_matches('"')), "{etag} names {css}");
    // The plain name is revalidated by its ETag.
    let (status, head, _) = exchange(
        site.server.addr(),
        "GET",
        "/-/assets/style.css",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(status, 304, "{head}");
    let (status, head, body) = site.get(&js);
    assert_eq!(status, 200, "{head}");
    assert!(
        header(&head, "content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(body.contains("/search?fragment=1"), "{body}");
    let (status, _, _) = site.get("/-/assets/nope.css");
    assert_eq!(status, 404);
    // Page weight, for the report.
    let hello = site.page("/packages/acme/hello");
    eprintln!(
        "bytes: / {}, /packages/acme/hello {}, style.css {}, app.js {}",
        home.len(),
        hello.len(),
        site.get(&css).2.len(),
        body.len()
    );
}

/// The attribute value that follows `prefix` in `page`.
fn attribute_after(page: &str, prefix: &str) -> String {
    page.split(prefix)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("`{prefix}` in {page}"))
        .to_owned()
}

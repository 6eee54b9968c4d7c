//! Conditional tag writes (a paks extension, `docs/serve.md`): `If-Match: "<digest>"` and
//! `If-None-Match: *` on a manifest `PUT` to a tag; 412 when the tag moved.

use reqwest::Method;

use crate::support::{OCI_MANIFEST, Server, image_manifest};

async fn put_if(
    s: &Server,
    tag: &str,
    header: (&str, &str),
    body: &[u8],
) -> crate::support::Answer {
    s.send(
        Method::PUT,
        &format!("/v2/c/manifests/{tag}"),
        &[("content-type", OCI_MANIFEST), header],
        Some(body.to_vec()),
    )
    .await
}

#[tokio::test]
async fn if_match_writes_only_while_the_tag_is_unmoved() {
    let s = Server::start().await;
    let config = s.push_blob("c", b"{}").await;
    let a = image_manifest(&config, &[], None, Some("application/x.a"));
    let b = image_manifest(&config, &[], None, Some("application/x.b"));
    let c = image_manifest(&config, &[], None, Some("application/x.c"));
    let (da, db) = (
        paks_types::Digest::sha256_of(&a),
        paks_types::Digest::sha256_of(&b),
    );

    // Creating: `If-None-Match: *` holds while the tag is missing, then not.
    put_if(&s, "t", ("if-none-match", "*"), &a)
        .await
        .assert_status(201);
    put_if(&s, "t", ("if-none-match", "*"), &b)
        .await
        .assert_error(412, "MANIFEST_INVALID");

    // Replacing: only from the digest the tag names now.
    let quoted = |d: &paks_types::Digest| format!("\"{d}\"");
    put_if(&s, "t", ("if-match", &quoted(&db)), &c)
        .await
        .assert_error(412, "MANIFEST_INVALID");
    put_if(&s, "t", ("if-match", &quoted(&da)), &b)
        .await
        .assert_status(201);
    // The writer who read `a` lost the race: refused, and the tag keeps `b`.
    let lost = put_if(&s, "t", ("if-match", &quoted(&da)), &c).await;
    lost.assert_error(412, "MANIFEST_INVALID");
    assert_eq!(
        lost.json()["errors"][0]["detail"]["current"],
        db.to_string()
    );
    let now = s
        .send(
            Method::GET,
            "/v2/c/manifests/t",
            &[("accept", OCI_MANIFEST)],
            None,
        )
        .await;
    assert_eq!(now.body, b);

    // `If-Match: *` needs the tag to exist.
    put_if(&s, "u", ("if-match", "*"), &a)
        .await
        .assert_error(412, "MANIFEST_INVALID");
    // A condition that is not a quoted digest is refused, not ignored.
    put_if(&s, "t", ("if-match", &db.to_string()), &a)
        .await
        .assert_error(400, "UNSUPPORTED");
}

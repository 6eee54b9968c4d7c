//! Rootfs packages (imported from a distribution) with the real `paks` binary: they are
//! refused by the store, with a hint to where they go instead.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::Env;
use paks_archive::{Compression, write_layer, write_pak};
use paks_types::{
    ConfigRootfs, DebianVersion, Digest, ForeignFormat, ImageConfig, META_SCHEMA, Origin,
    PackageId, PackageKind, PackageMeta, PackageName, Platform, Relocation, id_hash,
};

/// Write a rootfs `.pak` of `name` at the Debian version `version`, as an import makes
/// it: a layer rooted at `/` (`usr/bin/<name>`) and an origin.
fn rootfs_pak(dir: &Path, name: &str, version: &str) -> PathBuf {
    let name = PackageName::new(name).unwrap();
    let debian = DebianVersion::parse(version).unwrap();
    let semver = debian.semver_compatible();
    let id = PackageId::new(
        id_hash(format!("{name}-{version}").as_bytes()),
        name.clone(),
        semver.clone(),
    )
    .unwrap();
    let work = dir.join(format!("work-{name}"));
    let src = work.join("tree");
    std::fs::create_dir_all(src.join("usr/bin")).unwrap();
    std::fs::write(src.join("usr/bin").join(name.as_str()), "#!/bin/sh\n").unwrap();
    let blob = work.join("layer");
    let layer = write_layer(
        &src,
        "",
        Compression::default(),
        std::fs::File::create(&blob).unwrap(),
    )
    .unwrap();
    let platform = Platform::host();
    let config = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: None,
        config: BTreeMap::new(),
        rootfs: ConfigRootfs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        paks: PackageMeta {
            schema: META_SCHEMA,
            name: name.clone(),
            version: semver.clone(),
            id: id.clone(),
            platform,
            summary: Some(format!("the {name} package")),
            license: None,
            homepage: None,
            dependencies: vec![],
            env: vec![],
            relocation: Relocation::default(),
            files: layer.entries,
            size: layer.unpacked_size,
            contents: vec![format!("usr/bin/{name}")],
            needs: paks_types::PackageNeeds::default(),
            kind: PackageKind::Rootfs,
            origin: Some(Origin {
                format: ForeignFormat::Deb,
                version: version.to_owned(),
                architecture: "amd64".into(),
                source: Some(format!("{name}-src")),
                source_version: None,
                maintainer: Some("Someone <someone@example.invalid>".into()),
                file_digest: Digest::sha256_of(name.as_str().as_bytes()),
                relations: BTreeMap::from([("depends".into(), "libc6 (>= 2.34)".into())]),
                scripts_not_run: vec!["postinst".into()],
                conffiles: vec![],
                alternatives: vec![],
                libraries: vec![],
                dropped_setid: vec![],
            }),
            test: None,
        },
    };
    let annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_owned(),
            name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            semver.to_string(),
        ),
        ("io.paks.package.id".to_owned(), id.to_string()),
    ]);
    let path = dir.join(format!("{name}.pak"));
    write_pak(
        &path,
        &serde_json::to_vec(&config).unwrap(),
        &blob,
        &layer,
        Compression::default(),
        annotations,
        &semver.to_string(),
    )
    .unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    path
}

/// `paks install` of a rootfs archive fails as a user error naming the package, points
/// to images and sysroots, and leaves nothing in the store.
#[test]
fn store_install_of_a_rootfs_package_is_refused_with_a_hint() {
    let env = Env::new();
    let pak = rootfs_pak(env.dir.path(), "tool", "1:2.36-9+deb12u4");
    let err = env.fails(&["install", pak.to_str().unwrap()], 1);
    assert!(
        err.contains("`tool 1:2.36-9+deb12u4` is a rootfs package"),
        "{err}"
    );
    assert!(
        err.contains("hint: ") && err.contains("paks image build --from scratch tool"),
        "{err}"
    );
    assert!(err.contains("paks sysroot create DIR tool"), "{err}");
    assert!(!env.ok(&["list"]).contains("tool"));
}

/// `paks info` of a rootfs archive shows the verbatim version, the kind and the origin;
/// `--json` carries them typed.
#[test]
fn info_shows_kind_verbatim_version_and_origin() {
    let env = Env::new();
    let pak = rootfs_pak(env.dir.path(), "tool", "1:2.36-9+deb12u4");
    let text = env.ok(&["info", pak.to_str().unwrap()]);
    assert!(text.starts_with("tool 1:2.36-9+deb12u4\n"), "{text}");
    for line in [
        "kind:         rootfs (imported deb 1:2.36-9+deb12u4, amd64): goes into images and sysroots, not a store",
        "source:       tool-src 1:2.36-9+deb12u4",
        "not run:      postinst",
        "depends:      libc6 (>= 2.34)",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    let digest = Digest::sha256_of(b"tool");
    assert!(
        text.contains(&format!("file sha256:  {}", digest.hex())),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["info", "--json", pak.to_str().unwrap()])).unwrap();
    assert_eq!(json["type"], "package");
    assert_eq!(json["kind"], "rootfs");
    assert_eq!(json["origin"]["version"], "1:2.36-9+deb12u4");
    assert_eq!(json["origin"]["format"], "deb");
    assert_eq!(json["origin"]["scripts_not_run"][0], "postinst");
}

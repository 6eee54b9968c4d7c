//! An Alpine `.apk` into a rootfs package ([`convert_apk`]): its signature checked (or
//! refused), its data tar rewritten into a layer, its `.PKGINFO` into the metadata. A
//! batch of them is pinned and written by [`crate::convert::write_batch`], as `.deb`s are.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek as _};
use std::path::Path;

use paks_archive::rootfs::write_layer_observed;
use paks_types::{ForeignFormat, HashingReader, Origin, PackageMeta, Platform};

use crate::apk::{ApkPackage, Dependency, Keyring, PkgInfo, ScriptKind, VersionOp};
use crate::convert::{
    ConvertError, Converted, ImportOptions, Relations, observe, package_id, platform_and_blob,
    rootfs_meta,
};

/// Hashed into every package id made from an `.apk`; a change of the conversion that
/// changes its output must change this tag.
pub const APK_FORMAT_TAG: &str = "paks-import/apk/1";

/// Which `.apk` files to believe.
#[derive(Debug, Default)]
pub struct ApkTrust {
    /// The keys packages must be signed by (as in `/etc/apk/keys`).
    pub keyring: Keyring,
    /// Take unsigned packages and packages signed by unknown keys too.
    pub allow_untrusted: bool,
}

/// Reads the `.apk` at `path`, checks its signature against `trust`, and writes its layer
/// into a temporary file in `scratch`.
pub fn convert_apk(
    path: &Path,
    scratch: &Path,
    trust: &ApkTrust,
    options: &ImportOptions,
) -> Result<Converted<PkgInfo>, ConvertError> {
    let mut file = File::open(path).map_err(|e| ConvertError::io(path, e))?;
    // The digest covers every byte of the file; the package is then read from the start.
    let mut hashing = HashingReader::new(&mut file);
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| ConvertError::io(path, e))?;
    let (file_digest, _, _) = hashing.finish();
    file.rewind().map_err(|e| ConvertError::io(path, e))?;
    let package = ApkPackage::open(io::BufReader::new(file), &trust.keyring)
        .map_err(|e| ConvertError::apk(path, e))?;
    if !trust.allow_untrusted {
        package
            .signature
            .require_trusted("package")
            .map_err(|e| ConvertError::apk(path, e))?;
    }
    let info = package.pkginfo.clone();
    let scripts_not_run = package
        .scripts
        .iter()
        .map(|s| script_name(s.kind).to_owned())
        .collect();
    let arch = info
        .arch
        .clone()
        .ok_or_else(|| ConvertError::invalid(path, "`.PKGINFO` has no `arch`"))?;
    let asked = options.platform.as_ref();
    let (platform, blob) = platform_and_blob(path, platform_of(&arch, asked), scratch)?;
    let mut seen = observe::Seen::without_bundle(&info.name);
    let layer = write_layer_observed(
        package.into_data(),
        options.compression,
        io::BufWriter::new(blob.as_file()),
        &options.layer_limits,
        &mut seen,
    )
    .map_err(|e| ConvertError::layer(path, e))?;
    let id = package_id(
        path,
        seen.not_utf8.take(),
        APK_FORMAT_TAG,
        &file_digest,
        &platform,
        &info.name,
        info.version.semver_compatible(),
    )?;
    let mut notes = Vec::new();
    let homepage = crate::convert::homepage(info.url.as_deref(), &mut notes);
    let origin = Origin {
        format: ForeignFormat::Apk,
        version: info.version.as_str().to_owned(),
        architecture: arch,
        source: info.origin.clone(),
        source_version: None,
        maintainer: info.maintainer.clone(),
        file_digest,
        relations: relations(&info),
        scripts_not_run,
        conffiles: Vec::new(),
        alternatives: Vec::new(),
        libraries: crate::convert::libraries::libraries(&seen.libraries, &seen.library_links),
        dropped_setid: layer.dropped_setid.clone(),
    };
    let meta = PackageMeta {
        summary: crate::convert::summary(info.description.as_deref()),
        license: info.license.clone(),
        homepage,
        ..rootfs_meta(id, platform, &layer, seen.contents, origin)
    };
    meta.validate().map_err(|e| ConvertError::meta(path, e))?;
    Ok(Converted {
        path: path.to_owned(),
        control: info,
        meta,
        layer,
        blob,
        notes,
    })
}

/// The OCI platform of an Alpine architecture, by its Debian name (`noarch` is Debian's
/// `all`): `noarch` is `asked` (or the host's); any other must match `asked` when given.
pub fn platform_of(arch: &str, asked: Option<&Platform>) -> Result<Platform, String> {
    let debian = match arch {
        "noarch" => "all",
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "armv7" => "armhf",
        "ppc64le" => "ppc64el",
        "s390x" | "riscv64" => arch,
        other => {
            return Err(format!(
                "the Alpine architecture `{other}` has no OCI platform"
            ));
        }
    };
    // The message names the architecture as the package does.
    crate::convert::platform_of(debian, asked)
        .map_err(|e| e.replace(&format!("(`{debian}`)"), &format!("(`{arch}`)")))
}

fn script_name(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::PreInstall => ".pre-install",
        ScriptKind::PostInstall => ".post-install",
        ScriptKind::PreUpgrade => ".pre-upgrade",
        ScriptKind::PostUpgrade => ".post-upgrade",
        ScriptKind::PreDeinstall => ".pre-deinstall",
        ScriptKind::PostDeinstall => ".post-deinstall",
        ScriptKind::Trigger => ".trigger",
    }
}

/// `.PKGINFO`'s relation lines, each field's atoms joined by spaces as apk writes them.
fn relations(info: &PkgInfo) -> BTreeMap<String, String> {
    [
        ("depend", &info.depends),
        ("provides", &info.provides),
        ("replaces", &info.replaces),
        ("install_if", &info.install_if),
    ]
    .into_iter()
    .filter(|(_, atoms)| !atoms.is_empty())
    .map(|(field, atoms)| {
        let text: Vec<String> = atoms.iter().map(ToString::to_string).collect();
        (field.to_owned(), text.join(" "))
    })
    .collect()
}

/// apk's rules: a `depend` atom (conflicts `!name` aside) is satisfied by a package of
/// that name whose version matches, or by one whose `provides` has the name (`so:`,
/// `cmd:`, `pc:` names included): unversioned, any provide; versioned, only a provide with
/// `=version` that matches. apk has no alternatives: each atom is one item.
impl Relations for PkgInfo {
    type Item = Dependency;

    fn required(&self) -> Vec<Vec<Dependency>> {
        self.depends
            .iter()
            .filter(|d| !d.conflict)
            .map(|d| vec![d.clone()])
            .collect()
    }

    fn is(&self, item: &Dependency) -> bool {
        self.name == item.name
            && item
                .version
                .as_ref()
                .is_none_or(|(op, bound)| op.matches(&self.version, bound))
    }

    fn provides(&self, item: &Dependency) -> bool {
        self.provides.iter().any(|p| {
            p.name == item.name
                && match (&item.version, &p.version) {
                    (None, _) => true,
                    (Some((op, bound)), Some((VersionOp::Equal, provided))) => {
                        op.matches(provided, bound)
                    }
                    (Some(_), _) => false,
                }
        })
    }

    fn version_cmp(&self, other: &Self) -> Ordering {
        self.version.cmp(&other.version)
    }
}

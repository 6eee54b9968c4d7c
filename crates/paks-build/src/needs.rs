//! What the built binaries need from the system they run on: the facts `paks inspect`
//! finds in an image, found once when the package is built and kept in its config (and,
//! for glibc and the x86-64 level, in its manifest's annotations, which indexes read).

use std::io::BufReader;
use std::path::Path;

use paks_inspect::IsaLevel;
use paks_types::{PackageNeeds, Version};

use crate::BuildError;

/// Analyse the ELF files of the package layer at `layer`.
pub fn analyse(layer: &Path) -> Result<PackageNeeds, BuildError> {
    let file = BufReader::new(fs_err::File::open(layer)?);
    let report = paks_inspect::inspect_layers(None, [file])
        .map_err(|e| BuildError::Io(std::io::Error::other(e.to_string())))?;
    let s = &report.summary;
    Ok(PackageNeeds {
        glibc: s.glibc_required.as_ref().map(|r| short(&r.version)),
        glibcxx: s.glibcxx_required.as_ref().map(|r| r.version.to_string()),
        isa_level: s
            .isa
            .as_ref()
            .filter(|i| i.level > IsaLevel::V1)
            .map(|i| i.level.as_str().to_owned()),
        isa_source: s
            .isa
            .as_ref()
            .filter(|i| i.level > IsaLevel::V1)
            .map(|i| i.source.as_str().to_owned()),
        mpi: s.mpi.as_ref().map(|m| m.abi.clone()),
        gpu: s.cuda.as_ref().map(|c| {
            c.version
                .as_ref()
                .map_or_else(|| "cuda".to_owned(), |v| format!("cuda:{v}"))
        }),
    })
}

/// `2.34` for 2.34.0, as glibc names its versions.
fn short(v: &Version) -> String {
    if v.patch == 0 {
        format!("{}.{}", v.major, v.minor)
    } else {
        v.to_string()
    }
}

/// The archspec target of an x86-64 level (`x86-64-v3` → `x86_64_v3`).
pub fn target_of(level: &str) -> Option<&'static str> {
    IsaLevel::parse(level).map(IsaLevel::archspec)
}

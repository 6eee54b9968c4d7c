//! The SPDX SBOM that `paks build` and `paks import` write beside each `.pak`
//! (`out/X.pak` → `out/X.spdx.json`), where `paks push --sign` finds it.

use std::path::{Path, PathBuf};

use paks_attest::sbom::{self, SbomError};

use crate::Failure;
use crate::commands::{Explain, failure};

impl Explain for SbomError {
    fn hint(&self) -> Option<String> {
        None
    }
    fn is_io(&self) -> bool {
        !matches!(self, SbomError::Meta { .. })
    }
}

/// Where the SBOM of `pak` goes: beside it, `.pak` replaced by `.spdx.json`.
pub fn sbom_path(pak: &Path) -> PathBuf {
    pak.with_extension("spdx.json")
}

/// Write the SPDX SBOM of `pak` (with the recipe's `sources`) beside it, atomically;
/// returns its path.
pub fn write_beside(pak: &Path, sources: &[paks_recipe::Source]) -> Result<PathBuf, Failure> {
    let mut document = sbom::from_pak(pak).map_err(failure)?;
    document.add_sources(sources);
    let path = sbom_path(pak);
    paks_types::fs::write_atomic(&path, &document.to_spdx_json())?;
    Ok(path)
}

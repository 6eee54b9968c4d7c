//! Which files are Dockerfiles: the files named on the command line, and in the
//! directories named, every `Dockerfile`, `Containerfile`, `*.Dockerfile`, `Dockerfile.*`,
//! `*.containerfile` and `Containerfile.*` (any case), skipping hidden directories and
//! symbolic links (a link may lead out of the tree, or round in a loop).

use std::path::{Path, PathBuf};

use crate::Failure;
use crate::commands::user_error;

/// Every Dockerfile under `paths`, each once, directories' files sorted by path.
pub(crate) fn dockerfiles(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut found = Vec::new();
    for path in paths {
        let meta = fs_err::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                user_error(
                    format!("`{}` does not exist", path.display()),
                    Some("name a Dockerfile, or a directory to search for them".into()),
                )
            } else {
                Failure::from(e)
            }
        })?;
        if meta.is_dir() {
            let mut here = Vec::new();
            search(path, &mut here)?;
            here.sort();
            found.extend(here);
        } else {
            found.push(path.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(p.clone()));
    Ok(found)
}

fn search(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), Failure> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() && !name.starts_with('.') {
            search(&entry.path(), found)?;
        } else if kind.is_file() && is_dockerfile_name(&name) {
            found.push(entry.path());
        }
    }
    Ok(())
}

/// Whether a file called `name` is a Dockerfile by its name. `Dockerfile.dockerignore` is
/// the ignore file of `Dockerfile`, not one.
fn is_dockerfile_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name.ends_with(".dockerignore") {
        return false;
    }
    ["dockerfile", "containerfile"].iter().any(|base| {
        name == *base
            || name.starts_with(&format!("{base}."))
            || name.ends_with(&format!(".{base}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for yes in [
            "Dockerfile",
            "Containerfile",
            "api.Dockerfile",
            "Dockerfile.dev",
            "base.containerfile",
            "dockerfile",
        ] {
            assert!(is_dockerfile_name(yes), "{yes}");
        }
        for no in [
            "Dockerfile.dockerignore",
            "README.md",
            "Dockerfiles",
            "MyDockerfile",
            ".dockerignore",
        ] {
            assert!(!is_dockerfile_name(no), "{no}");
        }
    }
}

//! `paks sysroot create`: the image `paks image build --from scratch PACKAGES` would
//! compose, extracted into a directory (or written as one tar, or as an OCI layout).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use paks_archive::rootfs_extract::RootfsOptions;
use paks_image::sysroot::{SysrootStats, write_tree_tar};
use paks_image::{Composed, Composer, ImageSpec, Output};
use paks_types::{Platform, Reporter as _};
use serde_json::json;

use crate::Failure;
use crate::cli::SysrootCreateArgs;
use crate::commands::{Ctx, elapsed, failure, human_size, json_line, out, plural, user_error};
use crate::image::{Resolved, check_spec, compose_all, load_spec};
use crate::remote::{cache_client, runtime};

/// Where the sysroot goes.
enum Target {
    Dir(PathBuf),
    Tar(PathBuf),
    Oci(PathBuf),
}

pub fn create(ctx: &Ctx, args: &SysrootCreateArgs) -> Result<(), Failure> {
    let start = Instant::now();
    let (target, packages) = match (&args.tar, &args.oci) {
        (Some(t), _) => (Target::Tar(t.clone()), &args.args[..]),
        (None, Some(o)) => (Target::Oci(o.clone()), &args.args[..]),
        (None, None) => {
            let Some((dir, rest)) = args.args.split_first() else {
                return Err(user_error(
                    "the sysroot has no destination",
                    Some(
                        "`paks sysroot create DIR PACKAGE...`, or `--tar FILE`, or `--oci DIR`"
                            .into(),
                    ),
                ));
            };
            (Target::Dir(PathBuf::from(dir)), rest)
        }
    };
    if let Target::Dir(dir) = &target {
        check_empty(dir)?;
    }
    let spec = spec_of(ctx, args, packages)?;
    let store = ctx.store()?;
    let composer = Composer {
        client: cache_client(ctx)?,
        store: &store,
        reporter: &ctx.reporter,
        local: None,
    };
    let rt = runtime()?;
    let Resolved { images, .. } = compose_all(ctx, &composer, &rt, &spec)?;
    let image = &images[0];
    let options = RootfsOptions::default();
    let (stats, path) = match &target {
        Target::Oci(dir) => {
            let output = Output::Layout {
                dir: dir.clone(),
                tag: "latest".into(),
            };
            rt.block_on(composer.output(&images, &output))
                .map_err(failure)?;
            (
                SysrootStats::default(),
                format!("oci:{}:latest", dir.display()),
            )
        }
        Target::Dir(dir) => {
            let stats = into_dir(&rt, &composer, image, dir, &options)?;
            (stats, dir.display().to_string())
        }
        Target::Tar(file) => {
            let stats = into_tar(&rt, &composer, image, file, &options)?;
            (stats, file.display().to_string())
        }
    };
    if !stats.dropped_setid.is_empty() {
        ctx.reporter.warn(&format!(
            "not running as root: {} setuid/setgid bit{} dropped and files owned by you: {}",
            stats.dropped_setid.len(),
            plural(stats.dropped_setid.len()),
            stats
                .dropped_setid
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        json_line(&json!({
            "type": "sysroot",
            "path": path,
            "platform": image.platform.to_string(),
            "image": image.digest.to_string(),
            "packages": image.packages.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "layers": image.layers.len(),
            "files": stats.entries,
            "bytes": stats.bytes,
            "downloaded_bytes": stats.downloaded_bytes,
            "dropped_setid": stats.dropped_setid,
            "seconds": seconds,
        }))?;
    } else {
        writeln!(out(), "{path}")?;
    }
    ctx.reporter.status(&format!(
        "Wrote a sysroot of {} package{} ({} layers, {} entries, {}) in {}",
        image.packages.len(),
        plural(image.packages.len()),
        image.layers.len(),
        stats.entries,
        human_size(stats.bytes),
        elapsed(start),
    ));
    Ok(())
}

/// `paks image build --from scratch`'s spec: `-f`'s (accounts and all), plus the
/// packages, for one platform.
fn spec_of(ctx: &Ctx, args: &SysrootCreateArgs, packages: &[String]) -> Result<ImageSpec, Failure> {
    let mut spec = load_spec(args.file.as_deref())?;
    spec.packages.extend(packages.iter().cloned());
    spec.from = Some("scratch".into());
    if let Some(p) = &args.platform {
        spec.platforms = vec![p.parse::<Platform>()?];
    } else if spec.platforms.len() > 1 {
        ctx.reporter.warn(&format!(
            "a sysroot is for one platform: only the first, `{}`, is used (name another with `--platform`)",
            spec.platforms[0]
        ));
        spec.platforms.truncate(1);
    }
    check_spec(
        &spec,
        args.file.as_deref(),
        "`paks sysroot create DIR PACKAGE...`",
    )?;
    Ok(spec)
}

/// DIR must be absent or an empty directory: a sysroot never mixes with what was there.
fn check_empty(dir: &Path) -> Result<(), Failure> {
    let mut entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(user_error(
                format!("`{}` is not a directory", dir.display()),
                Some("name a new directory for the sysroot".into()),
            ));
        }
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("failed to read `{}`: {e}", dir.display()),
            )
            .into());
        }
        Ok(entries) => entries,
    };
    if entries.next().is_some() {
        return Err(user_error(
            format!("`{}` is not empty", dir.display()),
            Some("a sysroot is written into a new or empty directory; remove it first or name another".into()),
        ));
    }
    Ok(())
}

/// A fresh directory beside `path`, removed again when dropped unless kept.
struct TempTree(Option<PathBuf>);

impl TempTree {
    fn beside(path: &Path) -> Result<Self, Failure> {
        let tmp = paks_types::fs::temp_sibling(path, "tmp");
        fs_err::create_dir(&tmp)?;
        Ok(Self(Some(tmp)))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().expect("not yet kept")
    }

    fn keep(mut self) -> PathBuf {
        self.0.take().expect("not yet kept")
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Extract into `DIR.tmp-…` beside `dir`, then rename it to `dir`: a kill leaves no half
/// tree under `dir`'s name.
fn into_dir(
    rt: &tokio::runtime::Runtime,
    composer: &Composer<'_>,
    image: &Composed,
    dir: &Path,
    options: &RootfsOptions,
) -> Result<SysrootStats, Failure> {
    let tmp = TempTree::beside(dir)?;
    fs_err::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let stats = rt
        .block_on(composer.extract_into(image, tmp.path(), options))
        .map_err(failure)?;
    let tmp = tmp.keep();
    // An empty directory at `dir` is replaced by the rename.
    if let Err(e) = fs_err::rename(&tmp, dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.into());
    }
    paks_types::fs::fsync_parent(dir)?;
    Ok(stats)
}

/// Extract into a temporary tree beside `file`, write it as one tar (atomically), and
/// remove the tree.
fn into_tar(
    rt: &tokio::runtime::Runtime,
    composer: &Composer<'_>,
    image: &Composed,
    file: &Path,
    options: &RootfsOptions,
) -> Result<SysrootStats, Failure> {
    let tmp = TempTree::beside(file)?;
    let stats = rt
        .block_on(composer.extract_into(image, tmp.path(), options))
        .map_err(failure)?;
    paks_types::fs::write_atomic_with(file, |f| {
        let mut w = std::io::BufWriter::new(f);
        write_tree_tar(tmp.path(), &mut w).map_err(failure)?;
        w.flush()?;
        Ok::<_, Failure>(())
    })?;
    Ok(stats)
}

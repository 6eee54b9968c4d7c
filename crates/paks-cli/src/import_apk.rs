//! `paks import apk`: Alpine packages into rootfs packages, as one batch, as `paks import
//! deb` does with Debian's; each package's signature checked against `--keys`.

use std::time::Instant;

use paks_import::apk::{ApkError, ApkTrust, Keyring, convert_apk};
use paks_import::convert::{self, ImportOptions};

use crate::Failure;
use crate::cli::ImportApkArgs;
use crate::commands::{Ctx, failure, user_error};

pub fn apk(ctx: &Ctx, args: &ImportApkArgs) -> Result<(), Failure> {
    let start = Instant::now();
    let files = crate::import::package_files(&args.paths, "apk")?;
    fs_err::create_dir_all(&args.out)?;
    let keyring = match &args.keys {
        Some(dir) => Keyring::from_dir(dir).map_err(|e| keys_error(dir, &e))?,
        None => Keyring::new(),
    };
    let trust = ApkTrust {
        keyring,
        allow_untrusted: args.allow_untrusted,
    };
    let options = ImportOptions {
        platform: args.platform.clone(),
        ..ImportOptions::default()
    };
    let converted = crate::import::convert_each(ctx, &files, |file| {
        convert_apk(file, &args.out, &trust, &options)
    })?;
    let imported =
        convert::write_batch(converted, &args.out, options.compression).map_err(failure)?;
    crate::import::report(
        ctx,
        &imported,
        &args.out,
        args.json,
        args.push.as_ref(),
        start,
    )
}

fn keys_error(dir: &std::path::Path, e: &ApkError) -> Failure {
    user_error(
        format!("cannot read the keys in `{}`: {e}", dir.display()),
        Some("`--keys` names a directory of PEM public keys, as `/etc/apk/keys`".into()),
    )
}

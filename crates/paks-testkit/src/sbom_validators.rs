//! The reference SBOM validators, run as the tests' independent judges: `pyspdxtools`
//! (`PyPI` `spdx-tools`) and `cyclonedx-python-lib`'s strict JSON validator, both installed
//! by `scripts/deps`.

use std::path::Path;
use std::process::Command;

/// `pyspdxtools -i FILE` accepts the SPDX document at `path`.
pub fn assert_valid_spdx(path: &Path) {
    let out = Command::new("pyspdxtools")
        .arg("-i")
        .arg(path)
        .output()
        .expect("pyspdxtools runs (scripts/deps installs spdx-tools)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // It reports some problems on stderr with a zero exit status.
    assert!(
        out.status.success() && !stdout.contains("invalid") && !stderr.contains("invalid"),
        "pyspdxtools refused {}:\n{stdout}\n{stderr}",
        path.display()
    );
}

/// cyclonedx-python-lib's strict validator accepts the document at `path` as `CycloneDX` 1.5.
pub fn assert_valid_cyclonedx(path: &Path) {
    let script = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
        print(getattr(getattr(error, 'data', None), 'message', error))\n\
        sys.exit(1 if error is not None else 0)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "cyclonedx-python-lib refused {}:\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

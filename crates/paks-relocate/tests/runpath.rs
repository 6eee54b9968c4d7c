//! `fix_runpaths` on real gcc-built programs: after the rewrite, the store moves to a
//! longer and to a shorter place and the program still finds its library.

mod common;

use std::path::{Path, PathBuf};

use common::{gcc, id, join, move_dir, run, s, search_paths};
use paks_relocate::{RunpathReport, fix_runpaths};
use paks_types::CANONICAL_STORE;

const GREET_C: &str = r#"
const char *greet(void) { return "hello from libgreet"; }
"#;

const HELLO_C: &str = r"
#include <stdio.h>
const char *greet(void);
int main(void) { puts(greet()); return 0; }
";

/// A store as a build leaves it: `<tmp>/opt/paks/store` with `libgreet` in one package
/// and `hello`, linked against it, in another.
struct Fixture {
    tmp: tempfile::TempDir,
    store: PathBuf,
    greet: String,
    hello: String,
}

impl Fixture {
    fn build(new_dtags: bool) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store = join(tmp.path(), &["opt", "paks", "store"]);
        let (greet, hello) = (id("greet"), id("hello"));
        let greet_lib = store.join(&greet).join("lib");
        let hello_lib = store.join(&hello).join("lib");
        let dtags = if new_dtags {
            "-Wl,--enable-new-dtags"
        } else {
            "-Wl,--disable-new-dtags"
        };
        gcc(
            GREET_C,
            &greet_lib.join("libgreet.so"),
            &[
                "-shared",
                "-fPIC",
                "-Wl,-soname,libgreet.so",
                dtags,
                &format!("-Wl,-rpath,{}", s(&greet_lib)),
            ],
        );
        gcc(
            HELLO_C,
            &store.join(&hello).join("bin/hello"),
            &[
                &format!("-L{}", s(&greet_lib)),
                "-lgreet",
                dtags,
                &format!("-Wl,-rpath,{}", s(&hello_lib)),
                &format!("-Wl,-rpath,{}", s(&greet_lib)),
            ],
        );
        Self {
            tmp,
            store,
            greet,
            hello,
        }
    }

    fn fix(&self, id: &str) -> RunpathReport {
        let dirs = [s(&self.store), CANONICAL_STORE];
        fix_runpaths(
            &self.store.join(id),
            &format!("{CANONICAL_STORE}/{id}"),
            &dirs,
        )
        .unwrap()
    }

    /// Moves the whole store to `to` and runs `hello` there.
    fn move_and_run(&mut self, to: &Path) -> String {
        move_dir(&self.store, to);
        to.clone_into(&mut self.store);
        run(&self.store.join(&self.hello).join("bin/hello"))
    }
}

fn check_moves(mut store: Fixture) {
    let tmp = store.tmp.path().to_path_buf();
    let long = join(
        &tmp,
        &[
            "a-much-longer-install-root-than-the-one-it-was-built-for",
            "with/several/levels",
            "store",
        ],
    );
    assert!(s(&long).len() > s(&store.store).len() + 50);
    assert_eq!(store.move_and_run(&long), "hello from libgreet\n");
    let short = tmp.join("s");
    assert!(s(&short).len() < s(&join(&tmp, &["opt", "paks", "store"])).len());
    assert_eq!(store.move_and_run(&short), "hello from libgreet\n");
}

#[test]
fn runpath_becomes_origin_relative_and_survives_moves() {
    let store = Fixture::build(true);
    let hello = store.store.join(&store.hello).join("bin/hello");
    let size = fs_err::metadata(&hello).unwrap().len();

    let report = store.fix(&store.hello);
    assert_eq!(report.rewritten, ["bin/hello"]);
    assert!(report.unchanged.is_empty(), "{report:?}");
    let want = format!("$ORIGIN/../lib:$ORIGIN/../../{}/lib", store.greet);
    assert_eq!(search_paths(&hello), (vec![want], vec![]));
    assert_eq!(fs_err::metadata(&hello).unwrap().len(), size);

    let report = store.fix(&store.greet);
    assert_eq!(report.rewritten, ["lib/libgreet.so"]);
    let lib = store.store.join(&store.greet).join("lib/libgreet.so");
    assert_eq!(search_paths(&lib).0, ["$ORIGIN"]);

    // A second pass finds nothing left to do, and no file names a store any more: the
    // old strings are gone, not just cut short.
    assert_eq!(store.fix(&store.hello), RunpathReport::default());
    for id in [&store.hello, &store.greet] {
        let left = paks_relocate::scan(&store.store.join(id), &[s(&store.store)]).unwrap();
        assert_eq!(left, paks_relocate::Relocation::default());
    }

    check_moves(store);
}

#[test]
fn without_the_fix_a_moved_program_does_not_start() {
    let mut store = Fixture::build(true);
    let to = store.tmp.path().join("s");
    move_dir(&store.store, &to);
    to.clone_into(&mut store.store);
    let output = std::process::Command::new(store.store.join(&store.hello).join("bin/hello"))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("libgreet.so"));
}

#[test]
fn rpath_keeps_its_tag_and_survives_moves() {
    let store = Fixture::build(false);
    let hello = store.store.join(&store.hello).join("bin/hello");
    assert_eq!(
        search_paths(&hello).0,
        Vec::<String>::new(),
        "gcc wrote RPATH"
    );

    assert_eq!(store.fix(&store.hello).rewritten, ["bin/hello"]);
    let want = format!("$ORIGIN/../lib:$ORIGIN/../../{}/lib", store.greet);
    assert_eq!(search_paths(&hello), (vec![], vec![want]));

    check_moves(store);
}

#[test]
fn a_deep_file_without_room_is_left_unchanged() {
    let store = Fixture::build(true);
    let prefix = store.store.join(&store.hello);
    let module = prefix.join("lib/plugins/x/y/mod.so");
    let greet_lib = store.store.join(&store.greet).join("lib");
    // Linked with only the canonical path of its dependency: `$ORIGIN/../../../../../`
    // is longer than `/opt/paks/store/`, and there is no own-prefix entry to take from.
    gcc(
        GREET_C,
        &module,
        &[
            "-shared",
            "-fPIC",
            &format!("-L{}", s(&greet_lib)),
            "-lgreet",
            &format!("-Wl,-rpath,{CANONICAL_STORE}/{}/lib", store.greet),
        ],
    );
    let before = fs_err::read(&module).unwrap();

    let report = store.fix(&store.hello);
    assert_eq!(report.rewritten, ["bin/hello"]);
    let [(name, reason)] = &report.unchanged[..] else {
        panic!("one unchanged file expected: {report:?}");
    };
    assert_eq!(name, "lib/plugins/x/y/mod.so");
    assert!(reason.contains("does not fit"), "{reason}");
    assert!(
        reason.contains(&format!("$ORIGIN/../../../../../{}/lib", store.greet)),
        "{reason}"
    );
    assert_eq!(fs_err::read(&module).unwrap(), before);
}

#[test]
fn the_local_store_path_may_be_given_as_the_own_path() {
    let store = Fixture::build(true);
    let dirs = [s(&store.store)];
    let report = fix_runpaths(
        &store.store.join(&store.hello),
        s(&store.store.join(&store.hello)),
        &dirs,
    )
    .unwrap();
    assert_eq!(report.rewritten, ["bin/hello"]);
    check_moves(store);
}

#[test]
fn files_that_are_not_dynamic_elf_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("p");
    common::write(&prefix.join("bin/script"), "#!/bin/sh\n", 0o755);
    common::write(&prefix.join("lib/short"), "\x7fEL", 0o644);
    gcc(
        "int f(void) { return 1; }",
        &prefix.join("lib/f.o"),
        &["-c"],
    );
    std::os::unix::fs::symlink("/nonexistent", prefix.join("lib/dangling")).unwrap();
    let report = fix_runpaths(&prefix, "/opt/paks/store/x", &[CANONICAL_STORE]).unwrap();
    assert_eq!(report, RunpathReport::default());
}

#[test]
fn bad_arguments_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fix_runpaths(tmp.path(), "/elsewhere/x", &[CANONICAL_STORE]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the package's store path `/elsewhere/x` is not an entry of any store directory"
    );
    let err = fix_runpaths(tmp.path(), "/opt/paks/store/x", &["relative"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid store directory `relative`: it must be an absolute path"
    );
    let err = fix_runpaths(
        &tmp.path().join("missing"),
        "/opt/paks/store/x",
        &[CANONICAL_STORE],
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("failed to walk `"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn hard_links_in_different_directories_are_left_unchanged() {
    let store = Fixture::build(true);
    let prefix = store.store.join(&store.hello);
    let hello = prefix.join("bin/hello");
    let deeper = prefix.join("libexec/hello-core/hello");
    let beside = prefix.join("bin/hello-again");
    fs_err::create_dir_all(deeper.parent().unwrap()).unwrap();
    fs_err::hard_link(&hello, &deeper).unwrap();
    let before = fs_err::read(&hello).unwrap();

    let report = store.fix(&store.hello);
    assert!(report.rewritten.is_empty(), "{report:?}");
    let names: Vec<&str> = report.unchanged.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["bin/hello", "libexec/hello-core/hello"]);
    assert!(
        report.unchanged[0].1.contains("`libexec/hello-core/hello`"),
        "{report:?}"
    );
    assert!(report.unchanged[1].1.contains("`bin/hello`"), "{report:?}");
    assert_eq!(fs_err::read(&hello).unwrap(), before);

    // Links in one directory share one `$ORIGIN`: the inode is rewritten once.
    fs_err::remove_file(&deeper).unwrap();
    fs_err::hard_link(&hello, &beside).unwrap();
    let report = store.fix(&store.hello);
    assert_eq!(report.rewritten, ["bin/hello"]);
    assert!(report.unchanged.is_empty());
    assert_eq!(search_paths(&beside), search_paths(&hello));
    check_moves(store);
}

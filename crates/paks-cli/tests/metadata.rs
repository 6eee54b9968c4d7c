//! Package metadata that arrives is checked and never executed: a real `.pak` re-packed
//! with one hostile field is refused by name, values with shell syntax in them stay text
//! through `eval "$(paks env X)"`, and control characters never reach the terminal raw.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Env, forge, text};

/// hello-script built once, and a scratch directory for forged copies.
struct Forge {
    _builder: Env,
    good: PathBuf,
    dir: tempfile::TempDir,
}

impl Forge {
    fn new() -> Self {
        let builder = Env::new();
        let good = builder.build("hello-script");
        Self {
            _builder: builder,
            good,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn forge(&self, name: &str, patch: &serde_json::Value) -> PathBuf {
        let evil = self.dir.path().join(format!("{name}.pak"));
        forge(&self.good, &evil, &serde_json::json!({ "paks": patch }));
        evil
    }
}

fn env_patch(name: &str, value: &str, action: &str) -> serde_json::Value {
    serde_json::json!({"env": [{"name": name, "value": value, "action": action}]})
}

#[test]
fn hostile_env_names_and_values_are_refused_naming_the_field() {
    let forge = Forge::new();
    let marker = forge.dir.path().join("pwned");
    let m = marker.display();
    let cases = [
        // Names: each would run `touch` once written into `export NAME=...`.
        (
            env_patch(&format!("X;touch {m};Y"), "v", "set"),
            "paks.env[0].name",
        ),
        (
            env_patch(&format!("X$(touch {m})"), "v", "set"),
            "paks.env[0].name",
        ),
        (
            env_patch(&format!("X=1\ntouch {m}\nY"), "v", "set"),
            "paks.env[0].name",
        ),
        (env_patch("X\0Y", "v", "set"), "paks.env[0].name"),
        (env_patch("X'Y", "v", "set"), "paks.env[0].name"),
        (
            env_patch("LD_PRELOAD", "{prefix}/lib/x.so", "prepend"),
            "paks.env[0].name",
        ),
        // Values: quoting cannot carry these, so they are refused too.
        (
            env_patch("X", &format!("a\ntouch {m}"), "set"),
            "paks.env[0].value",
        ),
        (env_patch("X", "a\0b", "set"), "paks.env[0].value"),
        (env_patch("PATH", "/evil", "set"), "paks.env[0].value"),
        (
            env_patch("PATH", "/evil::/x", "prepend"),
            "paks.env[0].value",
        ),
        (
            serde_json::json!({"summary": "hi\u{1b}]0;owned\u{7}"}),
            "paks.summary",
        ),
        (
            serde_json::json!({"contents": ["../../etc/passwd"]}),
            "paks.contents[0]",
        ),
        (
            serde_json::json!({"relocation": {"text": ["/etc/passwd"], "binary": []}}),
            "paks.relocation.text[0]",
        ),
    ];
    for (i, (patch, field)) in cases.iter().enumerate() {
        let evil = forge.forge(&format!("evil{i}"), patch);
        let env = Env::new();
        let err = env.fails(&["install", evil.to_str().unwrap()], 1);
        assert!(err.contains("is refused"), "{patch}: {err}");
        assert!(err.contains(&format!("`{field}`")), "{patch}: {err}");
        assert!(!err.contains('\u{1b}') && !err.contains('\0'), "{err:?}");
        assert!(
            env.store_entries().iter().all(|e| e.starts_with('.')),
            "{patch}"
        );
        assert_eq!(env.ok(&["list"]), "", "{patch}");
        // `paks info` on the archive refuses it the same way, before printing anything.
        let out = env.run(&["info", evil.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{patch}");
        assert!(out.stdout.is_empty(), "{patch}: {}", text(&out.stdout));
    }
    assert!(!marker.exists(), "a hostile field ran a command");
}

#[test]
fn values_with_quotes_and_dollars_stay_text_through_eval() {
    let forge = Forge::new();
    let marker = forge.dir.path().join("pwned");
    let value = format!(
        r#"it's "quoted" $HOME ${{HOME}} $(touch {m}) `touch {m}` \ ;|&<>*"#,
        m = marker.display()
    );
    let list = format!("{{prefix}}/a b:$(touch {m}):'x'", m = marker.display());
    let pak = forge.forge(
        "quoted",
        &serde_json::json!({"env": [
            {"name": "HELLO_TEXT", "value": value, "action": "set"},
            {"name": "HELLO_LIST", "value": list, "action": "prepend"},
        ]}),
    );
    let env = Env::new();
    env.ok(&["install", pak.to_str().unwrap()]);
    let script = format!(
        "eval \"$('{}' env hello-script)\" && printf '%s\\n%s' \"$HELLO_TEXT\" \"$HELLO_LIST\"",
        common::paks_bin()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PAKS_ROOT", &env.root)
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/home/x")
        .env("HELLO_LIST", "/old")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let prefix = env.ok(&["info", "hello-script", "--json"]);
    let prefix: serde_json::Value = serde_json::from_str(&prefix).unwrap();
    let prefix = prefix["prefix"].as_str().unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("{value}\n{}:/old", list.replace("{prefix}", prefix))
    );
    assert!(!marker.exists(), "a value ran a command");
}

#[test]
fn control_characters_in_a_record_print_escaped() {
    // A record written before metadata was checked (or edited on disk) holds a summary and
    // an export with terminal escapes: `paks info` and `paks list` show them escaped.
    let forge = Forge::new();
    let env = Env::new();
    env.ok(&["install", forge.good.to_str().unwrap()]);
    let installed = env.root.join("state/installed");
    let records: Vec<PathBuf> = std::fs::read_dir(&installed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap();
    let meta = record
        .pointer_mut("/meta")
        .expect("a record holds the metadata");
    meta["summary"] = "clear\u{1b}[2J\u{1b}]0;owned\u{7}".into();
    meta["env"] = serde_json::json!([{"name": "X", "value": "a\nb\u{9b}", "action": "set"}]);
    std::fs::write(&records[0], record.to_string()).unwrap();
    let info = env.ok(&["info", "hello-script"]);
    assert!(
        info.contains(r"clear\u{1b}[2J\u{1b}]0;owned\u{7}"),
        "{info}"
    );
    assert!(info.contains(r"a\nb\u{9b}"), "{info}");
    let list = env.ok(&["list"]);
    for out in [&info, &list] {
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    }
}

//! Compile-time behaviour of the attributes: every mistake in `ui/fail/<theme>/` is a
//! compile error at the user's span with a help line (the reviewed `.stderr` beside
//! it). Every form in `ui/pass/` compiles under `#![deny(warnings)]` and runs: each is
//! a test target of its own (`ui_pass_*` in Cargo.toml), so trybuild only checks the
//! failures (a `cargo check`, no code generation: half this test's time in CI).

use std::path::{Path, PathBuf};

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*/*.rs");
}

/// The pass suite is built and run by cargo, not trybuild: a case added to `ui/pass/`
/// without its `[[test]]` target would never compile.
#[test]
fn every_pass_case_is_a_test_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut cases = 0;
    for entry in std::fs::read_dir(root.join("ui/pass")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        let target = format!("path = \"ui/pass/{name}\"\nharness = false");
        assert!(
            manifest.contains(&target),
            "ui/pass/{name} has no [[test]] target with `harness = false` in tests/Cargo.toml"
        );
        cases += 1;
    }
    assert!(cases >= 4, "expected the pass suite, found {cases} cases");
}

fn stderr_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            stderr_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "stderr") {
            out.push(path);
        }
    }
}

#[test]
fn every_stderr_points_into_its_own_case_and_says_how_to_fix_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    stderr_files(&root.join("ui/fail"), &mut files);
    assert!(
        files.len() >= 20,
        "expected at least 20 compile-fail cases, found {}",
        files.len()
    );
    for file in files {
        let stderr = std::fs::read_to_string(&file).unwrap();
        let case = file.with_extension("rs");
        let relative = case
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        // A call's trait bound is declared in wsframe (`App::websocket`'s `H:
        // WsHandler<Args>`): rustc's "required by a bound in" note shows it there, after
        // the error itself pointed into the case. Every other location is the user's.
        let mut arrows = Vec::new();
        let mut previous = "";
        for line in stderr.lines() {
            let bound_note = previous.starts_with("note: required by a bound in ")
                && line.contains("$WORKSPACE/wsframe/src/");
            if line.trim_start().starts_with("--> ") && !bound_note {
                arrows.push(line);
            }
            previous = line;
        }
        assert!(!arrows.is_empty(), "{relative}: no location in its .stderr");
        assert!(
            arrows.iter().all(|l| l.contains(&relative)),
            "{relative}: an error points outside the case:\n{stderr}"
        );
        assert!(
            stderr.contains("help:"),
            "{relative}: no help line in its .stderr:\n{stderr}"
        );
        assert!(case.exists(), "{relative}: .stderr without its case");
    }
}

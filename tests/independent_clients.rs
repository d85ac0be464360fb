//! Independent clients against `examples/echo` (the same app, served here on a free
//! loopback port): a Python `websockets` script and Autobahn's fuzzing client (all
//! 517 cases). The virtualenvs come from `.ci/setup-python`; under CI a missing one is
//! a failure, elsewhere the test says what to run and passes.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use wsframe_tests::*;

#[path = "../examples/echo.rs"]
mod echo;

/// `program` inside the virtualenv at `$env_var` (default: `default_venv` under the
/// workspace); `None` (after saying why) when it is missing outside CI.
fn program(env_var: &str, default_venv: &str, program: &str, what: &str) -> Option<PathBuf> {
    let venv = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(default_venv));
    let path = venv.join("bin").join(program);
    if path.exists() {
        return Some(path);
    }
    skip_missing(
        &format!("{what} not found at {}", path.display()),
        ".ci/setup-python",
    );
    None
}

async fn run(mut command: tokio::process::Command, limit: Duration) -> (bool, String) {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().expect("start the client");
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .expect("the client ran past its time limit")
        .expect("client output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The `N passed, M failed` line a client prints last.
fn counts(output: &str) -> (u32, u32) {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains(" passed, ") && l.contains(" failed"))
        .unwrap_or_else(|| panic!("no summary line in:\n{output}"));
    let numbers: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// The `counts: cases=N ok=N ...` line of tests/autobahn/run.py.
fn case_counts(output: &str) -> std::collections::HashMap<String, u32> {
    let line = output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("counts: "))
        .unwrap_or_else(|| panic!("no counts line in:\n{output}"));
    line.split_whitespace()
        .filter_map(|pair| {
            let (name, n) = pair.split_once('=')?;
            Some((name.to_owned(), n.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_client_against_the_echo_example() {
    let Some(python) = program(
        "WSFRAME_PY_VENV",
        ".venv-py3",
        "python",
        "Python venv with websockets",
    ) else {
        return;
    };
    let server = TestServer::start(echo::app()).await;
    let mut command = tokio::process::Command::new(python);
    command
        .arg(workspace().join("tests/python/echo_client.py"))
        .arg(server.addr.to_string());
    let (ok, output) = run(command, Duration::from_secs(120)).await;
    println!("{output}");
    let (passed, failed) = counts(&output);
    assert!(
        ok && failed == 0 && passed >= 8,
        "python client: {passed} passed, {failed} failed\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_fuzzing_client_all_cases() {
    let Some(wstest) = program(
        "WSFRAME_AUTOBAHN_VENV",
        ".venv-autobahn",
        "wstest",
        "Autobahn wstest",
    ) else {
        return;
    };
    let server = TestServer::start(echo::app()).await;
    let outdir = std::env::temp_dir().join(format!("wsframe-autobahn-{}", std::process::id()));
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(workspace().join("tests/autobahn/run.py"))
        .arg("--port")
        .arg(server.addr.port().to_string())
        .arg("--outdir")
        .arg(&outdir)
        .arg("--wstest")
        .arg(wstest)
        // Only OK and INFORMATIONAL, in `behavior` and `behaviorClose`, for every case,
        // the compression ones (12.*, 13.*) included.
        .arg("--strict")
        // Three wstest processes on disjoint thirds of the suite: the compression cases
        // send 1000 messages each, and a wstest waits on the server about half the time.
        // On the 2-core machine: 11 min 10 s, against 12 min 30 s with two.
        .arg("--jobs")
        .arg("3")
        .arg("--timeout")
        .arg("1200");
    let (ok, output) = run(command, Duration::from_secs(1300)).await;
    println!("{output}");
    let (passed, failed) = counts(&output);
    let counted = case_counts(&output);
    let count = |name: &str| counted.get(name).copied().unwrap_or(u32::MAX);
    assert!(
        ok && failed == 0 && passed == 517,
        "Autobahn: {passed} passed, {failed} failed\n{output}"
    );
    assert_eq!(count("cases"), 517, "the whole suite, no filters\n{output}");
    assert_eq!(count("non_strict"), 0, "{output}");
    assert_eq!(count("failed"), 0, "{output}");
    assert_eq!(count("unimplemented"), 0, "{output}");
    assert_eq!(
        count("ok") + count("informational"),
        517,
        "every case OK or INFORMATIONAL\n{output}"
    );
    let _ = std::fs::remove_dir_all(outdir);
}

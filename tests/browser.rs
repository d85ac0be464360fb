//! Node clients of the examples. The chat example in a real browser: Debian's Chromium
//! driven by Playwright (`tests/browser/chat.mjs`): two pages join with
//! permessage-deflate, one sends, the other shows `Client #1: hello`; closing one shows
//! `Client #1 left` on the other. And Node's `ws` library with permessage-deflate
//! against the echo example. Under CI a missing browser or package is a failure;
//! elsewhere the test says what to install and passes.

#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use wsframe_tests::*;

#[path = "../examples/chat.rs"]
mod chat;

#[path = "../examples/echo.rs"]
mod echo;

/// Node's `ws` library with `perMessageDeflate` (`tests/browser/ws_deflate.mjs`) against
/// the echo example: the extension is negotiated and messages echo both ways.
#[tokio::test]
async fn node_ws_with_permessage_deflate() {
    let script_dir = workspace().join("tests/browser");
    if !script_dir.join("node_modules/ws").exists()
        && skip_missing("ws is not installed in tests/browser", ".ci/setup-browser")
    {
        return;
    }
    let server = TestServer::start(echo::app()).await;
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script_dir.join("ws_deflate.mjs"))
        .arg(format!("ws://{}/ws", server.addr))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the ws client ran past a minute")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "ws client failed:
{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l == "3 passed, 0 failed"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists()
        && skip_missing(&format!("no Chromium at {chromium}"), ".ci/setup-browser")
    {
        return;
    }
    let script_dir = workspace().join("tests/browser");
    if !script_dir.join("node_modules/playwright-core").exists()
        && skip_missing(
            "playwright-core is not installed in tests/browser",
            ".ci/setup-browser",
        )
    {
        return;
    }
    let server = TestServer::start(chat::app()).await;
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script_dir.join("chat.mjs"))
        .arg(format!("http://{}", server.addr))
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the browser test ran past two minutes")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "browser test failed:\n{stdout}");
    assert!(
        stdout.lines().any(|l| l == "5 passed, 0 failed"),
        "{stdout}"
    );
}

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

#[path = "../examples/auth.rs"]
mod auth;

/// Run `node tests/browser/<script> <args>` (with `CHROMIUM` set) within `limit`, and
/// check that it passed all of its `checks`: its last line is "N passed, 0 failed".
async fn node(script: &str, args: &[String], chromium: &str, limit: Duration, checks: u32) {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(workspace().join("tests/browser").join(script))
        .args(args)
        .env("CHROMIUM", chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} ran past {limit:?}"))
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{script} failed:\n{stdout}");
    let all = format!("{checks} passed, 0 failed");
    assert!(stdout.lines().any(|l| l == all), "{stdout}");
}

fn installed(package: &str) -> bool {
    workspace()
        .join("tests/browser/node_modules")
        .join(package)
        .exists()
        || !skip_missing(
            &format!("{package} is not installed in tests/browser"),
            ".ci/setup-browser",
        )
}

/// Chromium's path (`CHROMIUM`, else Debian's), when it and playwright-core are
/// installed; `None` (outside CI only) when one is missing.
fn chromium_and_playwright() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists()
        && skip_missing(&format!("no Chromium at {chromium}"), ".ci/setup-browser")
    {
        return None;
    }
    installed("playwright-core").then_some(chromium)
}

/// Node's `ws` library with `perMessageDeflate` (`tests/browser/ws_deflate.mjs`) against
/// the echo example: the extension is negotiated and messages echo both ways.
#[tokio::test]
async fn node_ws_with_permessage_deflate() {
    if !installed("ws") {
        return;
    }
    let server = TestServer::start(echo::app()).await;
    let url = format!("ws://{}/ws", server.addr);
    node("ws_deflate.mjs", &[url], "", Duration::from_secs(60), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_in_chromium() {
    let Some(chromium) = chromium_and_playwright() else {
        return;
    };
    let server = TestServer::start(chat::app()).await;
    let url = format!("http://{}", server.addr);
    node("chat.mjs", &[url], &chromium, Duration::from_secs(120), 5).await;
}

/// The docs page in Chromium (`tests/browser/docs.mjs`): on the chat example it fills
/// in `client_id`, connects (permessage-deflate shown), sends, and sees the broadcast
/// come back; on the auth example, without credentials, it shows "handshake refused
/// (1006)".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_in_chromium() {
    let Some(chromium) = chromium_and_playwright() else {
        return;
    };
    let chat = TestServer::start(chat::app()).await;
    let auth = TestServer::start(auth::app()).await;
    let urls = [
        format!("http://{}", chat.addr),
        format!("http://{}", auth.addr),
    ];
    node("docs.mjs", &urls, &chromium, Duration::from_secs(120), 5).await;
}

//! The guide (book/) stays true: every chapter's Rust snippets are compiled (each chapter
//! is in the doctest module `book` of tests/support/lib.rs), every relative link and
//! anchor resolves, and the benchmarks chapter quotes the sitting docs/benchmarks.md
//! reports, with the same chart.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use wsframe_tests::workspace;

fn book_src() -> PathBuf {
    workspace().join("book/src")
}

/// The chapter files SUMMARY.md lists.
fn chapters() -> Vec<String> {
    let summary = fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    summary
        .lines()
        .filter_map(|line| line.split_once("](").map(|(_, rest)| rest))
        .map(|rest| rest.trim_end_matches(')').to_string())
        .collect()
}

/// Markdown outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// mdBook's anchor for a heading: lower case, punctuation dropped, spaces as dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(path: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(path).unwrap();
    prose(&text)
        .into_iter()
        .filter(|line| line.starts_with('#'))
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

/// `(target)` of every `[text](target)` in the prose, inline code removed first.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        let line: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_chapter_is_compiled_as_a_doctest() {
    let lib = fs::read_to_string(workspace().join("tests/support/lib.rs")).unwrap();
    let chapters = chapters();
    assert!(chapters.len() >= 13, "{chapters:?}");
    for chapter in chapters {
        let include = format!("include_str!(\"../../book/src/{chapter}\")");
        assert!(
            lib.contains(&include),
            "book/src/{chapter} is not in the doctest module `book` of tests/support/lib.rs: \
             its snippets would not be compiled"
        );
    }
}

#[test]
fn relative_links_and_anchors_resolve() {
    let mut broken = Vec::new();
    for chapter in chapters() {
        let text = fs::read_to_string(book_src().join(&chapter)).unwrap();
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                book_src().join(&chapter)
            } else {
                book_src().join(file)
            };
            if !target.exists() {
                broken.push(format!("{chapter}: {link} (no such file in book/src)"));
            } else if !fragment.is_empty()
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&target).contains(fragment)
            {
                broken.push(format!("{chapter}: {link} (no such heading)"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links in the guide:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_benchmarks_chapter_quotes_the_latest_sitting() {
    let report = fs::read_to_string(workspace().join("docs/benchmarks.md")).unwrap();
    let chapter = fs::read_to_string(book_src().join("benchmarks.md")).unwrap();
    let field = |name: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("- {name}: ")))
            .unwrap_or_else(|| panic!("docs/benchmarks.md has no `{name}` line"))
            .to_string()
    };
    let date = field("date");
    let day = date.split_whitespace().next().unwrap();
    let commit = field("commit");
    let commit = commit.split('`').nth(1).unwrap();
    assert!(
        chapter.contains(day) && chapter.contains(commit),
        "docs/benchmarks.md is from a newer sitting ({day}, {commit}): update the tables of \
         book/src/benchmarks.md"
    );
    let svg = |p: &str| fs::read(workspace().join(p)).unwrap();
    assert!(
        svg("docs/benchmarks.svg") == svg("book/src/benchmarks.svg"),
        "book/src/benchmarks.svg differs from docs/benchmarks.svg (bench/run copies it)"
    );
}

/// The compile-errors chapter walks through every trybuild case: each is named there
/// (`theme/case.rs`) with the first line of its reviewed `.stderr`, and the chapter's
/// count is the number of cases.
#[test]
fn the_compile_errors_chapter_shows_every_ui_case() {
    let chapter = fs::read_to_string(book_src().join("compile-errors.md")).unwrap();
    let fail = workspace().join("tests/ui/fail");
    let mut cases = Vec::new();
    for theme in fs::read_dir(&fail).unwrap() {
        let theme = theme.unwrap().path();
        for case in fs::read_dir(&theme).unwrap() {
            let case = case.unwrap().path();
            if case.extension().is_some_and(|e| e == "rs") {
                cases.push(case);
            }
        }
    }
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut missing = Vec::new();
    for case in &cases {
        let name = case
            .strip_prefix(&fail)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let stderr = fs::read_to_string(case.with_extension("stderr")).unwrap();
        let first = stderr.lines().next().unwrap_or_default();
        if !chapter.contains(&format!("`{name}`")) {
            missing.push(format!("{name}: not named"));
        } else if !chapter.contains(first) {
            missing.push(format!("{name}: its message `{first}` is not shown"));
        }
    }
    assert!(
        missing.is_empty(),
        "book/src/compile-errors.md is behind tests/ui/fail:\n{}",
        missing.join("\n")
    );
    let count = format!("walks through all {},", cases.len());
    assert!(
        chapter.contains(&count),
        "book/src/compile-errors.md should say it {count}"
    );
}

#[test]
fn anchors_follow_mdbook() {
    assert_eq!(
        anchor(" The client's address behind proxies"),
        "the-clients-address-behind-proxies"
    );
    assert_eq!(anchor("`Config` and `Limits`"), "config-and-limits");
    let links = links("see [a](a.md#x) and `[b](b.md)`, [c](https://c)");
    assert_eq!(links, ["a.md#x", "https://c"]);
}

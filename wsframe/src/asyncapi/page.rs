//! The docs page: hand-written HTML, CSS and JavaScript (`page/`), served from the
//! binary with the app's AsyncAPI document inlined. It lists every WebSocket route with
//! its parameters, credentials, subprotocols and message schemas, and has a live
//! console per route. No CDN, no bundle: the page needs nothing but the app.

use serde_json::Value;

const HTML: &str = include_str!("page/page.html");
const CSS: &str = include_str!("page/page.css");
const JS: &str = include_str!("page/page.js");

/// The page for `document`.
pub(crate) fn page(document: &Value) -> String {
    let title = document["info"]["title"]
        .as_str()
        .unwrap_or("WebSocket API");
    // Inside a <script> element: no `<` at all (`</script>`, `<!--`), which JSON
    // allows to escape.
    let json = document.to_string().replace('<', "\\u003c");
    fill(
        HTML,
        &[
            ("TITLE", &escape_html(title)),
            ("CSS", CSS),
            ("JS", JS),
            ("DOCUMENT", &json),
        ],
    )
}

/// `template` with each `{{KEY}}` replaced by its value, in one pass (a value is never
/// searched for placeholders).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find("}}").and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (close, *v))
        }) {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_document_cannot_close_its_script_element() {
        let doc = json!({ "info": { "title": "<b>T</b> {{JS}}" }, "x": "</script><!--" });
        let page = page(&doc);
        assert!(page.contains("<title>&lt;b&gt;T&lt;/b&gt; {{JS}} — WebSocket routes</title>"));
        assert_eq!(
            page.matches("</script>").count(),
            2,
            "only the page's own two"
        );
        assert!(!page.contains("<!--"));
        let start = page.find(r#"type="application/json">"#).unwrap() + 24;
        let end = start + page[start..].find("</script>").unwrap();
        let parsed: Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(parsed, doc);
    }
}

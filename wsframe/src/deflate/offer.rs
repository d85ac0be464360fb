//! Negotiating permessage-deflate (RFC 7692, section 7) from a client's
//! `Sec-WebSocket-Extensions` header.
//!
//! The header lists offers separated by commas (several header lines make one list);
//! each offer is an extension name and `;`-separated parameters, whose values may be
//! tokens or quoted strings (RFC 6455, section 9.1). The first permessage-deflate offer
//! the server can accept is accepted; an offer it cannot accept (an unknown, repeated or
//! out-of-range parameter) is declined and the next one tried. With none left, the
//! connection goes on without the extension: a bad or absurd offer never fails the
//! handshake.

use super::{Compression, CompressionMode, Negotiated};

/// The extension's registered name.
pub(crate) const NAME: &str = "permessage-deflate";

/// One extension offer: its name and its parameters, values unquoted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Offer {
    pub(crate) name: String,
    pub(crate) params: Vec<(String, Option<String>)>,
}

/// The offers in `values` (the header's lines, in order). Text that does not follow
/// the grammar ends the list there: what was parsed before it stands, the rest is
/// ignored (a malformed header costs the extension, never the handshake).
pub(crate) fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Vec<Offer> {
    let mut offers = Vec::new();
    for value in values {
        let Ok(text) = std::str::from_utf8(value) else {
            break;
        };
        let mut lexer = Lexer { rest: text };
        if !lexer.offers(&mut offers) {
            break;
        }
    }
    offers
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| !is_token_char(c))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(token)
    }

    fn quoted(&mut self) -> Option<String> {
        self.skip_space();
        let mut chars = self.rest.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[1 + at + 1..];
                    return Some(value);
                }
                '\\' => value.push(chars.next()?.1),
                c => value.push(c),
            }
        }
        None
    }

    /// The offers of one header line, appended to `offers`; `false` if the line broke
    /// the grammar (what came before stays).
    fn offers(&mut self, offers: &mut Vec<Offer>) -> bool {
        loop {
            // Empty list elements (`a, , b`) are allowed by the list rule.
            while self.eat(',') {}
            self.skip_space();
            if self.rest.is_empty() {
                return true;
            }
            let Some(name) = self.token() else {
                return false;
            };
            let mut offer = Offer {
                name: name.to_ascii_lowercase(),
                params: Vec::new(),
            };
            while self.eat(';') {
                let Some(key) = self.token() else {
                    return false;
                };
                let value = if self.eat('=') {
                    self.skip_space();
                    let value = if self.rest.starts_with('"') {
                        self.quoted()
                    } else {
                        self.token().map(str::to_owned)
                    };
                    match value {
                        Some(value) => Some(value),
                        None => return false,
                    }
                } else {
                    None
                };
                offer.params.push((key.to_ascii_lowercase(), value));
            }
            offers.push(offer);
            self.skip_space();
            if !self.rest.is_empty() && !self.rest.starts_with(',') {
                return false;
            }
        }
    }
}

/// RFC 7230's `tchar`.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// What a client's offer asks for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Asked {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// Offered, perhaps with a value (the client then never uses a larger window).
    client_max_window_bits: Option<Option<u8>>,
}

/// A window size parameter's value: `8` to `15`, digits only, no leading zero (RFC
/// 7692, 7.1.2.1).
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty()
        || value.len() > 2
        || value.starts_with('0')
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// An offer's parameters, or `None` if the offer must be declined.
fn asked(offer: &Offer) -> Option<Asked> {
    let mut asked = Asked::default();
    let mut seen = Vec::with_capacity(offer.params.len());
    for (key, value) in &offer.params {
        if seen.contains(&key.as_str()) {
            return None;
        }
        seen.push(key.as_str());
        match (key.as_str(), value.as_deref()) {
            ("server_no_context_takeover", None) => asked.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => asked.client_no_context_takeover = true,
            ("server_max_window_bits", Some(value)) => {
                asked.server_max_window_bits = Some(window_bits(value)?)
            }
            ("client_max_window_bits", None) => asked.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(value)) => {
                asked.client_max_window_bits = Some(Some(window_bits(value)?))
            }
            _ => return None,
        }
    }
    Some(asked)
}

/// Accept the first permessage-deflate offer that `settings` allow: the parameters in
/// force, and the response header's value. `None` leaves the extension off.
pub(crate) fn negotiate(offers: &[Offer], settings: &Compression) -> Option<(Negotiated, String)> {
    if !settings.enabled {
        return None;
    }
    offers
        .iter()
        .filter(|offer| offer.name == NAME)
        .find_map(|offer| accept(&asked(offer)?, settings))
}

/// The server's answer as a client reads it (the `TestClient`, which offers
/// [`CLIENT_OFFER`]): the parameters in force, or `None` when the answer is not one
/// permessage-deflate agreement a client could accept.
pub(crate) fn agreed(answer: &[u8]) -> Option<Negotiated> {
    let [offer] = &parse([answer])[..] else {
        return None;
    };
    if offer.name != NAME {
        return None;
    }
    let asked = asked(offer)?;
    let client_window = match asked.client_max_window_bits {
        // Sent without a value: not an answer.
        Some(None) => return None,
        Some(Some(bits)) => bits,
        None => 15,
    };
    Some(Negotiated {
        server_no_context_takeover: asked.server_no_context_takeover,
        client_no_context_takeover: asked.client_no_context_takeover,
        server_window: asked.server_max_window_bits.unwrap_or(15).max(9),
        client_window: client_window.max(9),
        threshold: 0,
        level: Compression::default().level,
    })
}

/// What a browser offers, and what the `TestClient` offers when asked to.
pub(crate) const CLIENT_OFFER: &str = "permessage-deflate; client_max_window_bits";

fn accept(asked: &Asked, settings: &Compression) -> Option<(Negotiated, String)> {
    let mut response = String::from(NAME);
    // Our side. In shared mode every message is compressed on its own, so that a
    // broadcast's compressed bytes suit every recipient.
    let server_no_context_takeover =
        asked.server_no_context_takeover || settings.mode == CompressionMode::Shared;
    // (Dedicated: the server keeps its context unless the client asked otherwise.)
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    let server_window = match asked.server_max_window_bits {
        Some(bits) => bits.min(settings.server_max_window_bits),
        None => settings.server_max_window_bits,
    };
    if asked.server_max_window_bits.is_some() || server_window < 15 {
        response.push_str(&format!("; server_max_window_bits={server_window}"));
    }
    // The client's side: its context and window are what the server holds between
    // messages.
    // A client that did not offer client_max_window_bits cannot be told a window: its
    // context could make the server hold 32 KiB, so it is asked to drop it instead.
    let client_no_context_takeover = asked.client_no_context_takeover
        || settings.client_no_context_takeover
        || (asked.client_max_window_bits.is_none() && settings.client_max_window_bits < 15);
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    let client_window = match asked.client_max_window_bits {
        // Never sent unless offered.
        None => 15,
        Some(offered) => {
            let bits = offered.unwrap_or(15).min(settings.client_max_window_bits);
            if bits < 15 || offered.is_some() {
                response.push_str(&format!("; client_max_window_bits={bits}"));
            }
            bits
        }
    };
    let negotiated = Negotiated {
        server_no_context_takeover,
        client_no_context_takeover,
        // zlib refuses 8-bit windows; a 9-bit compressor never reaches back further than
        // an 8-bit window allows (RFC 7692, section 7.1.2.1; zlib's deflateInit2), and a
        // 9-bit inflater reads what an 8-bit compressor wrote.
        server_window: server_window.max(9),
        client_window: client_window.max(9),
        threshold: settings.threshold,
        level: settings.level,
    };
    Some((negotiated, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(header: &str) -> Vec<Offer> {
        parse([header.as_bytes()])
    }

    fn answer(header: &str, settings: &Compression) -> Option<String> {
        negotiate(&offers(header), settings).map(|(_, response)| response)
    }

    #[test]
    fn offers_are_parsed_with_their_parameters_and_quoted_values() {
        let parsed = offers(
            r#"permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits="10" ; client_no_context_takeover,x-webkit-deflate-frame"#,
        );
        assert_eq!(
            parsed,
            vec![
                Offer {
                    name: NAME.into(),
                    params: vec![("client_max_window_bits".into(), None)],
                },
                Offer {
                    name: NAME.into(),
                    params: vec![
                        ("server_max_window_bits".into(), Some("10".into())),
                        ("client_no_context_takeover".into(), None),
                    ],
                },
                Offer {
                    name: "x-webkit-deflate-frame".into(),
                    params: vec![],
                },
            ]
        );
        // Several header lines make one list; a quoted comma is not a separator.
        let lines: [&[u8]; 2] = [b"foo; a=\"x,y\"", b"permessage-deflate"];
        let parsed = parse(lines);
        assert_eq!(parsed[0].params, vec![("a".into(), Some("x,y".into()))]);
        assert_eq!(parsed[1].name, NAME);
    }

    #[test]
    fn a_malformed_header_keeps_what_came_before_it() {
        let parsed = offers("permessage-deflate, ;;;=, permessage-deflate");
        assert_eq!(parsed.len(), 1);
        assert!(offers("\"unterminated").is_empty());
        assert!(parse([&[0xff, 0xfe][..]]).is_empty());
    }

    #[test]
    fn a_browsers_offer_gets_the_shared_defaults() {
        let settings = Compression::default();
        let (negotiated, response) = negotiate(
            &offers("permessage-deflate; client_max_window_bits"),
            &settings,
        )
        .unwrap();
        assert!(negotiated.server_no_context_takeover);
        assert!(response.starts_with("permessage-deflate; server_no_context_takeover"));
        assert_eq!(
            negotiate(
                &offers("permessage-deflate; client_max_window_bits"),
                &settings
            )
            .unwrap()
            .1,
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=11"
        );
        // client_max_window_bits is answered only when offered; a client that cannot
        // be told a window is asked to drop its context.
        let bare = answer("permessage-deflate", &settings).unwrap();
        assert_eq!(
            bare,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        let wide = Compression::default().client_max_window_bits(15);
        let bare = answer("permessage-deflate", &wide).unwrap();
        assert_eq!(bare, "permessage-deflate; server_no_context_takeover");
    }

    #[test]
    fn the_first_acceptable_offer_wins_and_bad_ones_are_declined() {
        let settings = Compression::default();
        for declined in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; client_max_window_bits=08",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown_param",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        ] {
            assert_eq!(answer(declined, &settings), None, "{declined}");
            // The next offer is tried.
            let both = format!("{declined}, permessage-deflate; server_max_window_bits=12");
            let response = answer(&both, &settings).unwrap();
            assert!(
                response.contains("server_max_window_bits=12"),
                "{both}: {response}"
            );
        }
        assert_eq!(answer("x-other", &settings), None);
        assert_eq!(answer("permessage-deflate", &Compression::disabled()), None);
    }

    #[test]
    fn windows_are_never_larger_than_offered_and_8_is_worked_as_9() {
        let settings = Compression::default();
        let (negotiated, response) = negotiate(
            &offers("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"),
            &settings,
        )
        .unwrap();
        assert!(response.contains("server_max_window_bits=8"), "{response}");
        assert!(response.contains("client_max_window_bits=8"), "{response}");
        assert_eq!((negotiated.server_window, negotiated.client_window), (9, 9));
        let small = Compression::default().client_max_window_bits(10);
        let (negotiated, response) = negotiate(
            &offers("permessage-deflate; client_max_window_bits"),
            &small,
        )
        .unwrap();
        assert!(response.contains("client_max_window_bits=10"), "{response}");
        assert_eq!(negotiated.client_window, 10);
    }

    #[test]
    fn a_client_reads_the_answer_back_as_the_server_agreed() {
        for settings in [
            Compression::default(),
            Compression::default()
                .client_max_window_bits(10)
                .server_max_window_bits(12)
                .client_no_context_takeover(true),
        ] {
            let (server, response) = negotiate(&offers(CLIENT_OFFER), &settings).unwrap();
            let client = agreed(response.as_bytes()).unwrap();
            assert_eq!(
                (
                    client.server_no_context_takeover,
                    client.client_no_context_takeover,
                    client.server_window,
                    client.client_window
                ),
                (
                    server.server_no_context_takeover,
                    server.client_no_context_takeover,
                    server.server_window,
                    server.client_window
                ),
                "{response}"
            );
        }
        assert_eq!(agreed(b"x-other"), None);
        assert_eq!(agreed(b"permessage-deflate, permessage-deflate"), None);
        assert_eq!(agreed(b"permessage-deflate; client_max_window_bits"), None);
    }

    #[test]
    fn dedicated_mode_keeps_the_servers_context_unless_the_client_asks() {
        let settings = Compression::default().mode(CompressionMode::Dedicated);
        let (negotiated, response) = negotiate(
            &offers("permessage-deflate; client_max_window_bits"),
            &settings,
        )
        .unwrap();
        assert_eq!(response, "permessage-deflate; client_max_window_bits=11");
        assert!(!negotiated.server_no_context_takeover);
        let response = answer(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            &settings,
        )
        .unwrap();
        assert_eq!(
            response,
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=11"
        );
    }

    #[test]
    fn the_clients_context_is_dropped_when_asked_or_configured() {
        let (negotiated, _) = negotiate(
            &offers("permessage-deflate; client_no_context_takeover"),
            &Compression::default(),
        )
        .unwrap();
        assert!(negotiated.client_no_context_takeover);
        let settings = Compression::default().client_no_context_takeover(true);
        let response = answer("permessage-deflate", &settings).unwrap();
        assert!(
            response.contains("client_no_context_takeover"),
            "{response}"
        );
    }
}

//! Property tests (issue 7) for the parsers that see untrusted input: route patterns,
//! the query string and cookies of a handshake, trusted-proxy networks, and the
//! backplane's wire form. Each property runs on generated input; none may panic.

use proptest::prelude::*;
use wsframe::backplane::{Envelope, Target};
use wsframe::{HandshakeRequest, Message, NodeId, ProxyNet};
use wsframe_route::{Segment, parse_route};

fn identifier() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,8}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn route_parsing_never_panics_and_accepts_only_identifiers(route in "\\PC{0,40}") {
        if let Ok(spec) = parse_route(&route) {
            let mut names: Vec<&str> = spec.path.params().collect();
            names.extend(spec.query.iter().map(String::as_str));
            for name in &names {
                prop_assert!(wsframe_route::is_identifier(name), "{name:?} from {route:?}");
            }
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            prop_assert_eq!(unique.len(), names.len(), "duplicate parameter in {:?}", route);
        }
    }

    #[test]
    fn well_formed_routes_parse_to_their_parameters(
        parts in prop::collection::vec((any::<bool>(), identifier()), 1..6),
        query in prop::collection::vec(identifier(), 0..3),
    ) {
        // Distinct names, as a valid route needs.
        let mut seen = std::collections::HashSet::new();
        let parts: Vec<_> = parts.into_iter().filter(|(_, n)| seen.insert(n.clone())).collect();
        let query: Vec<_> = query.into_iter().filter(|n| seen.insert(n.clone())).collect();
        let mut route = String::new();
        for (is_param, name) in &parts {
            route.push('/');
            if *is_param { route.push_str(&format!("<{name}>")) } else { route.push_str(name) }
        }
        if !query.is_empty() {
            route.push('?');
            route.push_str(&query.iter().map(|q| format!("<{q}>")).collect::<Vec<_>>().join("&"));
        }
        let spec = parse_route(&route).map_err(|e| TestCaseError::fail(format!("{route}: {e:?}")))?;
        let params: Vec<String> = parts.iter().filter(|(p, _)| *p).map(|(_, n)| n.clone()).collect();
        prop_assert_eq!(spec.path.params().map(str::to_string).collect::<Vec<_>>(), params);
        prop_assert_eq!(spec.query, query);
        prop_assert_eq!(spec.path.segments.len(), parts.len());
        prop_assert!(spec.path.segments.iter().all(|s| !matches!(s, Segment::Rest(_))));
    }

    #[test]
    fn query_and_cookie_parsing_never_panic(
        query in "\\PC{0,60}",
        // Any value a header can carry (visible ASCII and spaces).
        cookie in "[ -~]{0,60}",
        name in "\\PC{0,8}",
    ) {
        let req = HandshakeRequest::new(&format!("/ws?{query}"));
        let _ = req.query_param(&name);
        let req = HandshakeRequest::new("/ws").with_header("cookie", &cookie);
        let _ = req.cookie(&name);
        let _ = req.cookies();
    }

    #[test]
    fn a_query_parameter_round_trips_through_percent_encoding(value in "\\PC{0,30}") {
        let encoded: String = url_encode(&value);
        let req = HandshakeRequest::new(&format!("/ws?x={encoded}&y=1"));
        prop_assert_eq!(req.query_param("x"), Some(value));
    }

    #[test]
    fn proxy_networks_never_panic(s in "\\PC{0,45}") {
        let _ = s.parse::<ProxyNet>();
    }

    #[test]
    fn envelope_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Envelope::decode(&bytes);
    }

    #[test]
    fn envelopes_round_trip(
        origin in any::<u64>(),
        epoch in any::<u64>(),
        seq in any::<u64>(),
        name in "\\PC{0,20}",
        text in "\\PC{0,50}",
        binary in prop::collection::vec(any::<u8>(), 0..50),
        kind in 0u8..6,
        as_text in any::<bool>(),
    ) {
        let target = match kind {
            0 => Target::All { except: None },
            1 => Target::Room { name: name.clone(), except: None },
            2 => Target::Key(name.clone()),
            3 => Target::Presence {
                room: name.clone(),
                joined: as_text,
                id: wsframe::ConnectionId::next(NodeId(origin)),
                key: as_text.then(|| text.clone()),
            },
            4 => Target::Connection(wsframe::ConnectionId::next(NodeId(seq))),
            _ => Target::Room { name: String::new(), except: None },
        };
        let message = if as_text { Message::text(text) } else { Message::binary(binary) };
        let envelope = Envelope { origin: NodeId(origin), epoch, seq, target, message };
        prop_assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

//! Differential tests of wsframe's frame reader against tungstenite's (issue 14).
//!
//! `wsframe::fuzzing::differential` feeds one byte stream, cut into pieces, to our
//! reader and, whole, to tungstenite's server side with the same limits, and panics
//! unless they read the same messages, pings, pongs and close frame and stop the same
//! way (waiting, closed, or failed with the same close code), except where a named
//! [`Difference`] explains the disagreement and has been verified. The properties run
//! it on arbitrary bytes and on streams of well-formed client frames, now and then
//! corrupted; the plain tests pin each difference by design to one input (see
//! docs/fuzzing.md, which lists them). The libFuzzer target `fuzz/frame_reader` runs
//! the same function.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use wsframe::fuzzing::{Difference, Event, Outcome, differential};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with `first` as its first byte (FIN, RSV, opcode).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    encode(first, payload, Some(KEY), LenForm::Minimal, 0)
}

/// The same, not masked.
fn unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    encode(first, payload, None, LenForm::Minimal, 0)
}

#[derive(Clone, Copy, Debug)]
enum LenForm {
    Minimal,
    /// The 16-bit form even for a short payload (allowed: RFC 6455 asks senders, not
    /// receivers, for the minimal form, and neither reader checks it).
    U16,
    U64,
}

/// Encode a frame; `delta` is added to the declared length (a corrupted length).
fn encode(first: u8, payload: &[u8], key: Option<[u8; 4]>, form: LenForm, delta: i64) -> Vec<u8> {
    let declared = (payload.len() as i64 + delta).max(0) as u64;
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    let form = match form {
        LenForm::Minimal if declared > 0xFFFF => LenForm::U64,
        LenForm::Minimal if declared > 125 => LenForm::U16,
        LenForm::U16 if declared > 0xFFFF => LenForm::U64,
        form => form,
    };
    match form {
        LenForm::Minimal => out.push(mask_bit | declared as u8),
        LenForm::U16 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(declared as u16).to_be_bytes());
        }
        LenForm::U64 => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&declared.to_be_bytes());
        }
    }
    match key {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(0x88, &payload)
}

const BIG: usize = 1 << 16;

// ---- the structured strategy: streams of client frames, now and then corrupted ----

#[derive(Clone, Debug)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Item {
    /// A data message cut into fragments at `cuts`, with `between[i]` sent after
    /// fragment `i`.
    Message {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<Index>,
        between: Vec<Control>,
    },
    Control(Control),
}

#[derive(Clone, Debug)]
enum Corruption {
    None,
    /// XOR one byte of the stream.
    Byte(Index, u8),
    /// Set RSV bits on one frame.
    Rsv(Index, u8),
    /// Replace one frame's opcode.
    Opcode(Index, u8),
    /// Send one frame unmasked.
    Unmasked(Index),
    /// Declare one frame's length wrong by this much.
    Length(Index, i8),
    /// Clear one frame's FIN bit.
    NoFin(Index),
}

#[derive(Clone, Debug)]
struct Stream {
    items: Vec<Item>,
    /// Mask keys and length forms, cycled over the frames.
    styles: Vec<([u8; 4], u8)>,
    corruption: Corruption,
    /// Cut the stream short here (its end arrives later, or never).
    truncate: Option<Index>,
}

/// One frame before encoding.
struct Raw {
    first: u8,
    payload: Vec<u8>,
    masked: bool,
    delta: i64,
}

impl Stream {
    fn encode(&self) -> Vec<u8> {
        let mut raws = Vec::new();
        let control = |c: &Control| match c {
            Control::Ping(p) => (0x89, p.clone()),
            Control::Pong(p) => (0x8A, p.clone()),
            Control::Close(p) => (0x88, p.clone()),
        };
        for item in &self.items {
            match item {
                Item::Control(c) => {
                    let (first, payload) = control(c);
                    raws.push((first, payload));
                }
                Item::Message {
                    text,
                    payload,
                    cuts,
                    between,
                } => {
                    let mut points: Vec<usize> =
                        cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
                    points.sort_unstable();
                    let mut bounds = vec![0];
                    bounds.extend(points);
                    bounds.push(payload.len());
                    let fragments = bounds.len() - 1;
                    for f in 0..fragments {
                        let opcode = match (f, text) {
                            (0, true) => 0x1,
                            (0, false) => 0x2,
                            _ => 0x0,
                        };
                        let fin = if f + 1 == fragments { 0x80 } else { 0 };
                        raws.push((fin | opcode, payload[bounds[f]..bounds[f + 1]].to_vec()));
                        if let (true, Some(c)) = (f + 1 < fragments, between.get(f)) {
                            raws.push(control(c));
                        }
                    }
                }
            }
        }
        let mut raws: Vec<Raw> = raws
            .into_iter()
            .map(|(first, payload)| Raw {
                first,
                payload,
                masked: true,
                delta: 0,
            })
            .collect();
        if !raws.is_empty() {
            let n = raws.len();
            match &self.corruption {
                Corruption::Rsv(i, bits) => raws[i.index(n)].first |= (bits % 7 + 1) << 4,
                Corruption::Opcode(i, op) => {
                    let raw = &mut raws[i.index(n)];
                    raw.first = (raw.first & 0xF0) | (op & 0x0F);
                }
                Corruption::Unmasked(i) => raws[i.index(n)].masked = false,
                Corruption::Length(i, delta) => raws[i.index(n)].delta = i64::from(*delta),
                Corruption::NoFin(i) => raws[i.index(n)].first &= 0x7F,
                Corruption::None | Corruption::Byte(..) => {}
            }
        }
        let mut out = Vec::new();
        for (n, raw) in raws.iter().enumerate() {
            let (key, form) = self.styles[n % self.styles.len()];
            // Now and then an extended length form for a short payload: read alike for
            // a data frame, refused by design for a control frame (rarer).
            let control = raw.first & 0x08 != 0;
            let form = match (form % 10, control) {
                (8, false) => LenForm::U16,
                (9, false) => LenForm::U64,
                _ if control && form == 255 => LenForm::U16,
                _ => LenForm::Minimal,
            };
            let key = raw.masked.then_some(key);
            out.extend(encode(raw.first, &raw.payload, key, form, raw.delta));
        }
        if let (Corruption::Byte(i, xor), false) = (&self.corruption, out.is_empty()) {
            let at = i.index(out.len());
            out[at] ^= xor.max(&1);
        }
        if let Some(at) = &self.truncate {
            out.truncate(at.index(out.len() + 1));
        }
        out
    }
}

fn text_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => "\\PC{0,40}".prop_map(String::into_bytes),
        // Valid text with one byte put in (often not UTF-8 any more).
        1 => ("\\PC{0,20}", any::<u8>(), "\\PC{0,20}").prop_map(|(a, b, c)| {
            let mut v = a.into_bytes();
            v.push(b);
            v.extend(c.into_bytes());
            v
        }),
        // Cut anywhere, perhaps inside a character.
        1 => ("\\PC{1,20}", any::<Index>()).prop_map(|(s, i)| {
            let mut v = s.into_bytes();
            v.truncate(i.index(v.len()));
            v
        }),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => "[a-zé€𝄞]{100,200}".prop_map(String::into_bytes),
    ]
}

fn binary_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 100..300),
    ]
}

fn close_payload() -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![
        3 => prop::sample::select(vec![
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999,
            4000, 4999,
        ]),
        2 => prop::sample::select(vec![
            0u16, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2000, 2999, 5000, 65535,
        ]),
        1 => any::<u16>(),
    ];
    let reason = prop_oneof![
        4 => "\\PC{0,20}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..10),
        // About the 123 bytes a close frame has room for.
        1 => "[a-z]{120,125}".prop_map(String::into_bytes),
    ];
    prop_oneof![
        1 => Just(Vec::new()),
        1 => any::<u8>().prop_map(|b| vec![b]),
        6 => (code, reason).prop_map(|(code, reason)| {
            let mut v = code.to_be_bytes().to_vec();
            v.extend(reason);
            v
        }),
    ]
}

fn control() -> impl Strategy<Value = Control> {
    let payload = prop_oneof![
        20 => prop::collection::vec(any::<u8>(), 0..=125),
        1 => prop::collection::vec(any::<u8>(), 126..140),
    ];
    prop_oneof![
        3 => payload.clone().prop_map(Control::Ping),
        2 => payload.prop_map(Control::Pong),
        1 => close_payload().prop_map(Control::Close),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    let message = (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<Index>(), 0..4),
        prop::collection::vec(control(), 0..3),
    );
    let message = message.prop_flat_map(|(text, _, cuts, between)| {
        let payload = if text {
            text_payload().boxed()
        } else {
            binary_payload().boxed()
        };
        payload.prop_map(move |payload| Item::Message {
            text,
            payload,
            cuts: cuts.clone(),
            between: between.clone(),
        })
    });
    prop_oneof![4 => message, 1 => control().prop_map(Item::Control)]
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        12 => Just(Corruption::None),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, x)| Corruption::Byte(i, x)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Corruption::Rsv(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, o)| Corruption::Opcode(i, o)),
        1 => any::<Index>().prop_map(Corruption::Unmasked),
        1 => (any::<Index>(), any::<i8>()).prop_map(|(i, d)| Corruption::Length(i, d)),
        1 => any::<Index>().prop_map(Corruption::NoFin),
    ]
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(item(), 1..6),
        prop::collection::vec((any::<[u8; 4]>(), any::<u8>()), 1..4),
        corruption(),
        prop::option::weighted(0.2, any::<Index>()),
    )
        .prop_map(|(items, styles, corruption, truncate)| Stream {
            items,
            styles,
            corruption,
            truncate,
        })
}

/// A limit: mostly roomy, sometimes small enough for the generated frames to reach.
fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(BIG), 1 => 0usize..300]
}

fn pieces() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        1 => Just(Vec::new()),
        4 => prop::collection::vec(1usize..40, 1..5),
        1 => prop::collection::vec(1usize..4, 1..3),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_read_alike(
        input in prop::collection::vec(any::<u8>(), 0..400),
        pieces in pieces(),
        max_frame in limit(),
        max_message in limit(),
    ) {
        differential(&input, &pieces, max_frame, max_message);
    }

    #[test]
    fn client_frame_streams_read_alike(
        stream in stream(),
        pieces in pieces(),
        max_frame in limit(),
        max_message in limit(),
    ) {
        differential(&stream.encode(), &pieces, max_frame, max_message);
    }
}

/// The structured streams go deep: most are read at least in part, each outcome
/// happens, and every difference by design is reached (so the property exercises the
/// verification of each).
#[test]
fn structured_streams_reach_every_outcome_and_difference() {
    let mut runner = TestRunner::deterministic();
    let strategy = (stream(), pieces(), limit(), limit());
    let (mut with_events, mut closed, mut failed, mut waiting) = (0, 0, 0, 0);
    let mut seen = Vec::new();
    let total = 3_000;
    for _ in 0..total {
        let (stream, pieces, max_frame, max_message) =
            strategy.new_tree(&mut runner).expect("a value").current();
        let comparison = differential(&stream.encode(), &pieces, max_frame, max_message);
        with_events += usize::from(!comparison.ours.events.is_empty());
        match comparison.ours.outcome {
            Outcome::Closed(_) => closed += 1,
            Outcome::Failed(_) => failed += 1,
            Outcome::Incomplete => waiting += 1,
        }
        for d in comparison.differences {
            if !seen.contains(&d) {
                seen.push(d);
            }
        }
    }
    assert!(
        with_events * 2 > total,
        "only {with_events} of {total} streams read an event"
    );
    assert!(
        closed * 20 > total && failed * 20 > total && waiting * 20 > total,
        "closed {closed}, failed {failed}, waiting {waiting} of {total}"
    );
    for d in [
        Difference::FailFastHeader,
        Difference::FailFastUtf8,
        Difference::BitsBeforeSize,
        Difference::ControlFrameOverMaxFrame,
        Difference::ControlFrameExtendedLength,
        Difference::InvalidCloseCode,
        Difference::CloseCode1014,
    ] {
        assert!(seen.contains(&d), "{d:?} never reached; seen {seen:?}");
    }
}

// ---- each difference by design, pinned to one input ----

/// Well-formed streams, whole or in pieces: both readers read exactly the same.
#[test]
fn agreement_on_a_well_formed_stream() {
    let mut input = frame(0x01, "hé".as_bytes());
    input.extend(frame(0x89, b"ping"));
    input.extend(frame(0x80, "llo".as_bytes()));
    input.extend(frame(0x82, &[7; 300]));
    input.extend(frame(0x8A, b"pong"));
    input.extend(close(1000, b"bye"));
    for pieces in [vec![], vec![1], vec![3, 7], vec![5000]] {
        let c = differential(&input, &pieces, BIG, BIG);
        assert_eq!(c.differences, []);
        assert_eq!(
            c.ours.events,
            [
                Event::Ping(b"ping".to_vec()),
                Event::Text("héllo".as_bytes().to_vec()),
                Event::Binary(vec![7; 300]),
                Event::Pong,
            ]
        );
        assert_eq!(c.ours.outcome, Outcome::Closed(Some((1000, "bye".into()))));
        assert_eq!(c.theirs.outcome, c.ours.outcome);
    }
}

/// Fail fast on the header: we refuse a frame as soon as its header shows it is wrong
/// (1002) or too big (1009); tungstenite waits for the rest of the frame.
#[test]
fn fail_fast_header() {
    // A continuation that takes the message over max_message.
    let mut over = frame(0x02, &[1; 15]);
    over.extend(&frame(0x80, &[2; 15])[..8]);
    let cases: [(Vec<u8>, usize, usize, u16); 5] = [
        // RSV1 without an extension, 2 of 5 payload bytes here.
        (frame(0xC1, b"hello")[..8].to_vec(), BIG, BIG, 1002),
        // Not masked: refused on its first two bytes, tungstenite waits for the payload.
        (unmasked(0x81, b"hello")[..3].to_vec(), BIG, BIG, 1002),
        // A reserved opcode: refused on two bytes, tungstenite waits for the mask key.
        (frame(0x83, b"x")[..2].to_vec(), BIG, BIG, 1002),
        // A fragmented ping.
        (frame(0x09, b"ping")[..7].to_vec(), BIG, BIG, 1002),
        (over, 20, 20, 1009),
    ];
    for (input, max_frame, max_message, code) in cases {
        let hex = wsframe::fuzzing::hex(&input);
        let c = differential(&input, &[], max_frame, max_message);
        assert_eq!(c.ours.outcome, Outcome::Failed(code), "{hex}");
        assert_eq!(c.theirs.outcome, Outcome::Incomplete, "{hex}");
        assert_eq!(c.ours.events, c.theirs.events, "{hex}");
        assert_eq!(c.differences, [Difference::FailFastHeader], "{hex}");
    }
    // A frame over max_frame: tungstenite refuses it from its header too.
    let c = differential(&frame(0x82, &[1; 50])[..10], &[], 20, 20);
    assert_eq!(
        (c.ours.outcome, c.differences),
        (Outcome::Failed(1009), vec![])
    );
}

/// Fail fast on UTF-8: invalid text is refused (1007) at its first bad byte, while its
/// frame still arrives; tungstenite validates the frame once whole. Once whole, both
/// refuse it alike.
#[test]
fn fail_fast_utf8() {
    let whole = frame(0x81, b"ab\xffcdefgh");
    let cut = &whole[..6 + 4];
    let c = differential(cut, &[], BIG, BIG);
    assert_eq!(c.ours.outcome, Outcome::Failed(1007));
    assert_eq!(c.theirs.outcome, Outcome::Incomplete);
    assert_eq!(c.differences, [Difference::FailFastUtf8]);
    // The same in pieces, across fragments: a character cut between two fragments is
    // fine, a bad byte in the frame under way is refused at once.
    let mut input = frame(0x01, b"caf\xc3");
    input.extend(frame(0x00, b"\xa9 ok"));
    input.extend(&frame(0x80, b"x\xc3\x28yyyy")[..6 + 3]);
    let c = differential(&input, &[2], BIG, BIG);
    assert_eq!(c.differences, [Difference::FailFastUtf8]);
    let c = differential(&whole, &[3], BIG, BIG);
    assert_eq!(
        (c.ours.outcome, c.differences),
        (Outcome::Failed(1007), vec![])
    );
}

/// A frame over max_frame that also breaks a header rule: we answer 1002, tungstenite
/// 1009 (it checks the size first).
#[test]
fn bits_before_size() {
    for input in [unmasked(0x82, &[0; 200]), frame(0xA2, &[0; 200])] {
        let c = differential(&input, &[], 100, BIG);
        assert_eq!(c.ours.outcome, Outcome::Failed(1002));
        assert_eq!(c.theirs.outcome, Outcome::Failed(1009));
        assert_eq!(c.differences, [Difference::BitsBeforeSize]);
    }
    // A 64-bit length with its top bit set: a protocol error to us, too big to them.
    let mut input = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
    input.extend_from_slice(&KEY);
    let c = differential(&input, &[], BIG, BIG);
    assert_eq!(
        (c.ours.outcome, c.theirs.outcome, c.differences),
        (
            Outcome::Failed(1002),
            Outcome::Failed(1009),
            vec![Difference::BitsBeforeSize]
        )
    );
}

/// A control frame (at most 125 bytes) longer than max_frame: we read it, max_frame
/// limits data frames; tungstenite refuses it (1009).
#[test]
fn control_frame_over_max_frame() {
    let mut input = frame(0x89, &[9; 50]);
    input.extend(frame(0x81, b"hi"));
    let c = differential(&input, &[], 10, BIG);
    assert_eq!(
        c.ours.events,
        [Event::Ping(vec![9; 50]), Event::Text(b"hi".to_vec())]
    );
    assert_eq!(c.ours.outcome, Outcome::Incomplete);
    assert_eq!(c.theirs.events, []);
    assert_eq!(c.theirs.outcome, Outcome::Failed(1009));
    assert_eq!(c.differences, [Difference::ControlFrameOverMaxFrame]);
}

/// A control frame whose length (at most 125) is written in the 16- or 64-bit form: we
/// refuse it from its header (1002), tungstenite reads it.
#[test]
fn control_frame_extended_length() {
    let mut input = encode(0x89, b"ping", Some(KEY), LenForm::U16, 0);
    input.extend(frame(0x81, b"hi"));
    let c = differential(&input, &[], BIG, BIG);
    assert_eq!(c.ours.outcome, Outcome::Failed(1002));
    assert_eq!(c.ours.events, []);
    assert_eq!(c.theirs.outcome, Outcome::Incomplete);
    assert_eq!(
        c.theirs.events,
        [Event::Ping(b"ping".to_vec()), Event::Text(b"hi".to_vec())]
    );
    assert_eq!(c.differences, [Difference::ControlFrameExtendedLength]);
    // Refused on its first two bytes, whatever follows; the 64-bit form too.
    let c = differential(&[0x89, 0xFE], &[], BIG, BIG);
    assert_eq!(c.ours.outcome, Outcome::Failed(1002));
    assert_eq!(c.differences, [Difference::ControlFrameExtendedLength]);
    let input = encode(0x8A, b"", Some(KEY), LenForm::U64, 0);
    assert_eq!(
        differential(&input, &[], BIG, BIG).differences,
        [Difference::ControlFrameExtendedLength]
    );
    // A data frame's extended form for a short payload is read alike.
    let input = encode(0x81, b"hi", Some(KEY), LenForm::U64, 0);
    assert_eq!(differential(&input, &[1], BIG, BIG).differences, []);
}

/// A close code that may not be sent: we fail the connection (1002); tungstenite reports
/// the close with 1002 "Protocol violation", or fails with 1007 if the reason is not
/// UTF-8 either (it checks the reason first).
#[test]
fn invalid_close_code() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let c = differential(&close(code, b"bye"), &[], BIG, BIG);
        assert_eq!(c.ours.outcome, Outcome::Failed(1002), "{code}");
        assert_eq!(
            c.theirs.outcome,
            Outcome::Closed(Some((1002, "Protocol violation".into())))
        );
        assert_eq!(c.differences, [Difference::InvalidCloseCode]);
    }
    let c = differential(&close(1005, b"\xff"), &[], BIG, BIG);
    assert_eq!(
        (c.ours.outcome, c.theirs.outcome, c.differences),
        (
            Outcome::Failed(1002),
            Outcome::Failed(1007),
            vec![Difference::InvalidCloseCode]
        )
    );
}

/// Close code 1014 (IANA "Bad Gateway"): we accept it, tungstenite does not.
#[test]
fn close_code_1014() {
    let c = differential(&close(1014, b"upstream"), &[], BIG, BIG);
    assert_eq!(
        c.ours.outcome,
        Outcome::Closed(Some((1014, "upstream".into())))
    );
    assert_eq!(
        c.theirs.outcome,
        Outcome::Closed(Some((1002, "Protocol violation".into())))
    );
    assert_eq!(c.differences, [Difference::CloseCode1014]);
    // The codes next to it are read alike.
    for code in [1012, 1013] {
        assert_eq!(
            differential(&close(code, b""), &[], BIG, BIG).differences,
            []
        );
    }
}

/// The hex examples in docs/fuzzing.md's table of differences.
#[test]
fn the_examples_in_the_docs() {
    let from_hex = |s: &str| -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let examples = [
        ("c185 37fa213d 5f9f", Difference::FailFastHeader),
        ("818a 37fa213d 5698de", Difference::FailFastUtf8),
        ("82ff 8000000000000001 37fa213d", Difference::BitsBeforeSize),
        (
            "89fe 0004 37fa213d 47934f5a",
            Difference::ControlFrameExtendedLength,
        ),
        ("8885 37fa213d 3417434452", Difference::InvalidCloseCode),
    ];
    for (hex, difference) in examples {
        let c = differential(&from_hex(hex), &[], BIG, BIG);
        assert_eq!(c.differences, [difference], "{hex}");
    }
}

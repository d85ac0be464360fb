//! Entry points for the fuzz targets in `fuzz/` and the differential tests (feature
//! `fuzzing`, not for users): the crate-private router and handshake checks, fed from
//! arbitrary input, and the frame reader compared with tungstenite's ([`differential`]).

use std::io::{self, Read, Write};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Version};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

use crate::connection::reader::{Fault, Incoming, ReadLimits, Reader};
use crate::connection::transport::ReadBuffer;
use crate::forwarded::{ProxyHeader, Scheme, TrustedProxy};
use crate::router::{RoutePattern, Router};
use crate::{Message, Origins};

/// Match `path` against a fixed set of routes (parameters, a rest parameter, literal
/// braces, a root) and extract the parameters.
pub fn match_path(path: &str) -> Option<Result<Vec<(String, String)>, String>> {
    let mut router = Router::new();
    for (i, pattern) in [
        "/",
        "/ws/<client_id>",
        "/files/<path..>",
        "/a/<b>/c/<d>",
        "/x{y}/<z>",
    ]
    .iter()
    .enumerate()
    {
        router
            .insert(RoutePattern::parse(pattern).expect("valid pattern"), i)
            .expect("no conflict");
    }
    let matched = router.at(path)?;
    Some(matched.params.map(|params| {
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }))
}

/// Run an upgrade request's checks (method, version, headers, origin) and what guards
/// read from it (query, cookies, subprotocols, the client address) on arbitrary parts.
pub fn handshake(method: &[u8], uri: &str, headers: &[(&[u8], &[u8])], http2: bool) {
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    let version = if http2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let _ = crate::handshake::is_upgrade_request(&map);
    let origins = Origins::same_origin().allow("https://app.example");
    for scheme in [Scheme::Http, Scheme::Https] {
        let _ = crate::handshake::validate(&method, version, &map, &origins, scheme, None);
        let _ = crate::handshake::validate(
            &method,
            version,
            &map,
            &origins,
            scheme,
            Some("app.example"),
        );
    }
    let _ =
        crate::request::parse_protocols(map.get_all(http::header::SEC_WEBSOCKET_PROTOCOL).iter());
    let trusted = [ProxyHeader::XForwardedFor, ProxyHeader::Forwarded].map(|header| TrustedProxy {
        net: "10.0.0.0/8".parse().expect("valid network"),
        header,
    });
    for proxy in trusted {
        let _ = crate::forwarded::resolve([10, 0, 0, 1].into(), &map, &[proxy], true);
    }
    let mut req = crate::HandshakeRequest::new(uri);
    req.headers = map;
    let _ = req.query_param("token");
    let _ = req.cookies();
}

// ---------------------------------------------------------------------------------------
// Differential testing of the frame reader against tungstenite (issue 14).
// ---------------------------------------------------------------------------------------

/// What a reader made of a byte stream, event by event: data messages whole, control
/// frames one by one (a pong's payload is not kept: our reader drops it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A text message (its bytes).
    Text(Vec<u8>),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
}

/// How a reader stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It used all the input and waits for more.
    Incomplete,
    /// It read the peer's close frame: its code and reason, if any.
    Closed(Option<(u16, String)>),
    /// It refused the input, with this close code (1002, 1007 or 1009).
    Failed(u16),
}

/// One reader's run over a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// What it read, in order, before it stopped.
    pub events: Vec<Event>,
    /// How it stopped.
    pub outcome: Outcome,
    /// Why it failed, in its own words (not compared).
    pub detail: String,
}

/// A disagreement between our reader and tungstenite's that is there by design. Each is
/// verified where it is reported (see [`differential`]), never merely assumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Difference {
    /// We refuse a frame from its header (RSV bits, reserved opcode, unmasked,
    /// fragmented or long control frame, a frame or message over the limit) while its
    /// payload, or the rest of its header, has not arrived; tungstenite waits for the
    /// whole frame. Verified: once the frame is completed (zeros), tungstenite refuses
    /// it with our code.
    FailFastHeader,
    /// We refuse a text message at its first invalid UTF-8 byte while its frame is still
    /// arriving; tungstenite validates a frame once it is whole. Verified as above (1007).
    FailFastUtf8,
    /// A frame over `max_frame` that also breaks a header rule (RSV bits, unmasked,
    /// fragmented or long control frame, length with its top bit set): we answer 1002
    /// (the header rules come first), tungstenite 1009 (it checks the size first).
    BitsBeforeSize,
    /// A control frame whose length is written in the 16- or 64-bit form (126 or 127 in
    /// the 7-bit field), though it is at most 125: we refuse it from its header (1002),
    /// as a control frame's length must fit the 7-bit field (RFC 6455 §5.5, and §5.2:
    /// "the minimal number of bytes MUST be used"); tungstenite checks the length
    /// itself and reads the frame. Verified: with that frame's length rewritten in the
    /// 7-bit form the comparison goes on over the rest of the stream.
    ControlFrameExtendedLength,
    /// A control frame (at most 125 bytes by the protocol) longer than `max_frame`: we
    /// accept it, `max_frame` limits data frames; tungstenite refuses it (1009).
    ControlFrameOverMaxFrame,
    /// A close frame with a code that may not be sent (1005, 999, 2000, ...): we fail
    /// the connection (1002); tungstenite reports the close with its code replaced by
    /// 1002 "Protocol violation", or 1007 when the reason is also not UTF-8 (it checks
    /// the reason first).
    InvalidCloseCode,
    /// Close code 1014 (IANA "Bad Gateway", registered after RFC 6455): we accept it,
    /// tungstenite treats it as invalid (reports the close as 1002).
    CloseCode1014,
}

/// Both runs over one input and the differences that explain where they disagree.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Our reader.
    pub ours: Run,
    /// tungstenite's server side.
    pub theirs: Run,
    /// What explains their disagreement (empty when the runs are equal), with what the
    /// comparisons that verified it found further on in the stream.
    pub differences: Vec<Difference>,
}

/// Limits above this are refused by [`differential`]: verifying a fail-fast refusal
/// completes the frame under way, which must stay cheap.
pub const MAX_LIMIT: usize = 1 << 24;

/// Feed `input` to our frame reader, in pieces of the sizes in `pieces` (cycled; empty:
/// all at once; 0 counts as 1), and whole to tungstenite's server side, with the same
/// limits, and compare what they read. As in the server (`Limits::get_max_frame_size`),
/// `max_frame` is at most `max_message`: a larger one is cut to it.
///
/// Panics (with the input in hex and both runs) when they disagree in a way no
/// [`Difference`] explains, or when our reader's result depends on how the input is cut
/// (it is also fed one wire frame at a time).
pub fn differential(
    input: &[u8],
    pieces: &[usize],
    max_frame: usize,
    max_message: usize,
) -> Comparison {
    assert!(
        max_frame <= MAX_LIMIT && max_message <= MAX_LIMIT,
        "limits above {MAX_LIMIT}"
    );
    let max_frame = max_frame.min(max_message);
    let limits = (max_frame, max_message);
    let ours = read_ours(input, pieces, max_frame, max_message);
    // tungstenite reads the stream whole: how it copes with pieces is not under test,
    // and its reads zero a 4 KiB buffer each, which tiny pieces make slow.
    let theirs = read_tungstenite(input, &[], max_frame, max_message);
    let frames = walk(input);
    let (by_frames, culprit) = ours_frame_by_frame(input, &frames, limits);
    let report = |why: &str| {
        format!(
            "{why}\n  input ({} bytes): {}\n  pieces: {pieces:?}, max_frame: {max_frame}, \
             max_message: {max_message}\n  ours:   {ours:?}\n  theirs: {theirs:?}",
            input.len(),
            hex(input),
        )
    };
    if (&by_frames.events, &by_frames.outcome) != (&ours.events, &ours.outcome) {
        panic!(
            "{}",
            report(&format!(
                "our reader's result depends on how the input is cut: frame by frame it \
                 gives {by_frames:?}"
            ))
        );
    }
    let differences = match explain(input, pieces, &frames, culprit, limits, &ours, &theirs) {
        Ok(differences) => differences,
        Err(why) => panic!(
            "{}",
            report(&format!("our reader and tungstenite disagree: {why}"))
        ),
    };
    let mut differences = differences;
    if differences.contains(&Difference::ControlFrameOverMaxFrame) && max_frame < 125 {
        // tungstenite stopped at that control frame; compare the rest of the stream
        // with limits that both apply alike to control frames (max_frame at most
        // max_message, as always).
        let rest = differential(input, pieces, 125, max_message.max(125));
        differences.extend(rest.differences);
    }
    Comparison {
        ours,
        theirs,
        differences,
    }
}

/// `input` cut into pieces of the sizes in `pieces`, cycled (see [`differential`]).
fn cut<'a>(input: &'a [u8], pieces: &[usize]) -> Vec<&'a [u8]> {
    if pieces.is_empty() {
        return vec![input];
    }
    let mut out = Vec::new();
    let mut rest = input;
    for size in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at((*size).max(1).min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

/// Our reader over `input` cut into pieces: the first piece is handed over as what
/// hyper read ahead (the buffer's prefix), the others pushed as socket reads, and after
/// each everything buffered is parsed.
pub fn read_ours(input: &[u8], pieces: &[usize], max_frame: usize, max_message: usize) -> Run {
    read_with(input, pieces, (max_frame, max_message), None)
}

/// [`read_ours`] on a connection that negotiated permessage-deflate from `offer` (a
/// `Sec-WebSocket-Extensions` value; no extension if it is declined), with the server's
/// default compression settings but any client window (the offered one is agreed):
/// compressed messages (RSV1 on their first frame) are inflated, within `max_message`.
pub fn read_deflate(
    input: &[u8],
    pieces: &[usize],
    max_frame: usize,
    max_message: usize,
    offer: &str,
) -> Run {
    let offers = crate::deflate::offer::parse([offer.as_bytes()]);
    let settings = crate::Compression::default().client_max_window_bits(15);
    let negotiated =
        crate::deflate::offer::negotiate(&offers, &settings).map(|(negotiated, _)| negotiated);
    read_with(
        input,
        pieces,
        (max_frame.min(max_message), max_message),
        negotiated.as_ref(),
    )
}

fn read_with(
    input: &[u8],
    pieces: &[usize],
    limits: (usize, usize),
    deflate: Option<&crate::deflate::Negotiated>,
) -> Run {
    let cuts = cut(input, pieces);
    let (first, rest) = cuts
        .split_first()
        .map_or((&[][..], &[][..]), |(f, r)| (*f, r));
    let mut reader = ours_reader(first, limits).with_deflate(deflate);
    let mut run = Run {
        events: Vec::new(),
        outcome: Outcome::Incomplete,
        detail: String::new(),
    };
    if drain(&mut reader, &mut run) {
        return run;
    }
    for piece in rest {
        reader.push(piece);
        if drain(&mut reader, &mut run) {
            return run;
        }
    }
    run
}

fn ours_reader(prefix: &[u8], (max_frame, max_message): (usize, usize)) -> Reader {
    Reader::new(
        ReadBuffer::new(4096, prefix),
        ReadLimits {
            max_frame,
            max_message,
        },
    )
}

/// Parse all that is buffered; true when the reader stopped (a fault or a close).
fn drain(reader: &mut Reader, run: &mut Run) -> bool {
    loop {
        match reader.next() {
            Ok(None) => return false,
            Ok(Some(Incoming::Message(Message::Text(text)))) => {
                run.events.push(Event::Text(text.as_bytes().to_vec()));
            }
            Ok(Some(Incoming::Message(Message::Binary(bytes)))) => {
                run.events.push(Event::Binary(bytes.to_vec()));
            }
            Ok(Some(Incoming::Ping(payload))) => run.events.push(Event::Ping(payload.to_vec())),
            Ok(Some(Incoming::Pong)) => run.events.push(Event::Pong),
            Ok(Some(Incoming::Close(close))) => {
                run.outcome = Outcome::Closed(close.map(|(code, reason)| (code.0, reason)));
                return true;
            }
            Err(Fault { code, reason }) => {
                run.outcome = Outcome::Failed(code.0);
                run.detail = reason.to_owned();
                return true;
            }
        }
    }
}

/// Our reader fed one wire frame at a time (see [`walk`]): its run, and the index of
/// the frame during which it failed.
fn ours_frame_by_frame(
    input: &[u8],
    frames: &[Wire],
    limits: (usize, usize),
) -> (Run, Option<usize>) {
    let mut reader = ours_reader(b"", limits);
    let mut run = Run {
        events: Vec::new(),
        outcome: Outcome::Incomplete,
        detail: String::new(),
    };
    for (i, frame) in frames.iter().enumerate() {
        reader.push(&input[frame.start..frame.end]);
        if drain(&mut reader, &mut run) {
            let culprit = matches!(run.outcome, Outcome::Failed(_)).then_some(i);
            return (run, culprit);
        }
    }
    (run, None)
}

/// An in-memory socket for tungstenite: reads return the input piece by piece, then
/// `WouldBlock`; writes (its pongs and close replies) are dropped.
struct Feed<'a> {
    pieces: Vec<&'a [u8]>,
    next: usize,
    at: usize,
}

impl Read for Feed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self
            .pieces
            .get(self.next)
            .is_some_and(|p| self.at == p.len())
        {
            self.next += 1;
            self.at = 0;
        }
        let Some(piece) = self.pieces.get(self.next) else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = buf.len().min(piece.len() - self.at);
        buf[..n].copy_from_slice(&piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Feed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite's server side over `input` cut into pieces (`&[]`: whole), with the same
/// limits.
pub fn read_tungstenite(
    input: &[u8],
    pieces: &[usize],
    max_frame: usize,
    max_message: usize,
) -> Run {
    use tungstenite::error::Error;
    let feed = Feed {
        pieces: cut(input, pieces),
        next: 0,
        at: 0,
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_frame_size(Some(max_frame))
        .max_message_size(Some(max_message));
    let mut ws = WebSocket::from_raw_socket(feed, Role::Server, Some(config));
    let mut events = Vec::new();
    let (outcome, detail) = loop {
        let error = match ws.read() {
            Ok(TMessage::Text(text)) => {
                events.push(Event::Text(text.as_bytes().to_vec()));
                continue;
            }
            Ok(TMessage::Binary(bytes)) => {
                events.push(Event::Binary(bytes.to_vec()));
                continue;
            }
            Ok(TMessage::Ping(payload)) => {
                events.push(Event::Ping(payload.to_vec()));
                continue;
            }
            Ok(TMessage::Pong(_)) => {
                events.push(Event::Pong);
                continue;
            }
            Ok(TMessage::Close(close)) => {
                let close = close.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                break (Outcome::Closed(close), String::new());
            }
            Ok(TMessage::Frame(_)) => unreachable!("tungstenite never reads a raw frame"),
            Err(error) => error,
        };
        let code = match &error {
            Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
                break (Outcome::Incomplete, String::new());
            }
            Error::Capacity(_) => 1009,
            Error::Utf8(_) => 1007,
            Error::Protocol(_) | Error::AttackAttempt => 1002,
            other => panic!("tungstenite failed unexpectedly on {}: {other}", hex(input)),
        };
        break (Outcome::Failed(code), error.to_string());
    };
    Run {
        events,
        outcome,
        detail,
    }
}

/// A frame as it lies on the wire, found without judging it: where it starts and ends
/// in the input, its header fields when the header is all there.
#[derive(Clone, Copy, Debug)]
struct Wire {
    start: usize,
    /// End of this frame's bytes in the input (the input's end when it is cut short).
    end: usize,
    /// The header, when all of it is in the input.
    header: Option<WireHeader>,
    /// The whole frame is in the input.
    complete: bool,
}

#[derive(Clone, Copy, Debug)]
struct WireHeader {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    /// The 7-bit length field.
    short: u8,
    len: u64,
    key: [u8; 4],
    header_len: usize,
}

impl WireHeader {
    fn parse(bytes: &[u8]) -> Option<WireHeader> {
        let [first, second, ..] = *bytes else {
            return None;
        };
        let short = second & 0x7F;
        let masked = second & 0x80 != 0;
        let ext = match short {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext + if masked { 4 } else { 0 };
        let header = bytes.get(..header_len)?;
        let len = match ext {
            0 => u64::from(short),
            _ => header[2..2 + ext]
                .iter()
                .fold(0u64, |n, b| (n << 8) | u64::from(*b)),
        };
        let mut key = [0; 4];
        if masked {
            key.copy_from_slice(&header[2 + ext..]);
        }
        Some(WireHeader {
            fin: first & 0x80 != 0,
            rsv: first & 0x70,
            opcode: first & 0x0F,
            masked,
            short,
            len,
            key,
            header_len,
        })
    }

    fn is_control(&self) -> bool {
        self.opcode & 0x08 != 0
    }

    /// Breaks a rule our reader checks on the header before the frame's size: RSV bits,
    /// not masked, a fragmented or long control frame, a length with its top bit set.
    fn breaks_header_rules(&self) -> bool {
        self.rsv != 0
            || !self.masked
            || (self.is_control() && (!self.fin || self.short > 125))
            || self.len >> 63 != 0
    }
}

/// Cut `input` into frames by their length fields alone; the last may be cut short.
fn walk(input: &[u8]) -> Vec<Wire> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let header = WireHeader::parse(&input[at..]);
        let end = header.and_then(|h| {
            (h.header_len as u64)
                .checked_add(h.len)
                .and_then(|n| n.checked_add(at as u64))
                .filter(|&end| end <= input.len() as u64)
        });
        match end {
            Some(end) => {
                frames.push(Wire {
                    start: at,
                    end: end as usize,
                    header,
                    complete: true,
                });
                at = end as usize;
            }
            None => {
                frames.push(Wire {
                    start: at,
                    end: input.len(),
                    header,
                    complete: false,
                });
                break;
            }
        }
    }
    frames
}

/// `input` with its last frame (cut short) completed: the missing header bytes and
/// payload are zeros; no payload is added to a frame over `max_frame` (tungstenite
/// refuses it from its header). `None` when even its second byte is missing.
fn complete_last_frame(input: &[u8], last: &Wire, max_frame: usize) -> Option<Vec<u8>> {
    let mut out = input.to_vec();
    let second = *input.get(last.start + 1)?;
    let ext = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header_len = 2 + ext + if second & 0x80 != 0 { 4 } else { 0 };
    if out.len() < last.start + header_len {
        out.resize(last.start + header_len, 0);
    }
    let header = WireHeader::parse(&out[last.start..])?;
    if header.len <= max_frame as u64 {
        let end = last.start + header_len + header.len as usize;
        out.resize(end.max(out.len()), 0);
    }
    Some(out)
}

/// Which [`Difference`]s explain why `ours` and `theirs` disagree (none when they
/// agree), or why none does. `culprit`: the frame during which our reader failed.
fn explain<'a>(
    input: &'a [u8],
    pieces: &'a [usize],
    frames: &'a [Wire],
    culprit: Option<usize>,
    limits: (usize, usize),
    ours: &'a Run,
    theirs: &'a Run,
) -> Result<Vec<Difference>, String> {
    if ours.events == theirs.events && ours.outcome == theirs.outcome {
        return Ok(Vec::new());
    }
    let case = Case {
        input,
        pieces,
        frames,
        culprit,
        max_frame: limits.0,
        max_message: limits.1,
        ours,
        theirs,
    };
    let checks: [(&str, Check<'a>); 6] = [
        ("fail fast", Case::fail_fast),
        ("bits before size", Case::bits_before_size),
        ("invalid close code", Case::invalid_close_code),
        ("close code 1014", Case::close_code_1014),
        ("control frame over max_frame", Case::control_over_max_frame),
        (
            "control frame with an extended length",
            Case::control_extended_length,
        ),
    ];
    let mut why = Vec::new();
    for (name, check) in checks {
        match check(&case) {
            Some(Ok(differences)) => return Ok(differences),
            Some(Err(e)) => why.push(format!("not {name}: {e}")),
            None => {}
        }
    }
    if why.is_empty() {
        why.push("no difference by design covers these outcomes".to_owned());
    }
    Err(why.join("; "))
}

/// One explanation: `None` when it does not apply, else whether it holds.
type Check<'a> = fn(&Case<'a>) -> Option<Result<Vec<Difference>, String>>;

/// A disagreement to explain.
struct Case<'a> {
    input: &'a [u8],
    pieces: &'a [usize],
    frames: &'a [Wire],
    culprit: Option<usize>,
    max_frame: usize,
    max_message: usize,
    ours: &'a Run,
    theirs: &'a Run,
}

/// tungstenite's answer to a close frame with a code it does not allow.
fn protocol_violation() -> Outcome {
    Outcome::Closed(Some((1002, "Protocol violation".to_owned())))
}

impl Case<'_> {
    fn same_events(&self) -> Result<(), String> {
        if self.ours.events == self.theirs.events {
            Ok(())
        } else {
            Err("they read different events".to_owned())
        }
    }

    fn culprit(&self) -> Result<(usize, Wire), String> {
        self.culprit
            .map(|i| (i, self.frames[i]))
            .ok_or_else(|| "our reader failed on no frame".to_owned())
    }

    /// [`Difference::FailFastHeader`], [`Difference::FailFastUtf8`]: we failed on the
    /// last frame, cut short, which tungstenite waits for; completed, it refuses it too.
    fn fail_fast(&self) -> Option<Result<Vec<Difference>, String>> {
        let Outcome::Failed(code) = self.ours.outcome else {
            return None;
        };
        if self.theirs.outcome != Outcome::Incomplete {
            return None;
        }
        Some((|| {
            self.same_events()?;
            let (i, frame) = self.culprit()?;
            if i + 1 != self.frames.len() || frame.complete {
                return Err(format!(
                    "we failed on frame {i} (of {}), which is whole, and tungstenite waits",
                    self.frames.len()
                ));
            }
            // Did the header alone (what of it arrived) make us fail?
            let header_end = frame
                .header
                .map_or(self.input.len(), |h| frame.start + h.header_len);
            let header_only = &self.input[..header_end.min(self.input.len())];
            let on_header = matches!(
                read_ours(header_only, &[], self.max_frame, self.max_message).outcome,
                Outcome::Failed(_)
            );
            let kind = if on_header {
                Difference::FailFastHeader
            } else {
                let text = frame.header.is_some_and(|h| h.opcode <= 1);
                if code != 1007 || !text {
                    return Err(format!(
                        "we failed inside the payload of frame {i} with {code}, not on \
                         invalid UTF-8 in a text message"
                    ));
                }
                Difference::FailFastUtf8
            };
            let completed = complete_last_frame(self.input, &frame, self.max_frame)
                .ok_or_else(|| format!("frame {i} cannot be completed to verify"))?;
            let then = read_tungstenite(&completed, &[], self.max_frame, self.max_message);
            if then.events != self.ours.events {
                return Err(format!(
                    "with frame {i} completed, tungstenite reads other events: {then:?}"
                ));
            }
            match then.outcome {
                Outcome::Failed(c) if c == code => Ok(vec![kind]),
                Outcome::Failed(1009)
                    if code == 1002
                        && WireHeader::parse(&completed[frame.start..]).is_some_and(|h| {
                            h.breaks_header_rules() && h.len > self.max_frame as u64
                        }) =>
                {
                    Ok(vec![kind, Difference::BitsBeforeSize])
                }
                _ => Err(format!(
                    "with frame {i} completed, tungstenite does not refuse it with {code}: \
                     {then:?}"
                )),
            }
        })())
    }

    /// [`Difference::BitsBeforeSize`]: we failed (1002) on a frame over max_frame that
    /// breaks a header rule, tungstenite (1009) on its size.
    fn bits_before_size(&self) -> Option<Result<Vec<Difference>, String>> {
        if (&self.ours.outcome, &self.theirs.outcome)
            != (&Outcome::Failed(1002), &Outcome::Failed(1009))
        {
            return None;
        }
        Some((|| {
            self.same_events()?;
            let (i, frame) = self.culprit()?;
            match frame.header {
                Some(h) if h.breaks_header_rules() && h.len > self.max_frame as u64 => {
                    Ok(vec![Difference::BitsBeforeSize])
                }
                _ => Err(format!(
                    "frame {i} is not both over max_frame and against a header rule"
                )),
            }
        })())
    }

    /// [`Difference::InvalidCloseCode`]: we failed (1002) on a close frame whose code
    /// neither reader allows; tungstenite reports it as a close with 1002, or fails
    /// (1007) when its reason is not UTF-8.
    fn invalid_close_code(&self) -> Option<Result<Vec<Difference>, String>> {
        let theirs_as_expected = self.theirs.outcome == protocol_violation()
            || self.theirs.outcome == Outcome::Failed(1007);
        if self.ours.outcome != Outcome::Failed(1002) || !theirs_as_expected {
            return None;
        }
        Some((|| {
            self.same_events()?;
            let (i, frame) = self.culprit()?;
            let payload = close_payload(self.input, &frame)
                .ok_or_else(|| format!("frame {i} is not a whole close frame with a code"))?;
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let expected = if std::str::from_utf8(&payload[2..]).is_ok() {
                protocol_violation()
            } else {
                Outcome::Failed(1007)
            };
            if crate::CloseCode(code).is_sendable()
                || TCloseCode::from(code).is_allowed()
                || self.theirs.outcome != expected
            {
                return Err(format!("close code {code} on frame {i}"));
            }
            Ok(vec![Difference::InvalidCloseCode])
        })())
    }

    /// [`Difference::CloseCode1014`].
    fn close_code_1014(&self) -> Option<Result<Vec<Difference>, String>> {
        let Outcome::Closed(Some((1014, _))) = self.ours.outcome else {
            return None;
        };
        if self.theirs.outcome != protocol_violation() {
            return None;
        }
        Some(self.same_events().map(|()| vec![Difference::CloseCode1014]))
    }

    /// [`Difference::ControlFrameOverMaxFrame`]: tungstenite refused, at its header, the
    /// first frame over max_frame, a valid control frame; we read the same up to it,
    /// and did not fail on it.
    fn control_over_max_frame(&self) -> Option<Result<Vec<Difference>, String>> {
        if self.theirs.outcome != Outcome::Failed(1009) {
            return None;
        }
        Some((|| {
            let k = self
                .frames
                .iter()
                .position(|f| f.header.is_some_and(|h| h.len > self.max_frame as u64))
                .ok_or("tungstenite refused no frame over max_frame")?;
            let frame = self.frames[k];
            let h = frame.header.expect("found by its header");
            if !(h.is_control() && !h.breaks_header_rules() && h.opcode <= 0x0A) {
                return Err(format!(
                    "frame {k} over max_frame is no valid control frame"
                ));
            }
            // We may fail on that frame itself (a close frame's code or reason): the
            // comparison with max_frame 125 that follows (see `differential`) checks it.
            if self.culprit.is_some_and(|c| c < k) {
                return Err(format!("we failed before frame {k}"));
            }
            let before = read_ours(
                &self.input[..frame.start],
                &[],
                self.max_frame,
                self.max_message,
            );
            if before.events != self.theirs.events || before.outcome != Outcome::Incomplete {
                return Err(format!(
                    "up to frame {k} we read {before:?}, not what tungstenite read"
                ));
            }
            Ok(vec![Difference::ControlFrameOverMaxFrame])
        })())
    }

    /// [`Difference::ControlFrameExtendedLength`]: we failed (1002) on a control frame
    /// of at most 125 bytes whose length is written in an extended form; with its length
    /// rewritten in the 7-bit form, the stream compares (recursively) as explained.
    fn control_extended_length(&self) -> Option<Result<Vec<Difference>, String>> {
        if self.ours.outcome != Outcome::Failed(1002) {
            return None;
        }
        let (k, frame) = self.culprit().ok()?;
        let h = header_or_completed(self.input, &frame)?;
        let valid_control = matches!(h.opcode, 0x8..=0xA) && h.fin && h.rsv == 0 && h.masked;
        if !(valid_control && h.short > 125 && h.len <= 125) {
            return None;
        }
        Some((|| {
            if !self.theirs.events.starts_with(&self.ours.events) {
                return Err("tungstenite read other events before it".to_owned());
            }
            // Every such control frame (this one and any later) with its length in the
            // 7-bit field, compared again in one go (a disagreement there panics with
            // its own report).
            let rewritten = control_lengths_in_7_bits(self.input, self.frames);
            let rest = differential(&rewritten, self.pieces, self.max_frame, self.max_message);
            if !rest.ours.events.starts_with(&self.ours.events) {
                return Err(format!(
                    "with frame {k}'s length in the 7-bit form we read other events: {:?}",
                    rest.ours
                ));
            }
            let mut differences = vec![Difference::ControlFrameExtendedLength];
            differences.extend(rest.differences);
            Ok(differences)
        })())
    }
}

/// `frame`'s header, its missing bytes zeros when the input ends inside it.
fn header_or_completed(input: &[u8], frame: &Wire) -> Option<WireHeader> {
    frame.header.or_else(|| {
        let completed = complete_last_frame(input, frame, 0)?;
        WireHeader::parse(&completed[frame.start..])
    })
}

/// `input` with the length of every control frame of at most 125 bytes that is written
/// in an extended form rewritten in the 7-bit field (the mask key and payload, what of
/// them arrived, follow).
fn control_lengths_in_7_bits(input: &[u8], frames: &[Wire]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for frame in frames {
        let bytes = &input[frame.start..frame.end];
        match header_or_completed(input, frame) {
            Some(h) if h.is_control() && h.short > 125 && h.len <= 125 => {
                let ext = if h.short == 126 { 2 } else { 8 };
                out.push(bytes[0]);
                out.push((bytes[1] & 0x80) | h.len as u8);
                out.extend_from_slice(bytes.get(2 + ext..).unwrap_or(&[]));
            }
            _ => out.extend_from_slice(bytes),
        }
    }
    out
}

/// The unmasked payload of `frame` if it is a whole, masked close frame with a code.
fn close_payload(input: &[u8], frame: &Wire) -> Option<Vec<u8>> {
    let h = frame.header?;
    if !frame.complete || h.opcode != 0x8 || !h.masked || h.len < 2 {
        return None;
    }
    let payload = &input[frame.start + h.header_len..frame.end];
    Some(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ h.key[i % 4])
            .collect(),
    )
}

/// Bytes as hex, for failure messages (the minimal input to report).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

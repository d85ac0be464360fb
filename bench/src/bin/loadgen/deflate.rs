//! A small permessage-deflate client (RFC 7692) for the load generator: the handshake
//! with a browser's offer, masked client frames compressed with the negotiated client
//! window and context takeover, and the server's compressed frames inflated. Every byte
//! written and read after the handshake is counted, for the bytes-on-the-wire figures.
//!
//! tokio-tungstenite (the rest of the load generator) cannot speak deflate: it refuses
//! any frame with RSV1 set.
use std::io::{Error, ErrorKind, Result};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What Chromium and Firefox send.
pub const BROWSER_OFFER: &str = "permessage-deflate; client_max_window_bits";
/// The tail every compressed message ends with before it is stripped (RFC 7692, 7.2.1).
const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

/// The parameters of the server's answer.
#[derive(Clone, Debug)]
pub struct Agreed {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

impl Agreed {
    /// The server's `Sec-WebSocket-Extensions` value, if it accepted permessage-deflate.
    pub fn parse(value: &str) -> Option<Agreed> {
        let mut parts = value.split(';').map(str::trim);
        if parts.next()? != "permessage-deflate" {
            return None;
        }
        let mut agreed = Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        for part in parts {
            let (name, value) = part.split_once('=').map_or((part, ""), |(n, v)| (n.trim(), v.trim()));
            let bits = || value.trim_matches('"').parse::<u8>().ok();
            match name {
                "server_no_context_takeover" => agreed.server_no_context_takeover = true,
                "client_no_context_takeover" => agreed.client_no_context_takeover = true,
                "server_max_window_bits" => agreed.server_max_window_bits = bits()?,
                "client_max_window_bits" => agreed.client_max_window_bits = bits()?,
                _ => return None,
            }
        }
        Some(agreed)
    }
}

/// zlib refuses a window of 8 bits; 9 is valid output for an 8-bit window (RFC 7692, 7.1.2.1).
fn zlib_bits(bits: u8) -> u8 {
    bits.max(9)
}

/// Inflates the server's compressed messages under the agreed parameters.
pub struct Inflater {
    inflate: Decompress,
    reset_each: bool,
}

impl Inflater {
    pub fn new(agreed: &Agreed) -> Inflater {
        Inflater {
            inflate: Decompress::new_with_window_bits(false, zlib_bits(agreed.server_max_window_bits)),
            reset_each: agreed.server_no_context_takeover,
        }
    }

    /// Inflates one whole message's payload into `out` (cleared first).
    pub fn inflate(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        for (input, flush) in [(payload, FlushDecompress::None), (&TRAILER[..], FlushDecompress::Sync)] {
            let mut input = input;
            loop {
                if out.capacity() - out.len() < 1024 {
                    out.reserve(out.capacity().max(4096));
                }
                let before = self.inflate.total_in();
                let status = self
                    .inflate
                    .decompress_vec(input, out, flush)
                    .map_err(|e| Error::new(ErrorKind::InvalidData, format!("inflate: {e}")))?;
                input = &input[(self.inflate.total_in() - before) as usize..];
                if status == Status::StreamEnd || (input.is_empty() && out.len() < out.capacity()) {
                    break;
                }
            }
        }
        if self.reset_each {
            self.inflate.reset(false);
        }
        Ok(())
    }
}

/// Compresses the client's messages under the agreed parameters.
struct Deflater {
    deflate: Compress,
    reset_each: bool,
}

impl Deflater {
    fn new(agreed: &Agreed) -> Deflater {
        Deflater {
            deflate: Compress::new_with_window_bits(Compression::new(6), false, zlib_bits(agreed.client_max_window_bits)),
            reset_each: agreed.client_no_context_takeover,
        }
    }

    /// Appends the compressed `message`, without its trailer, to `out`.
    fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let mut input = message;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, out, FlushCompress::Sync)
                .map_err(|e| Error::other(format!("deflate: {e}")))?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            // A sync flush is complete once the output did not fill its room.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if out.len() - start < 4 || out[out.len() - 4..] != TRAILER {
            return Err(Error::other("deflate: a sync flush without its trailer"));
        }
        out.truncate(out.len() - 4);
        if self.reset_each {
            self.deflate.reset();
        }
        Ok(())
    }
}

/// One received message.
pub struct Received {
    pub opcode: u8,
    pub compressed: bool,
}

/// A client connection that may have negotiated permessage-deflate.
pub struct Client {
    tcp: TcpStream,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    pub agreed: Option<Agreed>,
    /// The server's answer, verbatim (empty without the extension).
    pub extensions: String,
    deflater: Option<Deflater>,
    inflater: Option<Inflater>,
    frame: Vec<u8>,
    mask: u32,
    /// Bytes written and read after the handshake, frame headers included.
    pub wire_out: u64,
    pub wire_in: u64,
}

/// Writes the upgrade request on `tcp` (offering `offer`, if any) and reads the 101.
/// Returns the stream, the read buffer, how many bytes of it already hold frames, and
/// the server's `Sec-WebSocket-Extensions` answer (empty if none).
pub async fn handshake(
    mut tcp: TcpStream,
    host: &str,
    path: &str,
    offer: Option<&str>,
    read_buffer: usize,
) -> Result<(TcpStream, Vec<u8>, usize, String)> {
    let extension = offer.map(|o| format!("Sec-WebSocket-Extensions: {o}\r\n")).unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extension}\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut buf = vec![0u8; read_buffer];
    let mut filled = 0;
    let end = loop {
        let n = tcp.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "closed during the handshake"));
        }
        filled += n;
        if let Some(at) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if filled == buf.len() {
            return Err(Error::new(ErrorKind::InvalidData, "handshake response too long"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap_or_default();
    if status != "101" {
        let line = head.lines().next().unwrap_or_default();
        return Err(Error::new(ErrorKind::InvalidData, format!("handshake refused: {line}")));
    }
    let extensions = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    buf.copy_within(end..filled, 0);
    Ok((tcp, buf, filled - end, extensions))
}

impl Client {
    /// Connects over `tcp` to `path`, offering `offer` (None: no extension).
    pub async fn connect(tcp: TcpStream, host: &str, path: &str, offer: Option<&str>) -> Result<Client> {
        let (tcp, buf, filled, extensions) = handshake(tcp, host, path, offer, 16 * 1024).await?;
        let agreed = if extensions.is_empty() {
            None
        } else {
            Some(Agreed::parse(&extensions).ok_or_else(|| {
                Error::new(ErrorKind::InvalidData, format!("unexpected extension answer: {extensions}"))
            })?)
        };
        Ok(Client {
            tcp,
            buf,
            start: 0,
            filled,
            deflater: agreed.as_ref().map(Deflater::new),
            inflater: agreed.as_ref().map(Inflater::new),
            agreed,
            extensions,
            frame: Vec::with_capacity(4096),
            mask: 0x9e37_79b9,
            wire_out: 0,
            // Frames that came with the 101.
            wire_in: filled as u64,
        })
    }

    /// Queues a text message (compressed if deflate was agreed, as browsers do for every
    /// message); written by `flush`.
    pub fn feed_text(&mut self, text: &[u8]) -> Result<()> {
        let mut compressed = Vec::new();
        let (payload, rsv1) = match self.deflater.as_mut() {
            Some(deflater) => {
                deflater.compress(text, &mut compressed)?;
                (&compressed[..], 0x40)
            }
            None => (text, 0),
        };
        self.mask = self.mask.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let mask = self.mask.to_be_bytes();
        self.frame.push(0x80 | rsv1 | 0x1);
        match payload.len() {
            n if n < 126 => self.frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                self.frame.push(0x80 | 126);
                self.frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.frame.push(0x80 | 127);
                self.frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        self.frame.extend_from_slice(&mask);
        self.frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.tcp.write_all(&self.frame).await?;
        self.wire_out += self.frame.len() as u64;
        self.frame.clear();
        Ok(())
    }

    /// The next data message, inflated into `out` if it came compressed. Pings are
    /// answered; a Close or the end of the stream is an error.
    pub async fn receive(&mut self, out: &mut Vec<u8>) -> Result<Received> {
        out.clear();
        let mut message: Option<(u8, bool)> = None;
        let mut compressed_payload = Vec::new();
        loop {
            let (fin, rsv1, opcode, header, len) = loop {
                let avail = &self.buf[self.start..self.filled];
                if avail.len() >= 2 {
                    let (len, header) = match avail[1] & 0x7f {
                        126 if avail.len() >= 4 => (u16::from_be_bytes([avail[2], avail[3]]) as usize, 4),
                        127 if avail.len() >= 10 => (u64::from_be_bytes(avail[2..10].try_into().unwrap()) as usize, 10),
                        126 | 127 => (usize::MAX, 0),
                        n => (n as usize, 2),
                    };
                    if header > 0 && avail.len() >= header + len {
                        break (avail[0] & 0x80 != 0, avail[0] & 0x40 != 0, avail[0] & 0x0f, header, len);
                    }
                    if header > 0 && header + len > self.buf.len() {
                        self.buf.resize(header + len, 0);
                    }
                }
                if self.start > 0 {
                    self.buf.copy_within(self.start..self.filled, 0);
                    self.filled -= self.start;
                    self.start = 0;
                }
                let n = self.tcp.read(&mut self.buf[self.filled..]).await?;
                if n == 0 {
                    return Err(Error::new(ErrorKind::UnexpectedEof, "closed by the server"));
                }
                self.wire_in += n as u64;
                self.filled += n;
            };
            let payload = self.start + header..self.start + header + len;
            self.start = payload.end;
            match opcode {
                0x9 => {
                    let ping = self.buf[payload].to_vec();
                    self.write_control(0xa, &ping).await?;
                    continue;
                }
                0xa => continue,
                0x8 => return Err(Error::new(ErrorKind::ConnectionAborted, "the server closed")),
                0x0 => {}
                _ => message = Some((opcode, rsv1)),
            }
            let Some((kind, compressed)) = message else {
                return Err(Error::new(ErrorKind::InvalidData, "a continuation with no message"));
            };
            if compressed {
                compressed_payload.extend_from_slice(&self.buf[payload]);
            } else {
                out.extend_from_slice(&self.buf[payload]);
            }
            if fin {
                if compressed {
                    let inflater = self
                        .inflater
                        .as_mut()
                        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "RSV1 without deflate agreed"))?;
                    inflater.inflate(&compressed_payload, out)?;
                }
                return Ok(Received { opcode: kind, compressed });
            }
        }
    }

    async fn write_control(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len().min(125) as u8, 0, 0, 0, 0];
        frame.extend_from_slice(&payload[..payload.len().min(125)]);
        self.tcp.write_all(&frame).await?;
        self.wire_out += frame.len() as u64;
        Ok(())
    }

    /// The stream, once no frame is left unread (for tokio-tungstenite to take over).
    pub fn into_stream(self) -> Result<TcpStream> {
        if self.start != self.filled {
            return Err(Error::new(ErrorKind::InvalidData, "unread frames left"));
        }
        Ok(self.tcp)
    }
}

/// The corpus: one message per line.
pub fn load_corpus(path: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("corpus {path}: {e}"));
    let lines: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    assert!(!lines.is_empty(), "corpus {path} is empty");
    lines
}

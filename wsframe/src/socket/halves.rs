//! [`Sender`] and [`Receiver`]: the two halves of a [`WebSocket`](super::WebSocket).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ConnShared, Enqueued, Flushed, InLine, Outbox, Outgoing};
use crate::connection::frame::Frame;
use crate::{CloseCode, ConnectionId, Error, Message, Rejection, Result, Utf8Bytes};

/// A wait of the `Sink` half, kept across polls (boxed: most sends never wait).
type Waiting<T> = Pin<Box<dyn Future<Output = T> + Send + Sync>>;

/// The sending half of a connection. Clone it into other tasks; it implements
/// [`Sink<Message>`](futures_util::Sink).
///
/// Sends wait while the connection's outgoing queue is full, in messages or in bytes
/// (backpressure; see [`Config::outgoing_queue_bytes`](crate::Config::outgoing_queue_bytes));
/// they are never dropped. Waiting sends form one line across all clones, first come
/// first served: a later send never passes an earlier one. A send dropped while it
/// waits is withdrawn, unless room came first (then it is sent). After the connection
/// closes they fail with [`Error::Disconnected`].
///
/// Through the `Sink`, `poll_ready` is ready when this handle has no message waiting
/// for room; `start_send` queues the message, or puts it in that line (one at most per
/// handle), where it enters the queue as soon as room frees, in order with every other
/// send. A message in line is outside the bound and the `queued_bytes` gauge until it
/// enters, and is withdrawn (lost) if this handle is dropped before then, so complete a
/// `flush` or `close` before dropping it. `poll_flush` completes once every message
/// this handle queued before the call has been handed to the socket, and fails with
/// [`Error::Disconnected`] if the connection ended first. Each clone tracks its own
/// messages.
///
/// ```
/// use std::time::Duration;
/// use wsframe::testing::TestClient;
/// use wsframe::{App, WebSocket};
///
/// async fn jobs(ws: WebSocket) -> wsframe::Result<()> {
///     let (sender, mut receiver) = ws.split();
///     while let Ok(job) = receiver.receive_text().await {
///         // Each job runs in a task of its own and answers through a clone.
///         let sender = sender.clone();
///         tokio::spawn(async move {
///             let ms = if job == "slow" { 200 } else { 0 };
///             tokio::time::sleep(Duration::from_millis(ms)).await;
///             let _ = sender.send_text(format!("{job} done")).await;
///         });
///     }
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().websocket("/jobs", jobs))?;
/// let mut ws = client.connect("/jobs").await?;
/// ws.send_text("slow").await?;
/// ws.send_text("fast").await?;
/// assert_eq!(ws.receive_text().await?, "fast done"); // the reader never waited
/// assert_eq!(ws.receive_text().await?, "slow done");
/// # Ok(()) }
/// ```
pub struct Sender {
    shared: Arc<ConnShared>,
    /// The place of the last message this handle queued in the connection's order,
    /// which `poll_flush` waits for.
    queued: AtomicU64,
    /// For the `Sink` impl: a message that waits for room in the queue.
    sending: Option<Waiting<std::result::Result<u64, ()>>>,
    /// For the `Sink` impl: waiting for queued messages to reach the socket.
    flushing: Option<Waiting<()>>,
    /// For the `Sink` impl: `poll_close` has queued its close.
    close_queued: bool,
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        Sender::new(self.shared.clone())
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub(crate) fn new(shared: Arc<ConnShared>) -> Sender {
        Sender {
            shared,
            queued: AtomicU64::new(0),
            sending: None,
            flushing: None,
            close_queued: false,
        }
    }

    pub(crate) fn shared(&self) -> &ConnShared {
        &self.shared
    }

    pub(crate) fn shared_arc(&self) -> &Arc<ConnShared> {
        &self.shared
    }

    fn disconnected(&self) -> Error {
        Error::Disconnected(self.shared.disconnect())
    }

    async fn push(&self, item: Outgoing) -> Result<()> {
        self.shared.implicit_accept()?;
        let seq = self
            .shared
            .outbox
            .push(item)
            .await
            .map_err(|_| self.disconnected())?;
        self.note_queued(seq);
        Ok(())
    }

    fn note_queued(&self, seq: u64) {
        self.queued.fetch_max(seq, Ordering::Relaxed);
    }

    /// Queue `item` for the `Sink`, or keep it waiting for room in `sending`.
    fn start(&mut self, item: Outgoing) -> Result<()> {
        if self.sending.is_some() {
            return Err(Error::custom(
                "Sink::start_send was called before poll_ready was ready (a message is still waiting for room)",
            ));
        }
        match self.shared.outbox.enqueue(item) {
            Enqueued::Queued(seq) => {
                self.note_queued(seq);
                Ok(())
            }
            Enqueued::Closed => Err(self.disconnected()),
            // In line now, ahead of any later send of any handle: it enters the queue
            // as room frees, and dropping this handle before then withdraws it.
            Enqueued::Waiting(ticket) => {
                let line = InLine::new(OutboxOf(self.shared.clone()), ticket);
                self.sending = Some(Box::pin(line.admitted()));
                Ok(())
            }
        }
    }

    /// Drive the message waiting for room (if any) into the queue.
    fn poll_sending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(sending) = self.sending.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let queued = ready!(sending.as_mut().poll(cx));
        self.sending = None;
        match queued {
            Ok(seq) => {
                self.note_queued(seq);
                Poll::Ready(Ok(()))
            }
            Err(_) => Poll::Ready(Err(self.disconnected())),
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.shared.id
    }

    /// Send a message; waits while the outgoing queue is full.
    pub async fn send(&self, message: impl Into<Message>) -> Result<()> {
        self.push(Outgoing::Frame {
            frame: Frame::encode_for(
                message.into(),
                self.shared.deflate.as_ref(),
                &self.shared.counters,
            ),
            from_hub: false,
        })
        .await
    }

    /// Send a text message.
    pub async fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.send(Message::Text(text.into())).await
    }

    /// Send a binary message.
    pub async fn send_bytes(&self, bytes: impl Into<Bytes>) -> Result<()> {
        self.send(Message::Binary(bytes.into())).await
    }

    /// Send `value` serialized as a JSON text message.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.send(Message::Text(text.into())).await
    }

    /// Close with `code` and `reason` after the messages already queued (see
    /// [`WebSocket::close`](crate::WebSocket::close)). Closing a closed connection is a
    /// no-op. A code that may not be sent on the wire (1005, 1006, …) is an error.
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        let code = code.into();
        if !code.is_sendable() {
            return Err(Error::custom(format!(
                "close code {code} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)"
            )));
        }
        let reason = crate::close::truncate_reason(reason);
        if self.shared.is_pending() {
            let refused = Rejection::new(StatusCode::FORBIDDEN, reason);
            if self.shared.decide_reject(refused) {
                return Ok(());
            }
        }
        match self.push(Outgoing::Close(code, reason.to_string())).await {
            Err(Error::Disconnected(_)) => Ok(()),
            other => other,
        }
    }

    /// Whether the connection has closed (or is closing).
    pub fn is_closed(&self) -> bool {
        self.shared.outbox.is_closed()
    }
}

/// The outbox of a connection, owned (for a wait kept across `Sink` polls).
struct OutboxOf(Arc<ConnShared>);

impl std::ops::Deref for OutboxOf {
    type Target = Outbox;
    fn deref(&self) -> &Outbox {
        &self.0.outbox
    }
}

impl Sink<Message> for Sender {
    type Error = Error;

    /// Ready when no message of this handle waits for room.
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.implicit_accept()?;
        ready!(self.poll_sending(cx))?;
        if self.shared.outbox.is_closed() {
            return Poll::Ready(Err(self.disconnected()));
        }
        Poll::Ready(Ok(()))
    }

    /// Queue `item`; when the queue has no room for it, it waits in line (it enters as
    /// room frees, and `poll_ready`, `poll_flush` and `poll_close` wait for that).
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.shared.implicit_accept()?;
        let item = Outgoing::Frame {
            frame: Frame::encode_for(item, self.shared.deflate.as_ref(), &self.shared.counters),
            from_hub: false,
        };
        self.start(item)
    }

    /// Ready once every message this handle queued before the call has been handed to
    /// the socket.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_sending(cx))?;
        let target = self.queued.load(Ordering::Relaxed);
        loop {
            match self.shared.outbox.flushed(target) {
                Flushed::Yes => {
                    self.flushing = None;
                    return Poll::Ready(Ok(()));
                }
                Flushed::Lost => {
                    self.flushing = None;
                    return Poll::Ready(Err(self.disconnected()));
                }
                Flushed::Pending => {}
            }
            let shared = self.shared.clone();
            let flushing = self.flushing.get_or_insert_with(|| {
                Box::pin(async move { shared.outbox.wait_flushed(target).await })
            });
            ready!(flushing.as_mut().poll(cx));
            self.flushing = None;
        }
    }

    /// Closing the sink flushes it, then closes the connection with 1000 after what is
    /// queued (as `StreamExt::forward` does when its stream ends). A connection that is
    /// already closed counts as closed.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if !self.close_queued {
            match ready!(self.as_mut().poll_flush(cx)) {
                Ok(()) => {}
                Err(Error::Disconnected(_)) => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
            self.close_queued = true;
            let close = Outgoing::Close(CloseCode::NORMAL, String::new());
            if let Err(Error::Disconnected(_)) = self.start(close) {
                return Poll::Ready(Ok(()));
            }
        }
        // Queued, or the connection closed meanwhile: both mean closed.
        let _ = ready!(self.poll_sending(cx));
        Poll::Ready(Ok(()))
    }
}

/// The receiving half of a connection; it implements
/// [`Stream<Item = Message>`](futures_util::Stream), which ends when the connection
/// closes ([`Receiver::disconnect`] then tells why).
///
/// With the [`Sender`]'s `Sink`, an echo is one line:
///
/// ```
/// use futures_util::StreamExt;
/// use wsframe::testing::TestClient;
/// use wsframe::{App, Message, WebSocket};
///
/// async fn echo(ws: WebSocket) -> wsframe::Result<()> {
///     let (sender, receiver) = ws.split();
///     receiver.map(Ok).forward(sender).await // until the client closes
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().websocket("/echo", echo))?;
/// let mut ws = client.connect("/echo").await?;
/// ws.send_text("hello").await?;
/// ws.send_bytes(vec![1u8, 2, 3]).await?;
/// assert_eq!(ws.receive().await?, Message::text("hello"));
/// assert_eq!(ws.receive().await?, Message::binary(vec![1u8, 2, 3]));
/// # Ok(()) }
/// ```
pub struct Receiver {
    shared: Arc<ConnShared>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.inbox.close_reader();
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    pub(crate) fn new(shared: Arc<ConnShared>) -> Receiver {
        Receiver { shared }
    }

    /// Receive the next data message, or [`Error::Disconnected`] with the close code.
    pub async fn receive(&mut self) -> Result<Message> {
        self.shared.implicit_accept()?;
        match std::future::poll_fn(|cx| self.shared.inbox.poll_recv(cx)).await {
            Some(message) => Ok(message),
            None => Err(Error::Disconnected(self.shared.disconnect())),
        }
    }

    /// Receive a text message; a binary one is an [`Error::UnexpectedMessage`].
    pub async fn receive_text(&mut self) -> Result<String> {
        match self.receive().await? {
            Message::Text(text) => Ok(text.as_str().to_owned()),
            other => Err(unexpected("text", &other)),
        }
    }

    /// Receive a binary message; a text one is an [`Error::UnexpectedMessage`].
    pub async fn receive_bytes(&mut self) -> Result<Bytes> {
        match self.receive().await? {
            Message::Binary(bytes) => Ok(bytes),
            other => Err(unexpected("binary", &other)),
        }
    }

    /// Receive a message (text or binary) holding JSON for `T`; one that does not fit is
    /// an [`Error::InvalidMessage`] (returned with `?`, it closes the connection with
    /// 1007).
    pub async fn receive_json<T: DeserializeOwned>(&mut self) -> Result<T> {
        let message = self.receive().await?;
        serde_json::from_slice(message.as_bytes()).map_err(Error::InvalidMessage)
    }

    /// Why the connection ended, once it has.
    pub fn disconnect(&self) -> Option<crate::Disconnect> {
        self.shared
            .inbox
            .is_finished()
            .then(|| self.shared.disconnect())
    }
}

fn unexpected(expected: &'static str, received: &Message) -> Error {
    Error::UnexpectedMessage {
        expected,
        received: received.kind(),
    }
}

impl Stream for Receiver {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        if self.shared.decide_accept(None, HeaderMap::new()).is_err() {
            return Poll::Ready(None);
        }
        self.shared.inbox.poll_recv(cx)
    }
}

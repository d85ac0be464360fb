//! [`Utf8Bytes`]: reference-counted bytes that are known to be UTF-8.

use std::fmt;
use std::str::Utf8Error;

use bytes::{Bytes, BytesMut};
use tokio_tungstenite::tungstenite;

/// Text as reference-counted bytes: cloning it shares the bytes, so one text message can
/// be queued for many connections without copying. It is always valid UTF-8 and reads as
/// a `str`.
///
/// ```
/// use wsframe::Utf8Bytes;
///
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text.as_str(), "héllo");
/// assert_eq!(text, "héllo");
/// assert_eq!(text.len(), 6); // bytes, through `Deref<Target = str>`
///
/// let shared = text.clone(); // no copy of the bytes
/// assert_eq!(bytes::Bytes::from(shared).as_ptr(), text.as_ptr());
///
/// assert!(Utf8Bytes::try_from(vec![0xff, 0xfe]).is_err());
/// ```
//
// The guarantee is carried by the protocol library's own type, kept private: the crate's
// code stays free of `unsafe` and a `&str` view costs no validation on each access.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(tungstenite::Utf8Bytes);

impl Utf8Bytes {
    /// Text from a static string, without copying or allocating.
    ///
    /// ```
    /// const HELLO: wsframe::Utf8Bytes = wsframe::Utf8Bytes::from_static("hello");
    /// assert_eq!(HELLO, "hello");
    /// ```
    pub const fn from_static(text: &'static str) -> Utf8Bytes {
        Utf8Bytes(tungstenite::Utf8Bytes::from_static(text))
    }

    /// The text.
    ///
    /// ```
    /// let text = wsframe::Utf8Bytes::from("hi");
    /// assert_eq!(text.as_str(), "hi");
    /// ```
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The text's bytes, shared (no copy).
    ///
    /// ```
    /// let text = wsframe::Utf8Bytes::from("hi");
    /// assert_eq!(text.as_bytes_shared(), bytes::Bytes::from_static(b"hi"));
    /// ```
    pub fn as_bytes_shared(&self) -> Bytes {
        Bytes::from(self.0.clone())
    }

    pub(crate) fn into_tungstenite(self) -> tungstenite::Utf8Bytes {
        self.0
    }

    pub(crate) fn from_tungstenite(text: tungstenite::Utf8Bytes) -> Utf8Bytes {
        Utf8Bytes(text)
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl AsRef<Bytes> for Utf8Bytes {
    fn as_ref(&self) -> &Bytes {
        self.0.as_ref()
    }
}

impl std::borrow::Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<T> PartialEq<T> for Utf8Bytes
where
    for<'a> &'a str: PartialEq<T>,
{
    fn eq(&self, other: &T) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;

    /// Validates once; the bytes are shared, not copied.
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        tungstenite::Utf8Bytes::try_from(bytes).map(Utf8Bytes)
    }
}

impl TryFrom<BytesMut> for Utf8Bytes {
    type Error = Utf8Error;

    fn try_from(bytes: BytesMut) -> Result<Self, Utf8Error> {
        Utf8Bytes::try_from(bytes.freeze())
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = Utf8Error;

    fn try_from(bytes: Vec<u8>) -> Result<Self, Utf8Error> {
        Utf8Bytes::try_from(Bytes::from(bytes))
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Utf8Bytes(text.into())
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Utf8Bytes(text.into())
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Self {
        Utf8Bytes(text.into())
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0.into()
    }
}

impl From<Utf8Bytes> for String {
    fn from(text: Utf8Bytes) -> Self {
        text.as_str().to_owned()
    }
}

//! [`Key`]: the one type a connection is filed under ([`Hub::set_key`]) and addressed by
//! ([`Hub::send_to_key`]).
//!
//! [`Hub::set_key`]: super::Hub::set_key
//! [`Hub::send_to_key`]: super::Hub::send_to_key

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::sync::Arc;

/// A user key: the name under which [`Hub::set_key`](super::Hub::set_key) files a
/// connection and [`Hub::send_to_key`](super::Hub::send_to_key) finds it again.
///
/// Both take `impl Into<Key>`, so a key is given the same way at both ends: a string, or
/// an integer (its decimal text: `7` and `"7"` are the same key), or a
/// `uuid::Uuid` with the `uuid` feature (its lower-case hyphenated text). Text keys
/// compare byte for byte, so pass the `Uuid` itself rather than a string that may spell
/// it in another form (upper case, without hyphens). For an id type of your own,
/// implement `From<YourId> for Key`. A key is cheap to clone and reads as a `&str`.
///
/// ```
/// use wsframe::Key;
///
/// assert_eq!(Key::from(42u64), Key::from("42"));
/// assert_eq!(Key::from(-1i32).as_str(), "-1");
///
/// struct UserId(u32);
/// impl From<UserId> for Key {
///     fn from(id: UserId) -> Key {
///         Key::from(format!("user-{}", id.0))
///     }
/// }
/// assert_eq!(Key::from(UserId(7)), "user-7");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Arc<str>);

impl Key {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl From<&Key> for Key {
    fn from(key: &Key) -> Key {
        key.clone()
    }
}

impl From<&str> for Key {
    fn from(key: &str) -> Key {
        Key(Arc::from(key))
    }
}

impl From<&String> for Key {
    fn from(key: &String) -> Key {
        Key(Arc::from(key.as_str()))
    }
}

impl From<String> for Key {
    fn from(key: String) -> Key {
        Key(Arc::from(key))
    }
}

impl From<Box<str>> for Key {
    fn from(key: Box<str>) -> Key {
        Key(Arc::from(key))
    }
}

impl From<Arc<str>> for Key {
    fn from(key: Arc<str>) -> Key {
        Key(key)
    }
}

impl From<Cow<'_, str>> for Key {
    fn from(key: Cow<'_, str>) -> Key {
        Key(Arc::from(key))
    }
}

impl From<Key> for String {
    fn from(key: Key) -> String {
        key.0.to_string()
    }
}

/// Integers are keys by their decimal text, so a key set from a `u64` is found by the
/// same `u64` (or by its text, as another node or a client may spell it).
macro_rules! integer_keys {
    ($($int:ty),*) => {$(
        impl From<$int> for Key {
            fn from(key: $int) -> Key {
                Key(Arc::from(key.to_string()))
            }
        }

        impl From<&$int> for Key {
            fn from(key: &$int) -> Key {
                Key::from(*key)
            }
        }
    )*};
}

integer_keys!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

#[cfg(feature = "uuid")]
impl From<uuid::Uuid> for Key {
    /// The hyphenated lower-case form (`67e55044-10b1-426f-9247-bb680e5fe0c8`).
    fn from(key: uuid::Uuid) -> Key {
        Key(Arc::from(key.hyphenated().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn integers_and_their_text_are_one_key() {
        assert_eq!(Key::from(7u64), Key::from("7"));
        assert_eq!(Key::from(&7u8), Key::from(String::from("7")));
        assert_ne!(Key::from(7u64), Key::from("07"));
    }

    #[test]
    fn a_map_of_keys_is_looked_up_by_str() {
        let mut map = HashMap::new();
        map.insert(Key::from(12i64), "twelve");
        assert_eq!(map.get("12"), Some(&"twelve"));
    }
}

//! Reaching Redis: the URL (credentials, `rediss://`), TLS, and the last error met, so
//! that what fails in the background tasks reaches the logs once and the caller of a
//! presence query or a sync.

use std::sync::{Arc, Mutex};

use tracing::{debug, warn};

use super::link::Servers;
use super::{COMMAND_TIMEOUT, lock};
use crate::{Error, Result};

/// Where Redis is, from `url`: one server, or a Redis Cluster when the URL names several
/// nodes separated by commas (`redis://h1:p1,redis://h2:p2,...`). With `ca` (PEM), that
/// CA is the only root trusted.
pub(super) fn servers(url: &str, ca: Option<&[u8]>) -> Result<Servers> {
    let invalid =
        |why: String| Error::custom(format!("invalid Redis URL `{}`: {why}", redacted(url)));
    let urls: Vec<&str> = url.split(',').map(str::trim).collect();
    let mut tls = false;
    for one in &urls {
        if one.contains('#') {
            // The redis crate reads `#insecure` as "accept any certificate".
            return Err(invalid(
                "a fragment (`#insecure`) is refused: certificates are always checked".into(),
            ));
        }
        tls |= one.starts_with("rediss://");
    }
    if tls && !cfg!(feature = "redis-tls") {
        return Err(invalid(
            "`rediss://` needs wsframe's `redis-tls` feature".into(),
        ));
    }
    if tls && urls.iter().any(|one| !one.starts_with("rediss://")) {
        return Err(invalid(
            "the cluster's nodes mix `redis://` and `rediss://`".into(),
        ));
    }
    #[cfg(feature = "redis-tls")]
    if tls {
        // rustls needs a process-wide provider when more than one is compiled in; ring
        // is the one wsframe brings. An application that installed its own keeps it.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    }
    if ca.is_some() && !tls {
        return Err(invalid("a CA certificate is for `rediss://` URLs".into()));
    }
    if urls.len() > 1 {
        for one in &urls {
            redis::Client::open(*one).map_err(|e| invalid(e.to_string()))?;
        }
        let servers = Servers::Cluster {
            urls: urls.iter().map(|one| one.to_string()).collect(),
            ca: ca.map(<[u8]>::to_vec),
        };
        return Ok(servers);
    }
    let client = match ca {
        None => redis::Client::open(url),
        #[cfg(feature = "redis-tls")]
        Some(pem) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        #[cfg(not(feature = "redis-tls"))]
        Some(_) => unreachable!("a CA is refused above without TLS"),
    };
    let client = client.map_err(|e| invalid(e.to_string()))?;
    Ok(Servers::One {
        client: Box::new(client),
        url: url.to_owned(),
        ca: ca.map(<[u8]>::to_vec),
        cluster: Default::default(),
    })
}

/// Every connection attempt and command gives up after [`COMMAND_TIMEOUT`].
pub(super) fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
}

/// `url` with its password (if any) replaced by `***`, for messages and logs.
pub(super) fn redacted(url: &str) -> String {
    url.split(',')
        .map(redacted_one)
        .collect::<Vec<_>>()
        .join(",")
}

fn redacted_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The last `@` ends the credentials: a password may hold `/`, `?` or `#`.
    let Some((userinfo, host_and_path)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or("", |(user, _)| user);
    // A user name with a `/` is no user name: hide it too.
    let user = if user.contains(['/', '?', '#']) {
        ""
    } else {
        user
    };
    format!("{scheme}://{user}:***@{host_and_path}")
}

/// What went wrong reaching Redis, in words that say what to fix.
pub(super) fn explain(e: &redis::RedisError) -> String {
    let text = e.to_string();
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
    {
        format!("Redis refused the credentials in the URL ({text})")
    } else if text.contains("certificate") || text.contains("Certificate") {
        format!(
            "the TLS handshake with Redis failed: its certificate is not trusted (give \
             its CA with `RedisBackplane::ca_certificate`) ({text})"
        )
    } else if text.contains("NOPERM") {
        format!(
            "Redis refused a command to this ACL user: it needs `~PREFIX:*`, `&PREFIX:*` \
             and the commands listed in `RedisBackplane`'s docs ({text})"
        )
    } else {
        text
    }
}

/// The last error met reaching Redis (none once a connection succeeded again).
#[derive(Clone, Default)]
pub(super) struct LastError(Arc<Mutex<Option<String>>>);

impl LastError {
    /// Record a failed attempt; a new kind of failure is logged as a warning, the same
    /// one again (every retry) only at debug level.
    pub(super) fn failed(&self, what: &str, e: &redis::RedisError) {
        let explained = explain(e);
        let mut last = lock(&self.0);
        if last.as_deref() != Some(explained.as_str()) {
            warn!(error = %explained, "{what}");
            *last = Some(explained);
        } else {
            debug!(error = %explained, "{what}");
        }
    }

    pub(super) fn cleared(&self) {
        *lock(&self.0) = None;
    }

    /// `message`, with the last error if there is one.
    pub(super) fn error(&self, message: &str) -> Error {
        match lock(&self.0).as_deref() {
            Some(last) => Error::custom(format!("{message}: {last}")),
            None => Error::custom(message.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted("rediss://ada:s3cret@redis.example:6380/0"),
            "rediss://ada:***@redis.example:6380/0"
        );
        assert_eq!(redacted("redis://:s3cret@h:1"), "redis://:***@h:1");
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
        assert_eq!(
            redacted("rediss://app:Zx9/Qw==@h:6380"),
            "rediss://app:***@h:6380"
        );
        assert_eq!(
            redacted("redis://:a#b@h:1,redis://:a#b@h:2"),
            "redis://:***@h:1,redis://:***@h:2",
            "a cluster's list, node by node"
        );
        let err = servers("redis://:s3cret@h:1/#insecure", None)
            .err()
            .unwrap();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(
            err.to_string().contains("certificates are always checked"),
            "{err}"
        );
    }
}

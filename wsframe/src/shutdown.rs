//! [`shutdown_signal`]: a ready-made shutdown trigger for Ctrl-C and SIGTERM.

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM; pass it to
/// [`Server::run_until`](crate::Server::run_until). [`App::serve`](crate::App::serve)
/// uses it already.
///
/// ```no_run
/// # async fn run(server: wsframe::Server) -> wsframe::Result<()> {
/// server.run_until(wsframe::shutdown_signal()).await
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        _ = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

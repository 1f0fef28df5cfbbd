//! Running the server on a socket: binding, signals (SIGHUP reload, SIGTERM/SIGINT drain).

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::error::ServeError;
use crate::http::app;
use crate::state::AppState;

/// Serves `state` on `config`'s address until SIGTERM or SIGINT, then drains in-flight requests.
///
/// Logs the bound address, warns when no key is configured (no auth), and reloads the model on
/// SIGHUP (a failed reload keeps the old model). Must run inside a Tokio runtime with I/O and
/// timers enabled; [`run`] builds one.
///
/// # Errors
/// [`ServeError::Bind`] when the address cannot be bound; [`ServeError::Io`] when signal
/// handlers cannot be installed or the accept loop fails.
pub async fn serve(config: ServerConfig, state: AppState) -> Result<(), ServeError> {
    let address = format!("{}:{}", config.host(), config.port());
    let listener = TcpListener::bind((config.host(), config.port()))
        .await
        .map_err(|source| ServeError::Bind {
            address: address.clone(),
            source,
        })?;
    let local = listener.local_addr()?;
    if config.auth_required() {
        tracing::info!(address = %local, "finbeh-serve listening; /score requires a bearer key");
    } else {
        tracing::warn!(
            address = %local,
            "finbeh-serve listening WITHOUT authentication: no primary or secondary key is configured"
        );
    }
    spawn_reload_on_sighup(state.clone())?;
    let listener = listener.tap_io(|stream| {
        // Small JSON answers must not wait for Nagle's algorithm.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
    });
    let shutdown = shutdown_signal()?;
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("finbeh-serve stopped after draining in-flight requests");
    Ok(())
}

/// Builds a multi-threaded Tokio runtime with `config.worker_threads()` workers and runs
/// [`serve`] on it.
///
/// # Errors
/// As [`serve`], plus [`ServeError::Io`] when the runtime cannot be built.
pub fn run(config: ServerConfig, state: AppState) -> Result<(), ServeError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = config.worker_threads() {
        builder.worker_threads(threads);
    }
    builder.build()?.block_on(serve(config, state))
}

#[cfg(unix)]
fn spawn_reload_on_sighup(state: AppState) -> Result<(), ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the model");
            let state = state.clone();
            // Loading reads and verifies a file: keep it off the request workers.
            match tokio::task::spawn_blocking(move || state.reload()).await {
                Ok(Ok(path)) => tracing::info!(path = %path.display(), "reload done"),
                Ok(Err(_)) => {} // already logged with every path tried
                Err(err) => tracing::error!(error = %err, "reload task failed"),
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn spawn_reload_on_sighup(_state: AppState) -> Result<(), ServeError> {
    Ok(())
}

#[cfg(unix)]
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: draining in-flight requests"),
            _ = interrupt.recv() => tracing::info!("SIGINT: draining in-flight requests"),
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, ServeError> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

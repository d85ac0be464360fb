//! Server lifecycle shared by every connection: "shutting down" (send 1001 and
//! finish), "terminated" (the grace period is over; drop everything now), and the
//! tracker of every connection task, so that shutdown can wait for them.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Debug, Default)]
pub(crate) struct Lifecycle {
    shutdown: CancellationToken,
    terminate: CancellationToken,
    tasks: TaskTracker,
}

impl Lifecycle {
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    pub(crate) fn terminate(&self) {
        self.shutdown.cancel();
        self.terminate.cancel();
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    pub(crate) async fn shutting_down(&self) {
        self.shutdown.cancelled().await
    }

    pub(crate) async fn terminated(&self) {
        self.terminate.cancelled().await
    }

    /// Spawn a connection task that shutdown waits for.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Wait for every connection task (after accepting has stopped).
    pub(crate) async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await
    }
}

//! Test doubles (FastAPI's `app.dependency_overrides`): a dependency or a guard replaced
//! for one [`TestClient`](crate::testing::TestClient) only. Set through the client,
//! carried by each of its handshakes, consulted where a dependency resolves and where an
//! argument is extracted. Never set in a server: a request without overrides pays one
//! `None` check.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Dependency, FromHandshake, HandshakeRequest, Rejection};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A dependency usable behind a trait object: what replaces dependency `D`.
trait ResolveDyn<O>: Send + Sync {
    fn resolve_dyn<'a>(&'a self, req: &'a HandshakeRequest) -> BoxFuture<'a, Result<O, Rejection>>;
}

impl<F: Dependency> ResolveDyn<F::Output> for F {
    fn resolve_dyn<'a>(
        &'a self,
        req: &'a HandshakeRequest,
    ) -> BoxFuture<'a, Result<F::Output, Rejection>> {
        Box::pin(self.resolve(req))
    }
}

/// The stand-in for a dependency with output `O`.
type DependencyDouble<O> = Arc<dyn ResolveDyn<O>>;

/// The stand-in for an extractor of type `G`.
type GuardDouble<G> = Arc<dyn Fn(&HandshakeRequest) -> Result<G, Rejection> + Send + Sync>;

/// Every double of one client, by the type it replaces.
#[derive(Clone, Default)]
pub(crate) struct Overrides {
    dependencies: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    guards: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Overrides {
    /// Resolve `replacement` wherever dependency `D` is asked for.
    pub(crate) fn dependency<D: Dependency, F: Dependency<Output = D::Output>>(
        &mut self,
        replacement: F,
    ) {
        let double: DependencyDouble<D::Output> = Arc::new(replacement);
        self.dependencies
            .insert(TypeId::of::<D>(), Arc::new(double));
    }

    /// Call `double` wherever an argument (or a route guard) of type `G` is extracted.
    pub(crate) fn guard<G: FromHandshake + 'static>(
        &mut self,
        double: impl Fn(&HandshakeRequest) -> Result<G, Rejection> + Send + Sync + 'static,
    ) {
        let double: GuardDouble<G> = Arc::new(double);
        self.guards.insert(TypeId::of::<G>(), Arc::new(double));
    }

    /// The output of the double standing in for `D`, if there is one.
    pub(crate) async fn resolve<D: Dependency>(
        &self,
        req: &HandshakeRequest,
    ) -> Option<Result<D::Output, Rejection>> {
        let double = self
            .dependencies
            .get(&TypeId::of::<D>())?
            .downcast_ref::<DependencyDouble<D::Output>>()?
            .clone();
        Some(double.resolve_dyn(req).await)
    }

    /// What the double standing in for `G` gives, if there is one.
    pub(crate) fn extract<G: 'static>(
        &self,
        req: &HandshakeRequest,
    ) -> Option<Result<G, Rejection>> {
        let double = self
            .guards
            .get(&TypeId::of::<G>())?
            .downcast_ref::<GuardDouble<G>>()?;
        Some(double(req))
    }
}

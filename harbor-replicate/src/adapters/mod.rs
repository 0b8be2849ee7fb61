//! The built-in adapters.

mod docker_registry;
mod local;

pub use docker_registry::DockerRegistry;
pub use local::{collect, Local, PrepareHook};

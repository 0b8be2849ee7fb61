//! The built-in adapters: [`DockerRegistry`] for any OCI distribution
//! registry, [`Harbor`] for a Harbor (distribution plus projects), and
//! [`Local`] for the embedded engine. The HTTP plumbing the two remote ones
//! share (TLS, challenges and tokens, paging, chunked pushes) is in `http`.

mod docker_registry;
mod harbor;
mod http;
mod local;

pub use docker_registry::DockerRegistry;
pub use harbor::Harbor;
pub use local::{collect, Local, PrepareHook};

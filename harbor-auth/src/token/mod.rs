//! The Docker registry token service: scopes in, signed JWTs out.

pub mod jwt;
pub mod keys;
pub mod scope;
mod service;

pub use jwt::{Claims, Expiry};
pub use keys::SigningKey;
pub use scope::{Access, ScopeAction};
pub use service::{IssuedToken, TokenConfig, TokenService};

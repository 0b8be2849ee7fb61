//! The token service the token targets verify with, built once per process,
//! and one token it signed.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use harbor_auth::token::jwt::{self, unix};
use harbor_auth::{
    Access, Claims, RbacAuthorizer, ScopeAction, SigningKey, TokenConfig, TokenService,
};
use harbor_storage::SqliteMetaStore;

/// A token service over an empty in-memory store, with Harbor's default
/// issuer and service, and a token it signed: a day long, granting
/// `repository:library/app:pull,push`.
pub struct Tokens {
    pub service: TokenService,
    pub token: String,
    pub claims: Claims,
}

/// The process's token service and token.
pub fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let store = Arc::new(SqliteMetaStore::in_memory().expect("an in-memory database opens"));
        let authorizer = Arc::new(RbacAuthorizer::new(store.clone(), true));
        let key = SigningKey::ephemeral().expect("a key is generated");
        let config = TokenConfig::default();
        let now = unix(SystemTime::now());
        let claims = Claims {
            iss: config.issuer.clone(),
            sub: "admin".into(),
            aud: config.service.clone(),
            exp: now + Duration::from_secs(24 * 3600).as_secs(),
            nbf: now - 1,
            iat: now - 1,
            jti: "fuzz".into(),
            access: vec![Access {
                kind: "repository".into(),
                name: "library/app".into(),
                actions: vec![ScopeAction::Pull, ScopeAction::Push],
            }],
        };
        let token = jwt::sign(&key, &claims).expect("the token is signed");
        let service = TokenService::new(Arc::new(key), config, store, authorizer);
        assert!(service.verify(&token, harbor_auth::Expiry::Enforce).is_ok());
        Tokens {
            service,
            token,
            claims,
        }
    })
}

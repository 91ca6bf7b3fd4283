//! Access tokens: short-lived HS256 JWTs with a key id (`kid`) in the header, so keys can rotate. The algorithm is
//! pinned: a token whose header names another algorithm (`none`, RS256, …) or an unknown key id is refused before
//! its signature is even looked at.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use linli_sync_core::ids::ReplicaId;
use linli_sync_core::rights::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use crate::error::ApiError;
use crate::identity::User;

/// The one algorithm accepted.
pub const ALGORITHM: Algorithm = Algorithm::HS256;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The device (replica), for device tokens; absent for web logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// The role when issued (the stored role is what counts).
    pub role: Role,
    /// Issued at (seconds).
    pub iat: u64,
    /// Expires at (seconds).
    pub exp: u64,
}

/// Signing and verification keys.
#[derive(Clone)]
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    ttl_secs: u64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Keys from a secret; `kid` defaults to a fingerprint of the secret.
    pub fn new(secret: &str, kid: Option<String>, ttl_secs: u64) -> Keys {
        let kid = kid.unwrap_or_else(|| {
            let d = Sha256::digest(secret.as_bytes());
            d.iter().take(6).map(|b| format!("{b:02x}")).collect()
        });
        let mut decoding = HashMap::new();
        decoding.insert(kid.clone(), DecodingKey::from_secret(secret.as_bytes()));
        Keys {
            kid,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding,
            ttl_secs,
        }
    }

    /// The key id new tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Access token lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Issues an access token.
    pub fn issue(
        &self,
        user: &User,
        device: Option<ReplicaId>,
        now_secs: u64,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user.id.to_string(),
            dev: device.map(|d| d.to_string()),
            role: user.role,
            iat: now_secs,
            exp: now_secs + self.ttl_secs,
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| ApiError::Internal {
            detail: format!("signing: {e}"),
        })
    }

    /// Verifies a token: pinned algorithm, known key id, signature, expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let invalid = |detail: &str| ApiError::Unauthorized {
            code: "invalid_token",
            detail: detail.to_string(),
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is not a JWT"))?;
        if header.alg != ALGORITHM {
            return Err(invalid("the token's algorithm is not accepted"));
        }
        let key = header
            .kid
            .as_ref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or_else(|| invalid("the token's key id is unknown"))?;
        let mut validation = Validation::new(ALGORITHM);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match jsonwebtoken::decode::<Claims>(token, key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                Err(ApiError::Unauthorized {
                    code: "token_expired",
                    detail: "the access token has expired; refresh it".into(),
                })
            }
            Err(_) => Err(invalid("the token's signature or claims are invalid")),
        }
    }
}

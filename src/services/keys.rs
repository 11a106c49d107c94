//! The keys that sign tokens: ES256 (P-256), made on first start and kept in the database so
//! that every instance signs and checks with the same ones. `rollcall rotate-keys` makes a new
//! key and retires the old one; a retired key still checks tokens until the last one it signed
//! has expired, and is then deleted. Each instance reads the keys again every minute, and at
//! once when a token names a key it does not know, so a rotation on one is seen by all.
//!
//! A signature only proves that this server wrote a token: whether it is still good is decided
//! by its row in the database (see `tokens`).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use diesel::prelude::*;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ServiceError, new_id, now};
use crate::db::DbConn;
use crate::db::schema::signing_keys;

/// How long a retired key keeps checking tokens: longer than any token it signed lives.
const RETIRED_KEY_GRACE_SECONDS: i64 = 2 * super::tokens::LIFETIME_SECONDS;
/// How often an instance looks for keys made elsewhere (sooner when it meets a key id it
/// does not know, or is asked for the public keys).
const RELOAD_EVERY: StdDuration = StdDuration::from_secs(60);

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
    retired: bool,
}

struct Loaded {
    /// Newest first.
    keys: Vec<Key>,
    at: Instant,
}

/// Signs and checks tokens with the server's keys.
#[derive(Clone)]
pub struct KeyRing {
    issuer: String,
    loaded: Arc<RwLock<Arc<Loaded>>>,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("signing keys: {e}"))
}

/// A new P-256 private key, as base64 PKCS#8.
fn generate() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    loop {
        rand::rng().fill_bytes(&mut bytes);
        // Fails only for the (astronomically rare) values outside the curve's order.
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            let der = secret.to_pkcs8_der().map_err(internal)?;
            return Ok(STANDARD.encode(der.as_bytes()));
        }
    }
}

fn insert_new(conn: &mut DbConn) -> Result<String, ServiceError> {
    let kid = new_id();
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::id.eq(&kid),
            signing_keys::private_key.eq(generate()?),
            signing_keys::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(kid)
}

fn key_of(kid: String, private_key: &str, retired: bool) -> Result<Key, ServiceError> {
    let der = STANDARD.decode(private_key).map_err(internal)?;
    let encoding = EncodingKey::from_ec_der(&der);
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).map_err(internal)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
    let decoding = DecodingKey::from_jwk(&jwk).map_err(internal)?;
    Ok(Key {
        kid,
        encoding,
        decoding,
        jwk,
        retired,
    })
}

/// The keys still in use: signing, or retired recently enough to check tokens, newest first.
fn kept() -> signing_keys::BoxedQuery<'static, crate::db::MultiBackend> {
    let oldest_kept = now() - Duration::seconds(RETIRED_KEY_GRACE_SECONDS);
    signing_keys::table
        .filter(
            signing_keys::retired_at
                .is_null()
                .or(signing_keys::retired_at.gt(oldest_kept)),
        )
        .order((signing_keys::created_at.desc(), signing_keys::id.desc()))
        .into_boxed()
}

fn load(conn: &mut DbConn) -> Result<Loaded, ServiceError> {
    let rows: Vec<(String, String, Option<chrono::NaiveDateTime>)> = kept()
        .select((
            signing_keys::id,
            signing_keys::private_key,
            signing_keys::retired_at,
        ))
        .load(conn)?;
    let keys = rows
        .into_iter()
        .map(|(kid, private_key, retired_at)| key_of(kid, &private_key, retired_at.is_some()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded {
        keys,
        at: Instant::now(),
    })
}

/// Makes a new signing key and retires the others; deletes keys retired long enough ago that
/// no token they signed is still alive. The new key's id.
pub fn rotate(conn: &mut DbConn) -> Result<String, ServiceError> {
    crate::db::transaction(conn, |conn| {
        let at = now();
        diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
            .set(signing_keys::retired_at.eq(Some(at)))
            .execute(conn)?;
        diesel::delete(signing_keys::table.filter(
            signing_keys::retired_at.lt(at - Duration::seconds(RETIRED_KEY_GRACE_SECONDS)),
        ))
        .execute(conn)?;
        insert_new(conn)
    })
}

impl KeyRing {
    /// The keys in the database, after making the first one when there is none.
    pub fn open(conn: &mut DbConn, issuer: &str) -> Result<KeyRing, ServiceError> {
        let signing: i64 = signing_keys::table
            .filter(signing_keys::retired_at.is_null())
            .count()
            .get_result(conn)?;
        if signing == 0 {
            insert_new(conn)?;
        }
        Ok(KeyRing {
            issuer: issuer.to_owned(),
            loaded: Arc::new(RwLock::new(Arc::new(load(conn)?))),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn reload(
        &self,
        conn: &mut DbConn,
        older_than: StdDuration,
    ) -> Result<Arc<Loaded>, ServiceError> {
        let current = self.snapshot();
        if current.at.elapsed() < older_than {
            return Ok(current);
        }
        let fresh = Arc::new(load(conn)?);
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        Ok(fresh)
    }

    /// The keys, read again at once if the database's differ from those loaded (one query of
    /// their ids; a rotation made by another instance or the command is seen at once).
    fn current(&self, conn: &mut DbConn) -> Result<Arc<Loaded>, ServiceError> {
        let loaded = self.snapshot();
        let kept: Vec<String> = kept().select(signing_keys::id).load(conn)?;
        if kept.iter().eq(loaded.keys.iter().map(|k| &k.kid)) {
            return Ok(loaded);
        }
        self.reload(conn, StdDuration::ZERO)
    }

    /// Signs claims with the newest key.
    pub fn sign<C: Serialize>(
        &self,
        conn: &mut DbConn,
        claims: &C,
    ) -> Result<String, ServiceError> {
        let loaded = self.reload(conn, RELOAD_EVERY)?;
        let key = loaded
            .keys
            .iter()
            .find(|k| !k.retired)
            .or_else(|| loaded.keys.first())
            .ok_or_else(|| internal("no signing key"))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(internal)
    }

    /// The claims of a token one of the keys signed, unexpired and from this issuer; `None`
    /// for anything else.
    pub fn verify<C: DeserializeOwned>(&self, conn: &mut DbConn, token: &str) -> Option<C> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let mut loaded = self.reload(conn, RELOAD_EVERY).ok()?;
        if !loaded.keys.iter().any(|k| k.kid == kid) {
            loaded = self.current(conn).ok()?;
        }
        let key = loaded.keys.iter().find(|k| k.kid == kid)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.leeway = 0;
        jsonwebtoken::decode::<C>(token, &key.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self, conn: &mut DbConn) -> Result<JwkSet, ServiceError> {
        // Relying parties fetch this when they meet a new key id: it must show keys just made.
        let loaded = self.current(conn)?;
        Ok(JwkSet {
            keys: loaded.keys.iter().map(|k| k.jwk.clone()).collect(),
        })
    }
}

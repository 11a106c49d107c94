//! Argon2id, in one place. Hashing is deliberately slow and memory-hungry, so it runs on the
//! blocking pool and at most `permits` at a time.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::ServiceError;

/// OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

fn argon2() -> Result<Argon2<'static>, ServiceError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_now(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
        .to_string())
}

fn verify_now(hash: &str, password: &str) -> Result<bool, ServiceError> {
    let parsed =
        PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
    Ok(argon2()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Verified against when an account has no password, so that both cases cost one hash.
    dummy_hash: Arc<String>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Result<Hasher, ServiceError> {
        Ok(Hasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: Arc::new(hash_now("not a real password, only spends time")?),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| anyhow::anyhow!("hasher closed: {e}"))?;
        actix_web::web::block(f)
            .await
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    pub async fn hash(&self, password: &str) -> Result<String, ServiceError> {
        let password = password.to_owned();
        self.run(move || hash_now(&password)).await
    }

    /// Checks a password against a stored hash; with no hash, spends the same time and fails.
    pub async fn verify(&self, hash: Option<&str>, password: &str) -> Result<bool, ServiceError> {
        let password = password.to_owned();
        match hash {
            Some(h) => {
                let h = h.to_owned();
                self.run(move || verify_now(&h, &password)).await
            }
            None => {
                let dummy = Arc::clone(&self.dummy_hash);
                self.run(move || verify_now(&dummy, &password).map(|_| false))
                    .await
            }
        }
    }
}

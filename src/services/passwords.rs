//! Argon2id, in one place. Hashing is deliberately slow and memory-hungry (19 MiB a hash), so
//! it runs on a small pool of its own threads, separate from the request workers and the
//! database's blocking pool. Each thread keeps one Argon2 work area and reuses it, so the
//! memory hashing takes is `workers × 19 MiB` whatever the load; sign-ins beyond what the pool
//! and its bounded queue hold are refused at once (503 with `Retry-After`) rather than queued
//! without end.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use super::ServiceError;

/// OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;
/// What a refused sign-in is told to wait, in seconds: the queue drains within a second.
const RETRY_AFTER_SECONDS: u64 = 1;

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn owasp_params() -> Result<Params, ServiceError> {
    Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}").into())
}

/// A worker's reusable Argon2 work area, grown when a stored hash asks for more memory.
struct WorkArea(Vec<Block>);

impl WorkArea {
    fn for_params(&mut self, params: &Params) -> &mut [Block] {
        let blocks = params.block_count();
        if self.0.len() < blocks {
            self.0.resize(blocks, Block::default());
        }
        &mut self.0[..blocks]
    }
}

fn hash_with(area: &mut WorkArea, password: &str) -> Result<String, ServiceError> {
    let fail = |e: &dyn std::fmt::Display| ServiceError::from(anyhow::anyhow!("hashing: {e}"));
    let params = owasp_params()?;
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2(params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            area.for_params(&params),
        )
        .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

fn verify_with(area: &mut WorkArea, hash: &str, password: &str) -> Result<bool, ServiceError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        ServiceError::from(anyhow::anyhow!("stored hash unreadable: {e}"))
    };
    let parsed = PasswordHash::new(hash).map_err(|e| unreadable(&e))?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(unreadable(&parsed.algorithm));
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(unreadable(&"no salt or no hash"));
    };
    let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| unreadable(&e))?;
    let mut out = vec![0u8; expected.len()];
    argon2(params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            area.for_params(&params),
        )
        .map_err(|e| unreadable(&e))?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(|e| unreadable(&e))? == expected)
}

type Job = Box<dyn FnOnce(&mut WorkArea) + Send>;

/// A hashing thread yields the processor to page requests (nice 9 on Linux): a crowd of
/// sign-ins then slows sign-ins, not everyone else's pages.
fn lower_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};
    let lowered = ThreadPriorityValue::try_from(23u8)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            set_current_thread_priority(ThreadPriority::Crossplatform(p)).map_err(|e| e.to_string())
        });
    if let Err(e) = lowered {
        tracing::warn!(error = %e, "could not lower the priority of a hashing thread");
    }
}

fn worker(jobs: Arc<std::sync::Mutex<Receiver<Job>>>) {
    lower_priority();
    let mut area = WorkArea(Vec::new());
    loop {
        // The lock is held only while waiting for the next job, not while hashing.
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut area),
            Err(_) => return,
        }
    }
}

/// The pool: `workers` threads, and at most `queue` requests waiting for one.
#[derive(Clone)]
pub struct Hasher {
    jobs: SyncSender<Job>,
    /// Verified against when an account has no password, so that both cases cost one hash.
    dummy_hash: Arc<String>,
}

impl Hasher {
    pub fn new(workers: usize, queue: usize) -> Result<Hasher, ServiceError> {
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        for i in 0..workers.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("rollcall-hash-{i}"))
                .spawn(move || worker(receiver))
                .map_err(|e| anyhow::anyhow!("cannot start a hashing thread: {e}"))?;
        }
        let dummy_hash = hash_with(
            &mut WorkArea(Vec::new()),
            "not a real password, only spends time",
        )?;
        Ok(Hasher {
            jobs,
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WorkArea) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |area| {
            // The asker may have gone (the client hung up); nothing to tell then.
            let _ = reply.send(f(area));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("password hashing queue full: refusing a request");
                return Err(ServiceError::Busy(RETRY_AFTER_SECONDS));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(anyhow::anyhow!("the hashing threads have stopped").into());
            }
        }
        answer
            .await
            .map_err(|_| ServiceError::from(anyhow::anyhow!("a hashing thread failed")))?
    }

    pub async fn hash(&self, password: &str) -> Result<String, ServiceError> {
        let password = password.to_owned();
        self.run(move |area| hash_with(area, &password)).await
    }

    /// Checks a password against a stored hash; with no hash, spends the same time and fails.
    pub async fn verify(&self, hash: Option<&str>, password: &str) -> Result<bool, ServiceError> {
        let password = password.to_owned();
        match hash {
            Some(h) => {
                let h = h.to_owned();
                self.run(move |area| verify_with(area, &h, &password)).await
            }
            None => {
                let dummy = Arc::clone(&self.dummy_hash);
                self.run(move |area| verify_with(area, &dummy, &password).map(|_| false))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn a_hash_verifies_its_password_only() {
        let mut area = WorkArea(Vec::new());
        let hash = hash_with(&mut area, "correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_with(&mut area, &hash, "correct horse").unwrap());
        assert!(!verify_with(&mut area, &hash, "correct horsE").unwrap());
    }

    #[test]
    fn hashes_are_interchangeable_with_the_argon2_crates_own() {
        let mut area = WorkArea(Vec::new());
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let stored = argon2(owasp_params().unwrap())
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&mut area, &stored, "battery staple").unwrap());
        let ours = hash_with(&mut area, "battery staple").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"battery staple", &parsed)
                .is_ok()
        );
    }

    #[test]
    fn a_stored_hash_with_more_memory_still_verifies() {
        let mut area = WorkArea(Vec::new());
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let params = Params::new(32 * 1024, 1, 1, None).unwrap();
        let stored = argon2(params)
            .hash_password(b"more memory", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&mut area, &stored, "more memory").unwrap());
        assert!(verify_with(&mut area, "not a hash", "x").is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_past_the_queue_are_refused_not_queued() {
        let hasher = Hasher::new(1, 2).unwrap();
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash("a password").await })
            })
            .collect();
        let mut done = 0;
        let mut busy = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => done += 1,
                Err(ServiceError::Busy(seconds)) => {
                    assert_eq!(seconds, RETRY_AFTER_SECONDS);
                    busy += 1;
                }
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!(done + busy, 12);
        assert!(done >= 1, "the pool works");
        assert!(
            busy >= 1,
            "one thread and a queue of two cannot hold twelve at once"
        );
    }
}

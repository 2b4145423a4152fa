//! A small pool of ONNX Runtime sessions over one model file.
//!
//! `Session::run` needs `&mut Session`, so one session serves one call at a time. Rather
//! than one global lock, a handle keeps up to `max` sessions and creates them lazily: a
//! single-threaded user pays for one session, concurrent users get parallel progress.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ort::session::Session;
use parking_lot::{Condvar, Mutex};

use crate::error::Result;
use crate::runtime::{build_session, ActiveProvider, SessionConfig};

pub(crate) struct SessionPool {
    model: PathBuf,
    config: SessionConfig,
    max: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
    provider: ActiveProvider,
}

struct PoolState {
    idle: Vec<Session>,
    created: usize,
}

impl SessionPool {
    /// Build the first session now (so load errors surface at load time), the rest on demand.
    pub fn new(model: &Path, config: SessionConfig, max: usize) -> Result<(Self, Session)> {
        let (first, provider) = build_session(model, &config)?;
        let pool = Self {
            model: model.to_path_buf(),
            config,
            max: max.max(1),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                created: 1,
            }),
            returned: Condvar::new(),
            provider,
        };
        Ok((pool, first))
    }

    /// Hand the session returned by [`SessionPool::new`] (after inspecting it) to the pool.
    pub fn put(&self, session: Session) {
        self.state.lock().idle.push(session);
        self.returned.notify_one();
    }

    pub fn provider(&self) -> &ActiveProvider {
        &self.provider
    }

    /// Take an idle session, create one if under the limit, or wait for one to come back.
    pub fn acquire(&self) -> Result<PooledSession<'_>> {
        self.acquire_unless(&|| false)
            .map(|session| session.expect("never cancelled"))
    }

    /// As [`SessionPool::acquire`], but gives up (`Ok(None)`) as soon as `cancelled()` is
    /// true, also while waiting for a session: a queued call must not wait for a running
    /// one to finish before it sees its cancel.
    pub fn acquire_unless(
        &self,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<PooledSession<'_>>> {
        // A cancel is a flag set from any thread, not a notification of this condition
        // variable; a waiter looks at it every few milliseconds (well inside the 50 ms a
        // cancel may take) instead of sleeping until a session comes back.
        const CANCEL_POLL: Duration = Duration::from_millis(5);
        let mut state = self.state.lock();
        loop {
            if cancelled() {
                return Ok(None);
            }
            if let Some(session) = state.idle.pop() {
                return Ok(Some(PooledSession {
                    pool: self,
                    session: Some(session),
                }));
            }
            if state.created < self.max {
                state.created += 1;
                drop(state);
                // Built outside the lock so that other threads keep using the idle sessions.
                return match build_session(&self.model, &self.config) {
                    Ok((session, _)) => Ok(Some(PooledSession {
                        pool: self,
                        session: Some(session),
                    })),
                    Err(err) => {
                        self.state.lock().created -= 1;
                        self.returned.notify_one();
                        Err(err)
                    }
                };
            }
            self.returned.wait_for(&mut state, CANCEL_POLL);
        }
    }
}

/// A session on loan from the pool; it goes back when dropped.
pub(crate) struct PooledSession<'a> {
    pool: &'a SessionPool,
    session: Option<Session>,
}

impl Deref for PooledSession<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session.as_ref().expect("session present until drop")
    }
}

impl DerefMut for PooledSession<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session.as_mut().expect("session present until drop")
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.put(session);
        }
    }
}

//! Binding MCP sessions to the subject that created them (MCP 2025-11-25 security best
//! practices, "Session Hijacking"; checklist H4).
//!
//! rmcp hands out `Mcp-Session-Id`s but does not know who asked. The bearer middleware
//! records `session id → sub` when an `initialize` response carries a new session id, and
//! refuses (404, as for an unknown session) a request whose valid token belongs to another
//! subject. Every request is still authenticated by its own token: the session never
//! authenticates anything.

#[allow(clippy::disallowed_types)] // process-internal map, never serialised
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What the binding table says about a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Not bound (unknown to this server: rmcp will answer 404).
    Unknown,
    /// Bound to this subject.
    Same,
    /// Bound to another subject.
    Other,
}

/// `session id → subject`, bounded.
#[derive(Debug)]
pub struct SessionBindings {
    #[allow(clippy::disallowed_types)] // process-internal map, never serialised
    entries: Mutex<HashMap<String, Entry>>,
    idle_timeout: Duration,
    max_entries: usize,
}

#[derive(Debug)]
struct Entry {
    subject: String,
    last_seen: Instant,
}

impl SessionBindings {
    /// A table dropping bindings idle for longer than `idle_timeout` once it holds more than
    /// `max_entries`.
    pub fn new(idle_timeout: Duration, max_entries: usize) -> Self {
        Self {
            entries: Mutex::new(Default::default()),
            idle_timeout,
            max_entries,
        }
    }

    /// Looks `session_id` up for `subject`, refreshing its idle time when it matches.
    pub fn check(&self, session_id: &str, subject: &str) -> Binding {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get_mut(session_id) {
            None => Binding::Unknown,
            Some(entry) if entry.subject == subject => {
                entry.last_seen = Instant::now();
                Binding::Same
            }
            Some(_) => Binding::Other,
        }
    }

    /// Binds a new session to `subject`.
    pub fn bind(&self, session_id: String, subject: String) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries {
            let idle = self.idle_timeout;
            entries.retain(|_, e| e.last_seen.elapsed() < idle);
        }
        entries.insert(
            session_id,
            Entry {
                subject,
                last_seen: Instant::now(),
            },
        );
    }

    /// Forgets a session (deleted, or unknown to rmcp).
    pub fn unbind(&self, session_id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session_id);
    }

    /// How many sessions are bound.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_answers_only_to_its_subject() {
        let b = SessionBindings::new(Duration::from_secs(60), 10);
        assert_eq!(b.check("s1", "alice"), Binding::Unknown);
        b.bind("s1".into(), "alice".into());
        assert_eq!(b.check("s1", "alice"), Binding::Same);
        assert_eq!(b.check("s1", "bob"), Binding::Other);
        b.unbind("s1");
        assert_eq!(b.check("s1", "alice"), Binding::Unknown);
    }

    #[test]
    fn idle_bindings_are_dropped_when_the_table_is_full() {
        let b = SessionBindings::new(Duration::ZERO, 2);
        b.bind("a".into(), "x".into());
        b.bind("b".into(), "x".into());
        b.bind("c".into(), "x".into());
        assert_eq!(b.len(), 1);
        assert_eq!(b.check("c", "x"), Binding::Same);
    }
}

//! Binding MCP sessions to the subject that created them (MCP 2025-11-25 security best
//! practices, "Session Hijacking"; checklist H4).
//!
//! rmcp hands out `Mcp-Session-Id`s but does not know who asked. The bearer middleware
//! records `session id → sub` when an `initialize` response carries a new session id, and
//! refuses (404, as for an unknown session) a request whose valid token belongs to another
//! subject, or whose session id is not bound (any more). Every request is still
//! authenticated by its own token: the session never authenticates anything.
//!
//! The table is bounded. A bind into a full table evicts one binding chosen by the CLOCK
//! (second chance) rule: a binding used since the clock hand last passed it is spared (its
//! mark cleared), the first one not used since is evicted. Each pass of the hand clears the
//! marks it skips, so a bind costs O(1) amortised, whatever the table holds; a lookup only
//! sets a mark. Sessions in use are thus kept before idle ones, and an evicted session gets
//! 404 on its next request (the client opens a new one), never a session open to anyone.

#[allow(clippy::disallowed_types)] // process-internal map, never serialised
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the binding table says about a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Not bound: never bound here, unbound, or evicted.
    Unknown,
    /// Bound to this subject.
    Same,
    /// Bound to another subject.
    Other,
}

/// `session id → subject`, holding at most `max_entries` bindings.
#[derive(Debug)]
pub struct SessionBindings {
    table: Mutex<Table>,
}

/// The bindings in a vector the clock hand walks, and where each id sits in it.
#[derive(Debug, Default)]
struct Table {
    #[allow(clippy::disallowed_types)] // process-internal map, never serialised
    slots_by_id: HashMap<Arc<str>, usize>,
    slots: Vec<Slot>,
    hand: usize,
    max_entries: usize,
}

#[derive(Debug)]
struct Slot {
    session_id: Arc<str>,
    subject: String,
    /// Used since the hand last passed.
    used: bool,
}

impl SessionBindings {
    /// A table of at most `max_entries` bindings (at least one).
    pub fn new(max_entries: usize) -> Self {
        Self {
            table: Mutex::new(Table {
                max_entries: max_entries.max(1),
                ..Table::default()
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks `session_id` up for `subject`, marking the binding used when it matches.
    pub fn check(&self, session_id: &str, subject: &str) -> Binding {
        let mut table = self.table();
        let Some(&index) = table.slots_by_id.get(session_id) else {
            return Binding::Unknown;
        };
        let slot = &mut table.slots[index];
        if slot.subject == subject {
            slot.used = true;
            Binding::Same
        } else {
            Binding::Other
        }
    }

    /// Binds a new session to `subject`; in a full table, first evicts one binding (see the
    /// module docs).
    pub fn bind(&self, session_id: &str, subject: &str) {
        let mut table = self.table();
        let slot = Slot {
            session_id: Arc::from(session_id),
            subject: subject.to_owned(),
            used: false,
        };
        if let Some(&index) = table.slots_by_id.get(session_id) {
            table.slots[index] = slot;
            return;
        }
        let index = if table.slots.len() < table.max_entries {
            table.slots.push(slot);
            table.slots.len() - 1
        } else {
            let index = table.evict();
            table.slots[index] = slot;
            index
        };
        let id = table.slots[index].session_id.clone();
        table.slots_by_id.insert(id, index);
    }

    /// Forgets a session (deleted, or unknown to rmcp).
    pub fn unbind(&self, session_id: &str) {
        let mut table = self.table();
        let Some(index) = table.slots_by_id.remove(session_id) else {
            return;
        };
        table.slots.swap_remove(index);
        if let Some(moved) = table.slots.get(index) {
            let id = moved.session_id.clone();
            table.slots_by_id.insert(id, index);
        }
        if table.hand >= table.slots.len() {
            table.hand = 0;
        }
    }

    /// How many sessions are bound.
    pub fn len(&self) -> usize {
        self.table().slots.len()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Table {
    /// Advances the hand to the first binding not used since its last pass, clearing the
    /// marks on the way; forgets that binding's id and returns its slot (to be reused).
    /// The table is not empty.
    fn evict(&mut self) -> usize {
        loop {
            let index = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[index];
            if slot.used {
                slot.used = false;
            } else {
                let id = slot.session_id.clone();
                self.slots_by_id.remove(&id);
                return index;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_answers_only_to_its_subject() {
        let b = SessionBindings::new(10);
        assert_eq!(b.check("s1", "alice"), Binding::Unknown);
        b.bind("s1", "alice");
        assert_eq!(b.check("s1", "alice"), Binding::Same);
        assert_eq!(b.check("s1", "bob"), Binding::Other);
        b.unbind("s1");
        assert_eq!(b.check("s1", "alice"), Binding::Unknown);
    }

    #[test]
    fn a_full_table_evicts_an_unused_binding_and_keeps_the_used_ones() {
        let b = SessionBindings::new(3);
        for id in ["a", "b", "c"] {
            b.bind(id, "x");
        }
        // a and c are in use, b is idle
        assert_eq!(b.check("a", "x"), Binding::Same);
        assert_eq!(b.check("c", "x"), Binding::Same);
        b.bind("d", "x");
        assert_eq!(b.len(), 3);
        assert_eq!(b.check("b", "x"), Binding::Unknown, "the idle one goes");
        for id in ["a", "c", "d"] {
            assert_eq!(b.check(id, "x"), Binding::Same, "{id} is kept");
        }
    }

    #[test]
    fn the_bound_holds_when_every_binding_is_in_use() {
        let max = 50;
        let b = SessionBindings::new(max);
        for i in 0..10 * max {
            let id = i.to_string();
            b.bind(&id, "x");
            assert!(b.len() <= max, "{} bindings", b.len());
            assert_eq!(b.check(&id, "x"), Binding::Same, "a new binding is kept");
            // every binding still held is in use
            for j in i.saturating_sub(max - 1)..i {
                let _ = b.check(&j.to_string(), "x");
            }
        }
        assert_eq!(b.len(), max);
    }

    #[test]
    fn unbinding_keeps_every_other_binding_reachable() {
        let b = SessionBindings::new(4);
        for id in ["a", "b", "c", "d"] {
            b.bind(id, id);
        }
        b.unbind("a"); // the last slot moves into the first
        b.unbind("nope");
        assert_eq!(b.len(), 3);
        for id in ["b", "c", "d"] {
            assert_eq!(b.check(id, id), Binding::Same, "{id}");
        }
        b.bind("e", "e");
        b.bind("f", "f"); // full again: b, c and d are in use, e is not
        assert_eq!(b.len(), 4);
        assert_eq!(b.check("e", "e"), Binding::Unknown);
        for id in ["b", "c", "d", "f"] {
            assert_eq!(b.check(id, id), Binding::Same, "{id}");
            b.unbind(id);
        }
        assert!(b.is_empty());
        b.bind("g", "g");
        assert_eq!(b.check("g", "g"), Binding::Same);
    }
}

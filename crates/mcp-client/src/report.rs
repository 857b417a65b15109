//! Step-by-step reporting: every protocol step the client takes is recorded as a numbered
//! [`Step`] and, depending on the [`OutputMode`], printed to stderr as it happens.
//!
//! Steps never carry a token, code, verifier or secret: callers put only URLs, client ids,
//! scopes, methods and lifetimes into them.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

/// How steps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Numbered human-readable lines on stderr; `verbose` adds the details.
    Human {
        /// Print each step's details too.
        verbose: bool,
    },
    /// Nothing while running; the caller prints the recorded steps as JSON at the end.
    Json,
    /// Nothing at all (tests, libraries).
    Silent,
}

/// One step of the journey.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    /// 1-based position.
    pub n: usize,
    /// Machine-readable kind, e.g. `discovery.prm`, `registration.dcr`, `token.refresh`.
    pub kind: String,
    /// What happened, for people.
    pub message: String,
    /// Structured details (never secrets).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

/// Records and prints steps. Cheap to clone; clones share the record.
#[derive(Debug, Clone)]
pub struct Reporter {
    mode: OutputMode,
    steps: Arc<Mutex<Vec<Step>>>,
}

impl Reporter {
    /// A reporter in `mode`.
    pub fn new(mode: OutputMode) -> Self {
        Self {
            mode,
            steps: Arc::default(),
        }
    }

    /// A reporter that prints nothing (tests read [`Reporter::steps`]).
    pub fn silent() -> Self {
        Self::new(OutputMode::Silent)
    }

    /// The output mode.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    /// Records a step and prints it in human mode.
    pub fn step(&self, kind: &str, message: impl Into<String>, detail: Value) {
        let step = {
            let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
            let step = Step {
                n: steps.len() + 1,
                kind: kind.to_owned(),
                message: message.into(),
                detail,
            };
            steps.push(step.clone());
            step
        };
        if let OutputMode::Human { verbose } = self.mode {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{:>3}. {}", step.n, step.message);
            if verbose && !step.detail.is_null() {
                if let Value::Object(map) = &step.detail {
                    for (key, value) in map {
                        let shown = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let _ = writeln!(err, "       {key}: {shown}");
                    }
                } else {
                    let _ = writeln!(err, "       {}", step.detail);
                }
            }
        }
    }

    /// Prints a free-form line for people (human mode only), not recorded as a step.
    pub fn say(&self, line: impl AsRef<str>) {
        if matches!(self.mode, OutputMode::Human { .. }) {
            let _ = writeln!(std::io::stderr().lock(), "     {}", line.as_ref());
        }
    }

    /// Whether a live progress line makes sense (human mode on a terminal).
    pub fn wants_progress(&self) -> bool {
        matches!(self.mode, OutputMode::Human { .. }) && std::io::stderr().is_terminal()
    }

    /// Rewrites the progress line in place.
    pub fn progress(&self, line: &str) {
        if self.wants_progress() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K     {line}");
            let _ = err.flush();
        }
    }

    /// Clears the progress line.
    pub fn end_progress(&self) {
        if self.wants_progress() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }

    /// Every step so far.
    pub fn steps(&self) -> Vec<Step> {
        self.steps.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The kinds of the steps so far, in order (handy in tests).
    pub fn kinds(&self) -> Vec<String> {
        self.steps().into_iter().map(|s| s.kind).collect()
    }
}

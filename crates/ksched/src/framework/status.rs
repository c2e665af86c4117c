//! Plugin results: a code, reasons, and the plugin that decided.

use std::fmt;

/// What a plugin says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Go on.
    Success,
    /// An internal error: the pod is retried with backoff.
    Error,
    /// Does not fit now; preemption may help.
    Unschedulable,
    /// Does not fit, and preemption cannot help (node affinity, taints …).
    UnschedulableAndUnresolvable,
    /// Permit: wait for a signal or the timeout.
    Wait,
    /// The plugin has nothing to do for this pod (its later points are skipped).
    Skip,
    /// Waits for something outside the scheduler; retried without backoff when it changes.
    Pending,
}

/// A status reason: the fixed texts of the plugins are borrowed, so rejecting a node
/// allocates no string.
pub type Reason = std::borrow::Cow<'static, str>;

/// A plugin's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Vec<Reason>,
    plugin: Option<&'static str>,
}

impl Status {
    /// Success.
    pub fn success() -> Self {
        Self { code: Code::Success, reasons: Vec::new(), plugin: None }
    }

    /// A status with `code` and one reason.
    pub fn new(code: Code, reason: impl Into<Reason>) -> Self {
        Self { code, reasons: vec![reason.into()], plugin: None }
    }

    /// A status with `code` and `reasons` (a rejection for several causes at once).
    pub fn from_reasons(code: Code, reasons: Vec<Reason>) -> Self {
        Self { code, reasons, plugin: None }
    }

    /// [`Code::Unschedulable`] with a reason.
    pub fn unschedulable(reason: impl Into<Reason>) -> Self {
        Self::new(Code::Unschedulable, reason)
    }

    /// [`Code::UnschedulableAndUnresolvable`] with a reason.
    pub fn unresolvable(reason: impl Into<Reason>) -> Self {
        Self::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// [`Code::Error`] with a reason.
    pub fn error(reason: impl Into<Reason>) -> Self {
        Self::new(Code::Error, reason)
    }

    /// [`Code::Skip`].
    pub fn skip() -> Self {
        Self { code: Code::Skip, reasons: Vec::new(), plugin: None }
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The reasons.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The plugin that returned it, once the framework has recorded it.
    pub fn plugin(&self) -> Option<&'static str> {
        self.plugin
    }

    /// Records the plugin.
    #[must_use]
    pub fn with_plugin(mut self, plugin: &'static str) -> Self {
        self.plugin = Some(plugin);
        self
    }

    /// Adds a reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<Reason>) -> Self {
        self.reasons.push(reason.into());
        self
    }

    /// Whether the code is Success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the code is Skip.
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the pod does not fit (Unschedulable or UnschedulableAndUnresolvable).
    pub fn is_rejected(&self) -> bool {
        matches!(self.code, Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reasons.is_empty() { write!(f, "{:?}", self.code) } else { f.write_str(&self.reasons.join(", ")) }
    }
}

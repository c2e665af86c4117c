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
///
/// Success is the common answer (every Filter and Score call on every node), so it is
/// represented without allocation and the whole status is one pointer: a `(score, status)`
/// pair comes back from a plugin in registers.
#[derive(Debug, Clone, Default)]
pub struct Status(Option<Box<Verdict>>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    code: Code,
    reasons: Vec<Reason>,
    plugin: Option<&'static str>,
}

impl Status {
    /// Success.
    pub const fn success() -> Self {
        Self(None)
    }

    /// A status with `code` and one reason.
    pub fn new(code: Code, reason: impl Into<Reason>) -> Self {
        Self::from_reasons(code, vec![reason.into()])
    }

    /// A status with `code` and `reasons` (a rejection for several causes at once).
    pub fn from_reasons(code: Code, reasons: Vec<Reason>) -> Self {
        Self(Some(Box::new(Verdict { code, reasons, plugin: None })))
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
        Self::from_reasons(Code::Skip, Vec::new())
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.0.as_ref().map_or(Code::Success, |v| v.code)
    }

    /// The reasons.
    pub fn reasons(&self) -> &[Reason] {
        self.0.as_ref().map_or(&[], |v| &v.reasons)
    }

    /// The plugin that returned it, once the framework has recorded it.
    pub fn plugin(&self) -> Option<&'static str> {
        self.0.as_ref().and_then(|v| v.plugin)
    }

    fn verdict(&mut self) -> &mut Verdict {
        self.0.get_or_insert_with(|| Box::new(Verdict { code: Code::Success, reasons: Vec::new(), plugin: None }))
    }

    /// Records the plugin.
    #[must_use]
    pub fn with_plugin(mut self, plugin: &'static str) -> Self {
        self.verdict().plugin = Some(plugin);
        self
    }

    /// Adds a reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<Reason>) -> Self {
        self.verdict().reasons.push(reason.into());
        self
    }

    /// Whether the code is Success.
    pub fn is_success(&self) -> bool {
        self.code() == Code::Success
    }

    /// Whether the code is Skip.
    pub fn is_skip(&self) -> bool {
        self.code() == Code::Skip
    }

    /// Whether the pod does not fit (Unschedulable or UnschedulableAndUnresolvable).
    pub fn is_rejected(&self) -> bool {
        matches!(self.code(), Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending)
    }
}

impl PartialEq for Status {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code() && self.reasons() == other.reasons() && self.plugin() == other.plugin()
    }
}

impl Eq for Status {}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reasons = self.reasons();
        if reasons.is_empty() { write!(f, "{:?}", self.code()) } else { f.write_str(&reasons.join(", ")) }
    }
}

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
/// represented without allocation. So are the rejections a plugin knows in advance
/// ([`FixedStatus`], kept in a `static`): a pod that fits nowhere is rejected by every
/// node, and those statuses cost no allocation either.
#[derive(Debug, Clone, Default)]
pub struct Status(Repr);

#[derive(Debug, Clone, Default)]
enum Repr {
    #[default]
    Success,
    Fixed(&'static FixedStatus),
    Owned(Box<Verdict>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    code: Code,
    reasons: Vec<Reason>,
    plugin: Option<&'static str>,
}

/// A status known when the plugin is written (a code, fixed reasons and the plugin's
/// name), for `static`s that [`Status::fixed`] returns without allocating.
///
/// ```
/// use ksched::framework::{Code, FixedStatus, Reason, Status};
///
/// static FULL: FixedStatus =
///     FixedStatus::new(Code::Unschedulable, &[Reason::Borrowed("node(s) are full")], "MyPlugin");
/// let s = Status::fixed(&FULL);
/// assert_eq!((s.code(), s.plugin()), (Code::Unschedulable, Some("MyPlugin")));
/// assert_eq!(s.to_string(), "node(s) are full");
/// ```
#[derive(Debug)]
pub struct FixedStatus {
    code: Code,
    reasons: &'static [Reason],
    plugin: &'static str,
}

impl FixedStatus {
    /// A status with `code` and `reasons`, returned by `plugin` (the name the framework
    /// records for it: [`Status::with_plugin`] with the same name changes nothing).
    pub const fn new(code: Code, reasons: &'static [Reason], plugin: &'static str) -> Self {
        Self { code, reasons, plugin }
    }
}

impl Status {
    /// Success.
    pub const fn success() -> Self {
        Self(Repr::Success)
    }

    /// A status from a `static` (no allocation).
    pub const fn fixed(status: &'static FixedStatus) -> Self {
        Self(Repr::Fixed(status))
    }

    /// A status with `code` and one reason.
    pub fn new(code: Code, reason: impl Into<Reason>) -> Self {
        Self::from_reasons(code, vec![reason.into()])
    }

    /// A status with `code` and `reasons` (a rejection for several causes at once).
    pub fn from_reasons(code: Code, reasons: Vec<Reason>) -> Self {
        Self(Repr::Owned(Box::new(Verdict { code, reasons, plugin: None })))
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
        match &self.0 {
            Repr::Success => Code::Success,
            Repr::Fixed(f) => f.code,
            Repr::Owned(v) => v.code,
        }
    }

    /// The reasons.
    pub fn reasons(&self) -> &[Reason] {
        match &self.0 {
            Repr::Success => &[],
            Repr::Fixed(f) => f.reasons,
            Repr::Owned(v) => &v.reasons,
        }
    }

    /// The plugin that returned it, once the framework has recorded it.
    pub fn plugin(&self) -> Option<&'static str> {
        match &self.0 {
            Repr::Success => None,
            Repr::Fixed(f) => Some(f.plugin),
            Repr::Owned(v) => v.plugin,
        }
    }

    /// Whether both are the same fixed status (a cheap test for "same reasons"; `false`
    /// says nothing).
    pub(crate) fn same_fixed(&self, other: &Self) -> bool {
        matches!((&self.0, &other.0), (Repr::Fixed(a), Repr::Fixed(b)) if std::ptr::eq(*a, *b))
    }

    fn into_verdict(self) -> Box<Verdict> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::Success => Box::new(Verdict { code: Code::Success, reasons: Vec::new(), plugin: None }),
            Repr::Fixed(f) => Box::new(Verdict { code: f.code, reasons: f.reasons.to_vec(), plugin: Some(f.plugin) }),
        }
    }

    /// Records the plugin.
    #[must_use]
    pub fn with_plugin(self, plugin: &'static str) -> Self {
        if matches!(&self.0, Repr::Fixed(f) if f.plugin == plugin) {
            return self;
        }
        let mut v = self.into_verdict();
        v.plugin = Some(plugin);
        Self(Repr::Owned(v))
    }

    /// Adds a reason.
    #[must_use]
    pub fn with_reason(self, reason: impl Into<Reason>) -> Self {
        let mut v = self.into_verdict();
        v.reasons.push(reason.into());
        Self(Repr::Owned(v))
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

/// A [`Status`] with one fixed reason, from a `static` made at the call site:
/// `fixed!(NAME, UnschedulableAndUnresolvable, ERR_REASON)` (no allocation).
macro_rules! fixed {
    ($plugin:expr, $code:ident, $reason:expr) => {{
        static FIXED: $crate::framework::FixedStatus = $crate::framework::FixedStatus::new(
            $crate::framework::Code::$code,
            &[$crate::framework::Reason::Borrowed($reason)],
            $plugin,
        );
        $crate::framework::Status::fixed(&FIXED)
    }};
}
pub(crate) use fixed;

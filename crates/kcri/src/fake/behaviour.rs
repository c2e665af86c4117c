//! What a fake container does once started.

use std::time::Duration;

/// The script a [`FakeRuntime`](super::FakeRuntime) container follows.
///
/// Chosen per container name, else per image (see
/// [`FakeRuntimeBuilder::behaviour_for_image`](super::FakeRuntimeBuilder::behaviour_for_image)),
/// else from the image name: `fake/exit:<code>` exits with `<code>` right after starting
/// (e.g. `fake/exit:1`), `fake/exit-after-<ms>ms:<code>` after that many milliseconds.
/// Anything else runs until stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    pub(super) exit: Option<(Duration, i32)>,
    pub(super) logs: Vec<String>,
    pub(super) stop_exit_code: i32,
    pub(super) start_error: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::run_forever()
    }
}

impl Behaviour {
    /// Runs until stopped.
    pub fn run_forever() -> Self {
        Self { exit: None, logs: Vec::new(), stop_exit_code: 0, start_error: None }
    }

    /// Exits by itself with `exit_code`, `after` the start.
    pub fn exit_after(after: Duration, exit_code: i32) -> Self {
        Self { exit: Some((after, exit_code)), ..Self::run_forever() }
    }

    /// Writes these lines to stdout (the container log) when started.
    #[must_use]
    pub fn with_logs<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.logs = lines.into_iter().map(Into::into).collect();
        self
    }

    /// Exit code reported after `StopContainer` (default 0; a process killed by SIGKILL
    /// would report 137).
    #[must_use]
    pub fn with_stop_exit_code(mut self, exit_code: i32) -> Self {
        self.stop_exit_code = exit_code;
        self
    }

    /// `StartContainer` fails with this message (like a missing entrypoint).
    #[must_use]
    pub fn failing_start(mut self, message: impl Into<String>) -> Self {
        self.start_error = Some(message.into());
        self
    }

    /// The behaviour an image name implies by the `fake/exit…` convention, if any.
    pub(super) fn from_image_name(image: &str) -> Option<Self> {
        let rest = image.strip_prefix("fake/exit")?;
        let (delay, code) = rest.split_once(':')?;
        let code: i32 = code.parse().ok()?;
        let after = match delay {
            "" => Duration::ZERO,
            d => Duration::from_millis(d.strip_prefix("-after-")?.strip_suffix("ms")?.parse().ok()?),
        };
        Some(Self::exit_after(after, code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_name_convention() {
        assert_eq!(Behaviour::from_image_name("fake/exit:1"), Some(Behaviour::exit_after(Duration::ZERO, 1)));
        assert_eq!(
            Behaviour::from_image_name("fake/exit-after-250ms:3"),
            Some(Behaviour::exit_after(Duration::from_millis(250), 3))
        );
        assert_eq!(Behaviour::from_image_name("fake/exit:x"), None);
        assert_eq!(Behaviour::from_image_name("busybox:1"), None);
    }
}

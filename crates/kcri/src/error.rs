//! The crate's error type, mapped from and to gRPC status codes.

/// gRPC status code numbers used in [`Error::code`] (the standard numbering).
mod code {
    pub(super) const INVALID_ARGUMENT: i32 = 3;
    pub(super) const DEADLINE_EXCEEDED: i32 = 4;
    pub(super) const NOT_FOUND: i32 = 5;
    pub(super) const UNIMPLEMENTED: i32 = 12;
    pub(super) const UNAVAILABLE: i32 = 14;
}

/// What went wrong in a CRI call.
///
/// The variants a caller branches on get their own case; every other gRPC status arrives as
/// [`Error::Runtime`] with its code. Idempotent calls are retried by
/// [`Client`](crate::Client) on [`Error::Unavailable`] before it is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sandbox, container or image does not exist (gRPC `NOT_FOUND`).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request was malformed (gRPC `INVALID_ARGUMENT`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The runtime could not be reached or is restarting (gRPC `UNAVAILABLE`); retryable.
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    /// The call did not finish within its timeout (gRPC `DEADLINE_EXCEEDED`).
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),
    /// The runtime does not implement this call, e.g. an RPC newer than the runtime
    /// (gRPC `UNIMPLEMENTED`).
    #[error("not implemented by the runtime: {0}")]
    Unimplemented(String),
    /// Any other failure the runtime reported, with its gRPC status code.
    #[error("runtime error (code {code}): {message}")]
    Runtime {
        /// gRPC status code number.
        code: i32,
        /// The runtime's message.
        message: String,
    },
    /// Connecting to the runtime's socket failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The runtime answered without a field the CRI requires.
    #[error("invalid response from runtime: {0}")]
    InvalidResponse(String),
}

impl Error {
    /// The gRPC status code number this error corresponds to.
    pub fn code(&self) -> i32 {
        match self {
            Error::NotFound(_) => code::NOT_FOUND,
            Error::InvalidArgument(_) => code::INVALID_ARGUMENT,
            Error::Unavailable(_) | Error::Transport(_) => code::UNAVAILABLE,
            Error::DeadlineExceeded(_) => code::DEADLINE_EXCEEDED,
            Error::Unimplemented(_) => code::UNIMPLEMENTED,
            Error::Runtime { code, .. } => *code,
            // Internal: the runtime broke the protocol.
            Error::InvalidResponse(_) => 13,
        }
    }

    /// Whether this is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    /// Whether retrying the same idempotent call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// A [`Error::Runtime`] with gRPC code `FAILED_PRECONDITION` (e.g. exec in a container
    /// that is not running).
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Error::Runtime { code: 9, message: message.into() }
    }

    /// A [`Error::Runtime`] with gRPC code `ALREADY_EXISTS` (e.g. a duplicate container name).
    pub fn already_exists(message: impl Into<String>) -> Self {
        Error::Runtime { code: 6, message: message.into() }
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            tonic::Code::NotFound => Error::NotFound(message),
            tonic::Code::InvalidArgument => Error::InvalidArgument(message),
            tonic::Code::Unavailable => Error::Unavailable(message),
            tonic::Code::DeadlineExceeded => Error::DeadlineExceeded(message),
            tonic::Code::Unimplemented => Error::Unimplemented(message),
            other => Error::Runtime { code: other as i32, message },
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let code = tonic::Code::from_i32(err.code());
        let message = match err {
            Error::NotFound(m)
            | Error::InvalidArgument(m)
            | Error::Unavailable(m)
            | Error::DeadlineExceeded(m)
            | Error::Unimplemented(m)
            | Error::Transport(m)
            | Error::InvalidResponse(m)
            | Error::Runtime { message: m, .. } => m,
        };
        tonic::Status::new(code, message)
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in [tonic::Code::NotFound, tonic::Code::Unavailable, tonic::Code::FailedPrecondition] {
            let err = Error::from(tonic::Status::new(code, "x"));
            assert_eq!(tonic::Status::from(err.clone()).code(), code, "{err:?}");
        }
        assert!(Error::from(tonic::Status::unavailable("down")).is_retryable());
        assert!(Error::from(tonic::Status::not_found("gone")).is_not_found());
        assert_eq!(
            Error::from(tonic::Status::already_exists("dup")),
            Error::Runtime { code: 6, message: "dup".into() }
        );
    }
}

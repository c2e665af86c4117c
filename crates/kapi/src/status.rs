//! The Kubernetes `Status` error shape: reasons, HTTP codes, details and causes, with the
//! message formats of upstream `k8s.io/apimachinery/pkg/api/errors`.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Status, StatusCause, StatusDetails};

use crate::resource::ApiResource;

/// Why a request failed (`Status.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// 404: the object does not exist.
    NotFound,
    /// 409: an object with that name exists.
    AlreadyExists,
    /// 409: the write lost an optimistic-concurrency race (stale resourceVersion).
    Conflict,
    /// 422: the object failed validation.
    Invalid,
    /// 410: the requested resourceVersion or continue token was compacted away.
    Expired,
    /// 410: the resource is gone.
    Gone,
    /// 400: the request is malformed.
    BadRequest,
    /// 403: the caller may not do this.
    Forbidden,
    /// 401: the caller is not authenticated.
    Unauthorized,
    /// 405: the verb is not supported on this resource.
    MethodNotAllowed,
    /// 406: no acceptable representation (e.g. Table not supported).
    NotAcceptable,
    /// 415: the request body's content type is not supported.
    UnsupportedMediaType,
    /// 413: the request body is too large.
    RequestEntityTooLarge,
    /// 429: too many requests; retry later.
    TooManyRequests,
    /// 500: a server error.
    InternalError,
    /// 504: the request did not finish in time.
    Timeout,
    /// 500: the server timed out processing the request.
    ServerTimeout,
    /// 503: the server cannot serve the request now.
    ServiceUnavailable,
    /// 500: no better reason is known.
    Unknown,
}

impl Reason {
    const ALL: [Reason; 19] = [
        Reason::NotFound,
        Reason::AlreadyExists,
        Reason::Conflict,
        Reason::Invalid,
        Reason::Expired,
        Reason::Gone,
        Reason::BadRequest,
        Reason::Forbidden,
        Reason::Unauthorized,
        Reason::MethodNotAllowed,
        Reason::NotAcceptable,
        Reason::UnsupportedMediaType,
        Reason::RequestEntityTooLarge,
        Reason::TooManyRequests,
        Reason::InternalError,
        Reason::Timeout,
        Reason::ServerTimeout,
        Reason::ServiceUnavailable,
        Reason::Unknown,
    ];

    /// The wire string (`"NotFound"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotFound => "NotFound",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Invalid => "Invalid",
            Reason::Expired => "Expired",
            Reason::Gone => "Gone",
            Reason::BadRequest => "BadRequest",
            Reason::Forbidden => "Forbidden",
            Reason::Unauthorized => "Unauthorized",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::InternalError => "InternalError",
            Reason::Timeout => "Timeout",
            Reason::ServerTimeout => "ServerTimeout",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Unknown => "",
        }
    }

    /// The HTTP status code upstream sends with this reason.
    pub fn code(self) -> u16 {
        match self {
            Reason::NotFound => 404,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Invalid => 422,
            Reason::Expired | Reason::Gone => 410,
            Reason::BadRequest => 400,
            Reason::Forbidden => 403,
            Reason::Unauthorized => 401,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::UnsupportedMediaType => 415,
            Reason::RequestEntityTooLarge => 413,
            Reason::TooManyRequests => 429,
            Reason::InternalError | Reason::ServerTimeout | Reason::Unknown => 500,
            Reason::Timeout => 504,
            Reason::ServiceUnavailable => 503,
        }
    }

    /// Parses a wire string; unknown strings map to [`Reason::Unknown`].
    pub fn parse(s: &str) -> Self {
        Self::ALL.into_iter().find(|r| r.as_str() == s).unwrap_or(Reason::Unknown)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `group` + `resource` as upstream prints them in messages: `pods`, `deployments.apps`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupResource {
    /// API group, empty for core.
    pub group: String,
    /// Lowercase plural.
    pub resource: String,
}

impl GroupResource {
    /// A group/resource pair.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        Self { group: group.into(), resource: resource.into() }
    }
}

impl From<&ApiResource> for GroupResource {
    fn from(r: &ApiResource) -> Self {
        Self::new(r.group.clone(), r.plural.clone())
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() { f.write_str(&self.resource) } else { write!(f, "{}.{}", self.resource, self.group) }
    }
}

/// One field-level reason a request was invalid (`Status.details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Machine-readable type: `FieldValueInvalid`, `FieldValueRequired`,
    /// `FieldValueNotSupported`, `FieldValueDuplicate`, `FieldValueForbidden`,
    /// `FieldValueTooLong`, `FieldValueTooMany`, `FieldValueTypeInvalid` …
    pub kind: String,
    /// The field path (`spec.containers[0].image`).
    pub field: String,
    /// What is wrong (`Required value`, `Invalid value: "x": must be …`).
    pub message: String,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

/// A failed API request, convertible to and from the `Status` object on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    reason: Reason,
    code: u16,
    message: String,
    // Boxed: errors travel through every `Result` of the API server, and most carry no
    // details.
    details: Box<Details>,
}

/// `Status.details`, apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Details {
    name: Option<String>,
    group: Option<String>,
    kind: Option<String>,
    causes: Vec<Cause>,
    retry_after_seconds: Option<i32>,
}

impl std::error::Error for StatusError {}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StatusError {
    /// An error with a reason, its standard code and a message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, code: reason.code(), message: message.into(), details: Box::default() }
    }

    fn about(mut self, gr: &GroupResource, name: &str) -> Self {
        self.details.group = Some(gr.group.clone());
        self.details.kind = Some(gr.resource.clone());
        self.details.name = (!name.is_empty()).then(|| name.to_owned());
        self
    }

    /// 404 `pods "web" not found`.
    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::new(Reason::NotFound, format!("{gr} \"{name}\" not found")).about(gr, name)
    }

    /// 409 `pods "web" already exists`.
    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::new(Reason::AlreadyExists, format!("{gr} \"{name}\" already exists")).about(gr, name)
    }

    /// 409 `Operation cannot be fulfilled on pods "web": <why>`.
    pub fn conflict(gr: &GroupResource, name: &str, why: impl fmt::Display) -> Self {
        Self::new(Reason::Conflict, format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}")).about(gr, name)
    }

    /// 422 `Pod "web" is invalid: <causes>` (`group` qualifies the kind: `Deployment.apps`).
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified = if group.is_empty() { kind.to_owned() } else { format!("{kind}.{group}") };
        let body = match causes.as_slice() {
            [one] => one.to_string(),
            many => format!("[{}]", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
        };
        let mut e = Self::new(Reason::Invalid, format!("{qualified} \"{name}\" is invalid: {body}"));
        e.details.group = Some(group.to_owned());
        e.details.kind = Some(kind.to_owned());
        e.details.name = (!name.is_empty()).then(|| name.to_owned());
        e.details.causes = causes;
        e
    }

    /// 400 with the message as given.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }

    /// 403 `pods "web" is forbidden: <why>` (`pods is forbidden: …` without a name).
    pub fn forbidden(gr: &GroupResource, name: &str, why: impl fmt::Display) -> Self {
        let msg = if name.is_empty() {
            format!("{gr} is forbidden: {why}")
        } else {
            format!("{gr} \"{name}\" is forbidden: {why}")
        };
        Self::new(Reason::Forbidden, msg).about(gr, name)
    }

    /// 401; the message defaults to `not authorized`.
    pub fn unauthorized(message: &str) -> Self {
        Self::new(Reason::Unauthorized, if message.is_empty() { "not authorized" } else { message })
    }

    /// 410 Expired: a resourceVersion or continue token is too old.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(Reason::Expired, message)
    }

    /// 410 Gone.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(Reason::Gone, message)
    }

    /// 405 `<verb> is not supported on resources of kind "pods"`.
    pub fn method_not_allowed(gr: &GroupResource, verb: &str) -> Self {
        let mut e =
            Self::new(Reason::MethodNotAllowed, format!("{verb} is not supported on resources of kind \"{gr}\""));
        e.details.group = Some(gr.group.clone());
        e.details.kind = Some(gr.resource.clone());
        e
    }

    /// 500 `Internal error occurred: <why>`.
    pub fn internal(why: impl fmt::Display) -> Self {
        let mut e = Self::new(Reason::InternalError, format!("Internal error occurred: {why}"));
        e.details.causes.push(Cause {
            kind: "UnexpectedServerResponse".into(),
            field: String::new(),
            message: why.to_string(),
        });
        e
    }

    /// 429 with a retry hint.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: i32) -> Self {
        let mut e = Self::new(Reason::TooManyRequests, message);
        e.details.retry_after_seconds = Some(retry_after_seconds);
        e
    }

    /// 504 `Timeout: <message>` with a retry hint.
    pub fn timeout(message: impl fmt::Display, retry_after_seconds: i32) -> Self {
        let mut e = Self::new(Reason::Timeout, format!("Timeout: {message}"));
        e.details.retry_after_seconds = Some(retry_after_seconds);
        e
    }

    /// 503.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(Reason::ServiceUnavailable, message)
    }

    /// Adds field-level causes (`details.causes`).
    pub fn with_causes(mut self, causes: Vec<Cause>) -> Self {
        self.details.causes.extend(causes);
        self
    }

    /// The reason.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The object's name, when the error is about one object.
    pub fn name(&self) -> Option<&str> {
        self.details.name.as_deref()
    }

    /// Field-level causes (Invalid errors).
    pub fn causes(&self) -> &[Cause] {
        &self.details.causes
    }

    /// Seconds the client should wait before retrying, when given.
    pub fn retry_after_seconds(&self) -> Option<i32> {
        self.details.retry_after_seconds
    }

    /// The `Status` object to send (`kind: Status`, `status: Failure`).
    pub fn to_status(&self) -> Status {
        let has_details = self.details.name.is_some()
            || self.details.group.is_some()
            || self.details.kind.is_some()
            || !self.details.causes.is_empty()
            || self.details.retry_after_seconds.is_some();
        Status {
            code: Some(i32::from(self.code)),
            message: Some(self.message.clone()),
            metadata: ListMeta::default(),
            reason: (self.reason != Reason::Unknown).then(|| self.reason.as_str().to_owned()),
            status: Some("Failure".to_owned()),
            details: has_details.then(|| StatusDetails {
                name: self.details.name.clone(),
                group: self.details.group.clone().filter(|g| !g.is_empty()),
                kind: self.details.kind.clone(),
                uid: None,
                retry_after_seconds: self.details.retry_after_seconds,
                causes: (!self.details.causes.is_empty()).then(|| {
                    self.details
                        .causes
                        .iter()
                        .map(|c| StatusCause {
                            reason: Some(c.kind.clone()),
                            message: Some(c.message.clone()),
                            field: (!c.field.is_empty()).then(|| c.field.clone()),
                        })
                        .collect()
                }),
            }),
        }
    }

    /// Reads a `Status` received from a server. A missing code is taken from the reason.
    pub fn from_status(status: &Status) -> Self {
        let reason = Reason::parse(status.reason.as_deref().unwrap_or(""));
        let code = status.code.and_then(|c| u16::try_from(c).ok()).filter(|&c| c != 0).unwrap_or_else(|| reason.code());
        let details = status.details.clone().unwrap_or_default();
        Self {
            reason,
            code,
            message: status.message.clone().unwrap_or_default(),
            details: Box::new(Details {
                name: details.name,
                group: details.group,
                kind: details.kind,
                causes: details
                    .causes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| Cause {
                        kind: c.reason.unwrap_or_default(),
                        field: c.field.unwrap_or_default(),
                        message: c.message.unwrap_or_default(),
                    })
                    .collect(),
                retry_after_seconds: details.retry_after_seconds,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> GroupResource {
        GroupResource::new("", "pods")
    }

    #[test]
    fn reasons_and_codes() {
        let want = [
            (Reason::NotFound, 404),
            (Reason::AlreadyExists, 409),
            (Reason::Conflict, 409),
            (Reason::Invalid, 422),
            (Reason::Expired, 410),
            (Reason::Gone, 410),
            (Reason::BadRequest, 400),
            (Reason::Forbidden, 403),
            (Reason::Unauthorized, 401),
            (Reason::MethodNotAllowed, 405),
            (Reason::UnsupportedMediaType, 415),
            (Reason::TooManyRequests, 429),
        ];
        for (reason, code) in want {
            assert_eq!(reason.code(), code, "{reason}");
            assert_eq!(Reason::parse(reason.as_str()), reason);
        }
        assert_eq!(Reason::parse("Nonsense"), Reason::Unknown);
    }

    #[test]
    fn messages_match_upstream() {
        assert_eq!(StatusError::not_found(&pods(), "web").message(), "pods \"web\" not found");
        let deploys = GroupResource::new("apps", "deployments");
        assert_eq!(StatusError::already_exists(&deploys, "d").message(), "deployments.apps \"d\" already exists");
        assert_eq!(
            StatusError::conflict(
                &pods(),
                "web",
                "the object has been modified; please apply your changes to the latest version and try again"
            )
            .message(),
            "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(StatusError::forbidden(&pods(), "", "no").message(), "pods is forbidden: no");
        assert_eq!(StatusError::unauthorized("").message(), "not authorized");
        let one = vec![Cause {
            kind: "FieldValueRequired".into(),
            field: "spec.containers".into(),
            message: "Required value".into(),
        }];
        let e = StatusError::invalid("", "Pod", "web", one.clone());
        assert_eq!(e.message(), "Pod \"web\" is invalid: spec.containers: Required value");
        let mut two = one;
        two.push(Cause {
            kind: "FieldValueInvalid".into(),
            field: "metadata.name".into(),
            message: "Invalid value: \"A\"".into(),
        });
        let e = StatusError::invalid("apps", "Deployment", "d", two);
        assert_eq!(
            e.message(),
            "Deployment.apps \"d\" is invalid: [spec.containers: Required value, metadata.name: Invalid value: \"A\"]"
        );
        assert_eq!(e.code(), 422);
    }

    #[test]
    fn wire_shape() {
        let status = StatusError::not_found(&pods(), "web").to_status();
        let v = serde_json::to_value(&status).unwrap();
        assert_eq!(
            v,
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "pods \"web\" not found",
                "reason": "NotFound",
                "details": {"name": "web", "kind": "pods"},
                "code": 404
            })
        );
        let expired = StatusError::expired("too old resource version: 1 (5)").to_status();
        let v = serde_json::to_value(&expired).unwrap();
        assert_eq!(v["code"], 410);
        assert_eq!(v["reason"], "Expired");
        assert!(v.get("details").is_none());
    }

    #[test]
    fn round_trip_through_status() {
        let causes = vec![Cause { kind: "FieldValueInvalid".into(), field: "a".into(), message: "bad".into() }];
        for e in [
            StatusError::invalid("apps", "Deployment", "d", causes),
            StatusError::too_many_requests("slow down", 3),
            StatusError::not_found(&GroupResource::new("apps", "deployments"), "x"),
            StatusError::internal("boom"),
        ] {
            let back = StatusError::from_status(&e.to_status());
            assert_eq!(back.reason(), e.reason());
            assert_eq!(back.code(), e.code());
            assert_eq!(back.message(), e.message());
            assert_eq!(back.causes(), e.causes());
            assert_eq!(back.retry_after_seconds(), e.retry_after_seconds());
        }
        let bare = Status { reason: Some("Conflict".into()), ..Status::default() };
        assert_eq!(StatusError::from_status(&bare).code(), 409);
    }
}

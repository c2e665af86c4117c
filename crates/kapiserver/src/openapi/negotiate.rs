//! Content negotiation of the OpenAPI endpoints, as kube-openapi's handlers do it: the
//! `Accept` clauses are tried by descending quality (ties keep their order), each against
//! the offered types in order; an absent header means `*/*`; no match is `406`.

/// Encoding of a served OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// The gnostic protobuf (v2 only).
    Protobuf,
}

impl Format {
    /// The `Content-Type` to answer with (upstream answers the non-deprecated protobuf
    /// name even when the client asked for the `@v1.0` form).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Protobuf => "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        }
    }
}

const V2_OFFERS: &[(&str, Format)] = &[
    ("json", Format::Json),
    ("com.github.proto-openapi.spec.v2@v1.0+protobuf", Format::Protobuf),
    ("com.github.proto-openapi.spec.v2.v1.0+protobuf", Format::Protobuf),
];
const V3_OFFERS: &[(&str, Format)] = &[("json", Format::Json)];

/// The encoding of `/openapi/v2` for an `Accept` header; `None` means `406 Not Acceptable`.
pub fn negotiate_v2(accept: Option<&str>) -> Option<Format> {
    negotiate(accept, V2_OFFERS)
}

/// The encoding of `/openapi/v3` documents for an `Accept` header; only JSON is offered
/// (kubectl asks for JSON), so a protobuf-only request gets `None` (`406`).
pub fn negotiate_v3(accept: Option<&str>) -> Option<Format> {
    negotiate(accept, V3_OFFERS)
}

fn negotiate(accept: Option<&str>, offers: &[(&str, Format)]) -> Option<Format> {
    let accept = accept.map(str::trim).filter(|a| !a.is_empty()).unwrap_or("*/*");
    let mut clauses: Vec<(f32, &str, &str)> = accept
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let media = parts.next()?.trim();
            let (ty, sub) = media.split_once('/')?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, ty.trim(), sub.trim()))
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    // goautoneg's order: higher quality first, then concrete types before wildcards.
    clauses.sort_by(|a, b| {
        b.0.total_cmp(&a.0).then((a.1 == "*").cmp(&(b.1 == "*"))).then((a.2 == "*").cmp(&(b.2 == "*")))
    });
    clauses.iter().find_map(|(_, ty, sub)| {
        offers
            .iter()
            .find(|(offer, _)| (*ty == "application" || *ty == "*") && (*sub == "*" || sub == offer))
            .map(|(_, format)| *format)
    })
}

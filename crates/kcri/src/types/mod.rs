//! CRI domain types: plain Rust mirrors of the `runtime.v1` messages.
//!
//! These are what [`RuntimeService`](crate::RuntimeService) and
//! [`ImageService`](crate::ImageService) take and return. They keep the fields a kubelet-like
//! caller uses; Windows-only and rarely used Linux fields of the wire messages are left out
//! (a value read from a runtime and sent back loses them).
//!
//! Conventions: maps are [`BTreeMap`](std::collections::BTreeMap) so listings are ordered;
//! wire timestamps (nanoseconds since the Unix epoch, 0 for "unset") become
//! `SystemTime` or `Option<SystemTime>`; optional wrapper messages
//! (`Int64Value`, `UInt64Value`) become `Option`.

mod container;
mod exec;
mod image;
mod pod;
mod runtime;
mod security;
mod stats;

pub use container::*;
pub use exec::*;
pub use image::*;
pub use pod::*;
pub use runtime::*;
pub use security::*;
pub use stats::*;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Labels or annotations: string keys to string values.
pub type Labels = std::collections::BTreeMap<String, String>;

/// Wire nanoseconds (0 = unset) to an optional time.
pub(crate) fn time_from_nanos(nanos: i64) -> Option<SystemTime> {
    if nanos <= 0 {
        return None;
    }
    // i64 nanoseconds are positive here, so the cast to u64 cannot wrap.
    Some(UNIX_EPOCH + Duration::from_nanos(nanos as u64))
}

/// Wire nanoseconds to a time, the epoch standing for "unset".
pub(crate) fn time_or_epoch(nanos: i64) -> SystemTime {
    time_from_nanos(nanos).unwrap_or(UNIX_EPOCH)
}

/// A time to wire nanoseconds; times before the epoch and unset times are 0, and times past
/// year 2262 saturate.
pub(crate) fn nanos_from_time(time: Option<SystemTime>) -> i64 {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Wire enums are open in proto3: an unknown number maps to the type's fallback variant.
pub(crate) trait WireEnum: Sized + Copy {
    /// The variant for `value`, or `None` for a number this crate does not know.
    fn from_wire(value: i32) -> Option<Self>;
    /// The wire number.
    fn to_wire(self) -> i32;
}

/// Defines a public enum mirroring a proto enum, with its wire numbers.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident fallback $fallback:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $num:expr ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl crate::types::WireEnum for $name {
            fn from_wire(value: i32) -> Option<Self> {
                match value {
                    $( $num => Some(Self::$variant), )+
                    _ => None,
                }
            }
            fn to_wire(self) -> i32 {
                match self {
                    $( Self::$variant => $num, )+
                }
            }
        }

        impl Default for $name {
            /// The variant numbered 0, proto3's default.
            fn default() -> Self {
                Self::from_i32(0)
            }
        }

        impl $name {
            /// Maps a wire number, falling back for numbers this crate does not know.
            #[allow(dead_code)]
            pub(crate) fn from_i32(value: i32) -> Self {
                <Self as crate::types::WireEnum>::from_wire(value).unwrap_or(Self::$fallback)
            }
            /// The wire number.
            #[allow(dead_code)]
            pub(crate) fn to_i32(self) -> i32 {
                <Self as crate::types::WireEnum>::to_wire(self)
            }
        }
    };
}
pub(crate) use wire_enum;

/// Seconds for a wire `timeout` field, rounding up so a sub-second timeout is not "none".
pub(crate) fn secs_ceil(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// A wire `timeout` in seconds (0 or negative = none) to a duration.
pub(crate) fn duration_from_secs(secs: i64) -> Option<Duration> {
    u64::try_from(secs).ok().filter(|s| *s > 0).map(Duration::from_secs)
}

#[cfg(test)]
mod tests;

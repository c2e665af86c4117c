//! A Deployment's spec with the API defaults applied and `maxSurge` / `maxUnavailable`
//! resolved (upstream `ResolveFenceposts`, `MaxSurge`, `MaxUnavailable`).

use kapi::k8s::api::apps::v1::Deployment;
use kapi::k8s::apimachinery::pkg::util::intstr::IntOrString;

use super::DeploymentError;

/// Default `spec.revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// Default `spec.progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Default `maxSurge` and `maxUnavailable`.
pub const DEFAULT_MAX_SURGE_AND_UNAVAILABLE: &str = "25%";
/// Strategy type `RollingUpdate`.
pub const ROLLING_UPDATE: &str = "RollingUpdate";
/// Strategy type `Recreate`.
pub const RECREATE: &str = "Recreate";

/// The rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Kill all old pods before creating new ones.
    Recreate,
    /// Replace pods gradually, within the resolved bounds.
    RollingUpdate {
        /// Pods allowed above `replicas` (rounded up from a percentage).
        max_surge: i32,
        /// Pods allowed to be unavailable (rounded down; 1 when both resolve to 0; clamped to
        /// `replicas`; 0 when `replicas` is 0).
        max_unavailable: i32,
    },
}

/// The fields of a Deployment spec the controller uses, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedSpec {
    /// `spec.replicas` (default 1).
    pub replicas: i32,
    /// `spec.minReadySeconds` (default 0).
    pub min_ready_seconds: i32,
    /// `spec.revisionHistoryLimit` (default 10); `None` when unlimited (`MaxInt32`).
    pub revision_history_limit: Option<i32>,
    /// `spec.progressDeadlineSeconds` (default 600); `None` when disabled (`MaxInt32`).
    pub progress_deadline_seconds: Option<i32>,
    /// `spec.paused`.
    pub paused: bool,
    /// The strategy.
    pub strategy: Strategy,
}

impl ResolvedSpec {
    /// Applies the API defaults to `d`'s spec and resolves the strategy.
    pub fn resolve(d: &Deployment) -> Result<Self, DeploymentError> {
        let spec = d.spec.as_ref().ok_or(DeploymentError::MissingSpec)?;
        let replicas = spec.replicas.unwrap_or(1);
        let strategy_type = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or(ROLLING_UPDATE);
        let strategy = match strategy_type {
            RECREATE => Strategy::Recreate,
            ROLLING_UPDATE => {
                let default = IntOrString::String(DEFAULT_MAX_SURGE_AND_UNAVAILABLE.into());
                let ru = spec.strategy.as_ref().and_then(|s| s.rolling_update.as_ref());
                let surge = ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default);
                let unavailable = ru.and_then(|r| r.max_unavailable.as_ref()).unwrap_or(&default);
                let (max_surge, max_unavailable) = resolve_fenceposts(Some(surge), Some(unavailable), replicas)?;
                let max_unavailable = if replicas == 0 { 0 } else { max_unavailable.min(replicas) };
                Strategy::RollingUpdate { max_surge, max_unavailable }
            }
            other => return Err(DeploymentError::UnknownStrategy(other.to_owned())),
        };
        let unlimited = |v: i32| (v != i32::MAX).then_some(v);
        Ok(Self {
            replicas,
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
            revision_history_limit: unlimited(spec.revision_history_limit.unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)),
            progress_deadline_seconds: unlimited(
                spec.progress_deadline_seconds.unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS),
            ),
            paused: spec.paused.unwrap_or(false),
            strategy,
        })
    }

    /// Upstream `MaxSurge`: 0 unless rolling.
    pub fn max_surge(&self) -> i32 {
        match self.strategy {
            Strategy::RollingUpdate { max_surge, .. } => max_surge,
            Strategy::Recreate => 0,
        }
    }

    /// Upstream `MaxUnavailable`: 0 unless rolling.
    pub fn max_unavailable(&self) -> i32 {
        match self.strategy {
            Strategy::RollingUpdate { max_unavailable, .. } => max_unavailable,
            Strategy::Recreate => 0,
        }
    }

    /// Whether the strategy is RollingUpdate.
    pub fn is_rolling(&self) -> bool {
        matches!(self.strategy, Strategy::RollingUpdate { .. })
    }

    /// Upstream `HasProgressDeadline`.
    pub fn has_progress_deadline(&self) -> bool {
        self.progress_deadline_seconds.is_some()
    }
}

/// Upstream `GetScaledValueFromIntOrPercent`: an int as is, or `"<n>%"` of `total`, rounded
/// up or down. Negative values and strings that are not percentages are refused.
pub fn int_or_percent(
    value: &IntOrString,
    total: i32,
    round_up: bool,
    field: &'static str,
) -> Result<i32, DeploymentError> {
    let invalid = || DeploymentError::InvalidIntOrPercent { field, value: display(value) };
    match value {
        IntOrString::Int(v) if *v >= 0 => Ok(*v),
        IntOrString::Int(_) => Err(invalid()),
        IntOrString::String(s) => {
            let pct: i64 = s.strip_suffix('%').and_then(|n| n.parse().ok()).filter(|n| *n >= 0).ok_or_else(invalid)?;
            let scaled = pct * i64::from(total.max(0));
            let v = if round_up { (scaled + 99) / 100 } else { scaled / 100 };
            i32::try_from(v).map_err(|_| invalid())
        }
    }
}

fn display(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(v) => v.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// Upstream `ResolveFenceposts`: `(maxSurge, maxUnavailable)` for `desired` replicas; absent
/// values count as 0, surge rounds up, unavailability rounds down, and when both come out 0
/// unavailability becomes 1.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), DeploymentError> {
    let zero = IntOrString::Int(0);
    let surge = int_or_percent(max_surge.unwrap_or(&zero), desired, true, "maxSurge")?;
    let mut unavailable = int_or_percent(max_unavailable.unwrap_or(&zero), desired, false, "maxUnavailable")?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::k8s::api::apps::v1::{DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn fencepost_table() {
        let i = IntOrString::Int;
        #[rustfmt::skip]
        let cases: Vec<(IntOrString, IntOrString, i32, (i32, i32))> = vec![
            (pct("25%"), pct("25%"), 10, (3, 2)),
            (pct("25%"), pct("25%"), 4, (1, 1)),
            (pct("25%"), pct("25%"), 1, (1, 0)),
            (pct("25%"), pct("25%"), 0, (0, 1)),
            (i(0), i(0), 10, (0, 1)),
            (pct("0%"), pct("0%"), 10, (0, 1)),
            (pct("1%"), pct("0%"), 2, (1, 0)),
            (pct("0%"), pct("1%"), 2, (0, 1)),
            (pct("0%"), pct("25%"), 2, (0, 1)),
            (i(3), i(2), 10, (3, 2)),
            (pct("50%"), i(5), 3, (2, 5)),
            (pct("100%"), pct("100%"), 7, (7, 7)),
            (pct("33%"), pct("33%"), 10, (4, 3)),
        ];
        for (surge, unavailable, desired, want) in cases {
            assert_eq!(
                resolve_fenceposts(Some(&surge), Some(&unavailable), desired).unwrap(),
                want,
                "{surge:?} {unavailable:?} of {desired}"
            );
        }
        assert_eq!(resolve_fenceposts(None, None, 10).unwrap(), (0, 1));
    }

    #[test]
    fn invalid_values() {
        for bad in [pct("25"), pct("abc%"), pct("-5%"), IntOrString::Int(-1), pct("")] {
            assert!(
                matches!(int_or_percent(&bad, 10, true, "maxSurge"), Err(DeploymentError::InvalidIntOrPercent { .. })),
                "{bad:?}"
            );
        }
    }

    fn deployment(strategy: Option<DeploymentStrategy>, replicas: Option<i32>) -> Deployment {
        Deployment { spec: Some(DeploymentSpec { replicas, strategy, ..Default::default() }), ..Default::default() }
    }

    #[test]
    fn defaults() {
        let r = ResolvedSpec::resolve(&deployment(None, Some(10))).unwrap();
        assert_eq!(r.strategy, Strategy::RollingUpdate { max_surge: 3, max_unavailable: 2 });
        assert_eq!(r.revision_history_limit, Some(10));
        assert_eq!(r.progress_deadline_seconds, Some(600));
        assert_eq!((r.min_ready_seconds, r.paused), (0, false));
        assert_eq!(ResolvedSpec::resolve(&deployment(None, None)).unwrap().replicas, 1);
        let partial = DeploymentStrategy {
            type_: Some(ROLLING_UPDATE.into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::Int(0)),
                max_unavailable: None,
            }),
        };
        let r = ResolvedSpec::resolve(&deployment(Some(partial), Some(10))).unwrap();
        assert_eq!(r.strategy, Strategy::RollingUpdate { max_surge: 0, max_unavailable: 2 });
        let recreate = DeploymentStrategy { type_: Some(RECREATE.into()), rolling_update: None };
        let r = ResolvedSpec::resolve(&deployment(Some(recreate), Some(3))).unwrap();
        assert_eq!((r.max_surge(), r.max_unavailable(), r.is_rolling()), (0, 0, false));
    }

    #[test]
    fn unavailability_is_clamped_and_zero_for_zero_replicas() {
        let s = DeploymentStrategy {
            type_: None,
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::Int(1)),
                max_unavailable: Some(IntOrString::Int(5)),
            }),
        };
        assert_eq!(ResolvedSpec::resolve(&deployment(Some(s.clone()), Some(2))).unwrap().max_unavailable(), 2);
        assert_eq!(ResolvedSpec::resolve(&deployment(Some(s), Some(0))).unwrap().max_unavailable(), 0);
    }

    #[test]
    fn unlimited_and_bad_strategy() {
        let mut d = deployment(None, Some(1));
        let spec = d.spec.as_mut().unwrap();
        spec.revision_history_limit = Some(i32::MAX);
        spec.progress_deadline_seconds = Some(i32::MAX);
        let r = ResolvedSpec::resolve(&d).unwrap();
        assert_eq!((r.revision_history_limit, r.has_progress_deadline()), (None, false));
        let bad = DeploymentStrategy { type_: Some("BlueGreen".into()), rolling_update: None };
        assert_eq!(
            ResolvedSpec::resolve(&deployment(Some(bad), Some(1))),
            Err(DeploymentError::UnknownStrategy("BlueGreen".into()))
        );
        assert_eq!(ResolvedSpec::resolve(&Deployment::default()), Err(DeploymentError::MissingSpec));
    }
}

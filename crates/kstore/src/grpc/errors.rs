//! Store errors as the gRPC statuses etcd 3.4 sends (`etcdserver/api/v3rpc/rpctypes`):
//! same codes, same messages, since etcdctl prints the message and clients match on it.

use kraft::node::NodeError;
use kraft::{MembershipError, RaftError};
use tonic::{Code, Status};

use crate::lease::LeaseError;
use crate::mvcc::MvccError;
use crate::state::ApplyError;
use crate::store::StoreError;
use crate::watch::WatchError;

/// etcd's `ErrGRPCNoLeader`.
pub(crate) fn no_leader() -> Status {
    Status::unavailable("etcdserver: no leader")
}

/// etcd's `ErrGRPCNotLeader` (`FailedPrecondition`; etcd sends it for `MoveLeader` on a
/// follower).
pub(crate) fn not_leader() -> Status {
    Status::failed_precondition("etcdserver: not leader")
}

/// etcd's `ErrGRPCStopped`.
pub(crate) fn stopped() -> Status {
    Status::unavailable("etcdserver: server stopped")
}

/// etcd's `ErrGRPCTimeout`.
pub(crate) fn timeout() -> Status {
    Status::unavailable("etcdserver: request timed out")
}

/// etcd's `ErrGRPCRequestTooLarge`.
pub(crate) fn request_too_large() -> Status {
    Status::invalid_argument("etcdserver: request is too large")
}

/// etcd's `ErrGRPCMemberNotFound`.
pub(crate) fn member_not_found() -> Status {
    Status::not_found("etcdserver: member not found")
}

/// etcd's `ErrGRPCMemberNotLearner`.
pub(crate) fn member_not_learner() -> Status {
    Status::failed_precondition("etcdserver: can only promote a learner member")
}

/// etcd's `ErrGRPCBadLeaderTransferee`.
pub(crate) fn bad_leader_transferee() -> Status {
    Status::failed_precondition("etcdserver: bad leader transferee")
}

/// The gRPC status etcd 3.4 answers with for `err`.
///
/// One deliberate difference: a lease keep-alive (or any call that needs the leader) on a
/// follower gives `Unavailable` "etcdserver: not leader". etcd forwards keep-alives to the
/// leader and so never sends this for them; `Unavailable` makes clients retry on another
/// endpoint, which is what they should do here.
pub fn status_from_store_error(err: &StoreError) -> Status {
    match err {
        StoreError::Apply(e) => from_apply(e),
        StoreError::Raft(e) => from_node(e),
        StoreError::Watch(e) => from_watch(e),
        StoreError::NotLeader { .. } => Status::unavailable("etcdserver: not leader"),
        StoreError::Timeout => timeout(),
        StoreError::Io(e) => Status::unknown(e.to_string()),
        // `StoreError` is non-exhaustive: anything new is reported as etcd reports errors
        // it has no mapping for.
        #[allow(unreachable_patterns)]
        other => Status::unknown(other.to_string()),
    }
}

pub(crate) fn from_apply(err: &ApplyError) -> Status {
    match err {
        ApplyError::Mvcc(e) => from_mvcc(e),
        ApplyError::Lease(e) => from_lease(e),
        #[allow(unreachable_patterns)]
        other => Status::unknown(other.to_string()),
    }
}

pub(crate) fn from_mvcc(err: &MvccError) -> Status {
    let code = match err {
        MvccError::Compacted | MvccError::FutureRevision => {
            // etcd prefixes the mvcc package's messages here.
            return Status::out_of_range(format!("etcdserver: {err}"));
        }
        MvccError::LeaseNotFound => Code::NotFound,
        MvccError::KeyNotFound
        | MvccError::ValueProvided
        | MvccError::LeaseProvided
        | MvccError::DuplicateKey
        | MvccError::TooManyOps
        | MvccError::EmptyKey => Code::InvalidArgument,
        #[allow(unreachable_patterns)]
        _ => Code::Unknown,
    };
    Status::new(code, err.to_string())
}

pub(crate) fn from_lease(err: &LeaseError) -> Status {
    let code = match err {
        LeaseError::NotFound => Code::NotFound,
        LeaseError::Exists => Code::FailedPrecondition,
        LeaseError::TtlTooLarge => Code::OutOfRange,
        LeaseError::ZeroId => Code::InvalidArgument,
        #[allow(unreachable_patterns)]
        _ => Code::Unknown,
    };
    Status::new(code, err.to_string())
}

fn from_watch(err: &WatchError) -> Status {
    Status::invalid_argument(watch_cancel_reason(err))
}

/// The cancel reason etcd puts in a `created` + `canceled` watch response (the mvcc
/// package's error text).
pub(crate) fn watch_cancel_reason(err: &WatchError) -> String {
    match err {
        WatchError::DuplicateId => "mvcc: duplicate watch ID provided on the WatchStream".into(),
        WatchError::EmptyKey => "mvcc: watcher range is empty".into(),
        #[allow(unreachable_patterns)]
        other => other.to_string(),
    }
}

pub(crate) fn from_node(err: &NodeError) -> Status {
    match err {
        NodeError::Raft(e) => from_raft(e),
        NodeError::Stopped => stopped(),
        NodeError::ProposalLost => Status::unavailable("etcdserver: leader changed"),
        NodeError::Storage(e) => Status::unknown(format!("storage: {e}")),
        #[allow(unreachable_patterns)]
        other => Status::unknown(other.to_string()),
    }
}

fn from_raft(err: &RaftError) -> Status {
    match err {
        RaftError::NotLeader { leader: None } => no_leader(),
        RaftError::NotLeader { leader: Some(_) } => Status::unavailable("etcdserver: not leader"),
        // etcd passes raft's own error through.
        RaftError::ProposalDropped(_) => Status::unknown("raft proposal dropped"),
        RaftError::ConfChangePending => {
            Status::failed_precondition("etcdserver: another membership change is still pending")
        }
        RaftError::Membership(e) => from_membership(e),
        RaftError::InvalidTransfer(_) => bad_leader_transferee(),
        other => Status::unknown(other.to_string()),
    }
}

pub(crate) fn from_membership(err: &MembershipError) -> Status {
    match err {
        MembershipError::NoVoters => {
            Status::failed_precondition("etcdserver: re-configuration failed due to not enough started members")
        }
        MembershipError::ZeroId => member_not_found(),
        other => Status::failed_precondition(format!("etcdserver: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status, code: Code, message: &str) {
        assert_eq!((status.code(), status.message()), (code, message));
    }

    #[test]
    fn etcd_codes_and_messages() {
        let mvcc = |e| status_from_store_error(&StoreError::from(e));
        check(mvcc(MvccError::Compacted), Code::OutOfRange, "etcdserver: mvcc: required revision has been compacted");
        check(
            mvcc(MvccError::FutureRevision),
            Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision",
        );
        check(mvcc(MvccError::KeyNotFound), Code::InvalidArgument, "etcdserver: key not found");
        check(mvcc(MvccError::LeaseNotFound), Code::NotFound, "etcdserver: requested lease not found");
        check(mvcc(MvccError::ValueProvided), Code::InvalidArgument, "etcdserver: value is provided");
        check(mvcc(MvccError::LeaseProvided), Code::InvalidArgument, "etcdserver: lease is provided");
        check(mvcc(MvccError::DuplicateKey), Code::InvalidArgument, "etcdserver: duplicate key given in txn request");
        check(mvcc(MvccError::TooManyOps), Code::InvalidArgument, "etcdserver: too many operations in txn request");
        check(mvcc(MvccError::EmptyKey), Code::InvalidArgument, "etcdserver: key is not provided");

        let lease = |e| status_from_store_error(&StoreError::Apply(ApplyError::Lease(e)));
        check(lease(LeaseError::NotFound), Code::NotFound, "etcdserver: requested lease not found");
        check(lease(LeaseError::Exists), Code::FailedPrecondition, "etcdserver: lease already exists");
        check(lease(LeaseError::TtlTooLarge), Code::OutOfRange, "etcdserver: too large lease TTL");

        let raft = |e| status_from_store_error(&StoreError::Raft(e));
        check(raft(NodeError::Stopped), Code::Unavailable, "etcdserver: server stopped");
        check(raft(NodeError::ProposalLost), Code::Unavailable, "etcdserver: leader changed");
        check(raft(NodeError::Raft(RaftError::NotLeader { leader: None })), Code::Unavailable, "etcdserver: no leader");
        check(
            raft(NodeError::Raft(RaftError::InvalidTransfer(9))),
            Code::FailedPrecondition,
            "etcdserver: bad leader transferee",
        );
        check(status_from_store_error(&StoreError::Timeout), Code::Unavailable, "etcdserver: request timed out");
        check(
            status_from_store_error(&StoreError::NotLeader { leader: Some(2) }),
            Code::Unavailable,
            "etcdserver: not leader",
        );
        check(not_leader(), Code::FailedPrecondition, "etcdserver: not leader");
    }

    #[test]
    fn watch_reasons_are_the_mvcc_texts() {
        assert_eq!(
            watch_cancel_reason(&WatchError::DuplicateId),
            "mvcc: duplicate watch ID provided on the WatchStream"
        );
    }
}

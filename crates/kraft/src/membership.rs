//! Cluster membership: voters (one set, or two during joint consensus), learners, and the
//! quorum rules that follow from them.
//!
//! A change that alters at most one voter is applied directly. A change that alters more
//! enters a *joint* configuration `C_old,new` in which every decision (election, commit)
//! needs a majority of both the old and the new voters; the leader then proposes
//! [`Payload::LeaveJoint`](crate::Payload::LeaveJoint) to move to `C_new`. This is the
//! scheme of the Raft thesis (§4.3) as implemented by etcd-io/raft.

use std::collections::BTreeSet;

use crate::types::{Index, NodeId};

/// Errors applying a membership change. The membership is unchanged when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// A change was proposed while a joint configuration is in force.
    #[error("membership is joint: leave the joint configuration before changing it again")]
    InJoint,
    /// `LeaveJoint` while not joint.
    #[error("membership is not joint: nothing to leave")]
    NotJoint,
    /// The change would leave no voter.
    #[error("membership change removes every voter")]
    NoVoters,
    /// Node id 0 is reserved.
    #[error("node id 0 is reserved")]
    ZeroId,
    /// The change list is empty.
    #[error("empty membership change")]
    Empty,
}

/// One membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Add a voter, or promote a learner.
    AddVoter(NodeId),
    /// Add a learner, or demote a voter.
    AddLearner(NodeId),
    /// Remove a voter or learner.
    Remove(NodeId),
}

/// Who votes and who only replicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    voters: BTreeSet<NodeId>,
    /// The old voters while joint; empty otherwise.
    outgoing: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
    /// Voters being demoted to learners, who become learners on leaving the joint config.
    learners_next: BTreeSet<NodeId>,
}

/// The outcome of counting votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteResult {
    /// Enough votes are still missing but may arrive.
    Pending,
    /// Won.
    Won,
    /// Cannot be won.
    Lost,
}

impl Membership {
    /// A membership of voters only.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Self { voters: voters.into_iter().collect(), ..Self::default() }
    }

    /// A membership with voters and learners.
    pub fn with_learners(voters: impl IntoIterator<Item = NodeId>, learners: impl IntoIterator<Item = NodeId>) -> Self {
        Self { voters: voters.into_iter().collect(), learners: learners.into_iter().collect(), ..Self::default() }
    }

    /// Rebuilds a membership from its four sets (decoding). Returns `None` when the sets
    /// are inconsistent: no voters, a learner that also votes, or learners pending
    /// demotion outside a joint configuration.
    pub fn from_parts(
        voters: BTreeSet<NodeId>,
        outgoing: BTreeSet<NodeId>,
        learners: BTreeSet<NodeId>,
        learners_next: BTreeSet<NodeId>,
    ) -> Option<Self> {
        let consistent = !voters.is_empty()
            && learners.is_disjoint(&voters)
            && learners.is_disjoint(&outgoing)
            && (!outgoing.is_empty() || learners_next.is_empty())
            && !voters.contains(&0);
        consistent.then_some(Self { voters, outgoing, learners, learners_next })
    }

    /// The (incoming) voters.
    pub fn voters(&self) -> &BTreeSet<NodeId> {
        &self.voters
    }

    /// The outgoing voters while joint, else empty.
    pub fn outgoing(&self) -> &BTreeSet<NodeId> {
        &self.outgoing
    }

    /// The learners.
    pub fn learners(&self) -> &BTreeSet<NodeId> {
        &self.learners
    }

    /// Voters that become learners when the joint configuration is left.
    pub fn learners_next(&self) -> &BTreeSet<NodeId> {
        &self.learners_next
    }

    /// Whether a joint configuration is in force.
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Whether `id` votes (in either half of a joint configuration).
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.outgoing.contains(&id)
    }

    /// Whether `id` is a learner (including one pending demotion).
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains(&id)
    }

    /// Whether `id` is part of the group at all.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(&id) || self.learners_next.contains(&id)
    }

    /// Every member: voters, outgoing voters and learners, sorted, without duplicates.
    pub fn members(&self) -> BTreeSet<NodeId> {
        let mut all: BTreeSet<NodeId> = self.voters.union(&self.outgoing).copied().collect();
        all.extend(&self.learners);
        all.extend(&self.learners_next);
        all
    }

    /// Whether the only voter is `id` (a single-node group decides alone).
    pub fn is_singleton(&self, id: NodeId) -> bool {
        self.voters.len() == 1 && self.voters.contains(&id) && self.outgoing.is_empty()
    }

    /// Applies a change list, entering a joint configuration when more than one voter
    /// changes. The result is returned; `self` is not modified.
    pub fn apply(&self, changes: &[Change]) -> Result<Membership, MembershipError> {
        if self.is_joint() {
            return Err(MembershipError::InJoint);
        }
        if changes.is_empty() {
            return Err(MembershipError::Empty);
        }
        let mut next = self.clone();
        for change in changes {
            match *change {
                Change::AddVoter(0) | Change::AddLearner(0) | Change::Remove(0) => return Err(MembershipError::ZeroId),
                Change::AddVoter(id) => {
                    next.learners.remove(&id);
                    next.voters.insert(id);
                }
                Change::AddLearner(id) => {
                    next.voters.remove(&id);
                    next.learners.insert(id);
                }
                Change::Remove(id) => {
                    next.voters.remove(&id);
                    next.learners.remove(&id);
                }
            }
        }
        if next.voters.is_empty() {
            return Err(MembershipError::NoVoters);
        }
        let changed = self.voters.symmetric_difference(&next.voters).count();
        if changed > 1 {
            // Joint: old voters keep voting in `outgoing`; a demoted voter cannot be a
            // learner while it still votes there, so its demotion waits in `learners_next`.
            next.outgoing = self.voters.clone();
            let demoted: Vec<NodeId> = next.learners.intersection(&next.outgoing).copied().collect();
            for id in demoted {
                next.learners.remove(&id);
                next.learners_next.insert(id);
            }
        }
        Ok(next)
    }

    /// Leaves the joint configuration.
    pub fn leave_joint(&self) -> Result<Membership, MembershipError> {
        if !self.is_joint() {
            return Err(MembershipError::NotJoint);
        }
        let mut next = self.clone();
        next.outgoing.clear();
        let pending = std::mem::take(&mut next.learners_next);
        next.learners.extend(pending);
        Ok(next)
    }

    /// The highest index a quorum has reached, given each voter's match index.
    pub fn committed_index(&self, matched: impl Fn(NodeId) -> Index) -> Index {
        let incoming = majority_index(&self.voters, &matched);
        if self.outgoing.is_empty() { incoming } else { incoming.min(majority_index(&self.outgoing, &matched)) }
    }

    /// Counts votes: `vote(id)` is `Some(granted)` for voters who answered.
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        let incoming = majority_vote(&self.voters, &vote);
        if self.outgoing.is_empty() {
            return incoming;
        }
        match (incoming, majority_vote(&self.outgoing, &vote)) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// Whether the voters for which `active` holds form a quorum (check-quorum, ReadIndex acks).
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.vote_result(|id| Some(active(id))) == VoteResult::Won
    }
}

fn majority_index(voters: &BTreeSet<NodeId>, matched: &impl Fn(NodeId) -> Index) -> Index {
    if voters.is_empty() {
        // An empty half places no restriction (only possible for `outgoing`).
        return Index::MAX;
    }
    let mut indexes: Vec<Index> = voters.iter().map(|&id| matched(id)).collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    // The (n/2+1)-th highest index is on a majority.
    indexes[voters.len() / 2]
}

fn majority_vote(voters: &BTreeSet<NodeId>, vote: &impl Fn(NodeId) -> Option<bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let quorum = voters.len() / 2 + 1;
    let (mut granted, mut rejected) = (0, 0);
    for &id in voters {
        match vote(id) {
            Some(true) => granted += 1,
            Some(false) => rejected += 1,
            None => {}
        }
    }
    if granted >= quorum {
        VoteResult::Won
    } else if rejected > voters.len() - quorum {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn majority_commit() {
        let m = Membership::new([1, 2, 3]);
        let matched: HashMap<NodeId, Index> = [(1, 10), (2, 7), (3, 3)].into();
        assert_eq!(m.committed_index(|id| matched[&id]), 7);
        let m5 = Membership::new([1, 2, 3, 4, 5]);
        let matched: HashMap<NodeId, Index> = [(1, 10), (2, 9), (3, 3), (4, 2), (5, 8)].into();
        assert_eq!(m5.committed_index(|id| matched[&id]), 8);
        let single = Membership::new([1]);
        assert_eq!(single.committed_index(|_| 4), 4);
        let even = Membership::new([1, 2, 3, 4]);
        let matched: HashMap<NodeId, Index> = [(1, 10), (2, 9), (3, 3), (4, 2)].into();
        assert_eq!(even.committed_index(|id| matched[&id]), 3, "4 voters need 3");
    }

    #[test]
    fn votes() {
        let m = Membership::new([1, 2, 3]);
        assert_eq!(m.vote_result(|id| (id == 1).then_some(true)), VoteResult::Pending);
        assert_eq!(m.vote_result(|id| (id <= 2).then_some(true)), VoteResult::Won);
        assert_eq!(m.vote_result(|id| Some(id == 1)), VoteResult::Lost);
        assert_eq!(
            m.vote_result(|id| if id == 1 {
                Some(true)
            } else if id == 2 {
                Some(false)
            } else {
                None
            }),
            VoteResult::Pending
        );
    }

    #[test]
    fn simple_and_joint_changes() {
        let m = Membership::new([1, 2, 3]);
        let added = m.apply(&[Change::AddVoter(4)]).unwrap();
        assert!(!added.is_joint(), "one voter change applies directly");
        assert_eq!(added.voters().len(), 4);

        let replaced = m.apply(&[Change::AddVoter(4), Change::Remove(1)]).unwrap();
        assert!(replaced.is_joint());
        assert_eq!(replaced.voters(), &BTreeSet::from([2, 3, 4]));
        assert_eq!(replaced.outgoing(), &BTreeSet::from([1, 2, 3]));
        assert_eq!(replaced.apply(&[Change::AddVoter(5)]), Err(MembershipError::InJoint));
        // Joint commit needs both majorities: new {2,3,4} and old {1,2,3}.
        let matched: HashMap<NodeId, Index> = [(1, 9), (2, 5), (3, 4), (4, 9)].into();
        assert_eq!(replaced.committed_index(|id| matched[&id]), 5);
        let matched: HashMap<NodeId, Index> = [(1, 9), (2, 1), (3, 1), (4, 9)].into();
        assert_eq!(replaced.committed_index(|id| matched[&id]), 1);
        // Joint vote: winning only the new half is not enough.
        assert_eq!(replaced.vote_result(|id| Some(id == 3 || id == 4)), VoteResult::Lost);
        assert_eq!(replaced.vote_result(|id| Some(id == 2 || id == 3)), VoteResult::Won);
        let left = replaced.leave_joint().unwrap();
        assert!(!left.is_joint());
        assert!(!left.contains(1));
        assert_eq!(left.leave_joint(), Err(MembershipError::NotJoint));
    }

    #[test]
    fn learners_and_demotion() {
        let m = Membership::with_learners([1, 2, 3], [4]);
        assert!(m.is_learner(4) && !m.is_voter(4));
        let promoted = m.apply(&[Change::AddVoter(4)]).unwrap();
        assert!(promoted.is_voter(4) && !promoted.is_learner(4));
        // Demote 3 and promote 4 at once: joint, with 3 pending as a learner.
        let swapped = m.apply(&[Change::AddVoter(4), Change::AddLearner(3)]).unwrap();
        assert!(swapped.is_joint());
        assert!(swapped.is_voter(3), "still votes in the outgoing half");
        assert!(swapped.learners_next().contains(&3));
        let done = swapped.leave_joint().unwrap();
        assert!(done.is_learner(3) && !done.is_voter(3));
        assert_eq!(done.voters(), &BTreeSet::from([1, 2, 4]));
    }

    #[test]
    fn invalid_changes() {
        let m = Membership::new([1]);
        assert_eq!(m.apply(&[Change::Remove(1)]), Err(MembershipError::NoVoters));
        assert_eq!(m.apply(&[]), Err(MembershipError::Empty));
        assert_eq!(m.apply(&[Change::AddVoter(0)]), Err(MembershipError::ZeroId));
        assert!(m.is_singleton(1));
    }
}

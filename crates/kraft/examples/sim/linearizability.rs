//! Linearizability checker for histories of a map from `u64` keys to `u64` registers.
//!
//! It runs the Wing–Gong/Lowe (WGL) search, memoizing `(set of linearized operations, register value)`, and
//! exploits P-compositionality: a map is a product of independent registers, so each key's sub-history is
//! checked on its own, which keeps every search small.
//!
//! Time convention: operation `a` precedes `b` in real time iff `a.ret < b.call`; equal timestamps count as
//! concurrent. An operation whose `ret` is `None` has an unknown outcome: it may take effect at any instant
//! after its call, or never, and its output is not checked.

// This file is compiled into several crates (the simulator example, an integration test), each using a different
// subset of the API, so unused or crate-private `pub` items are expected there.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// What a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// Set `key` to `value`.
    Put {
        /// The key written.
        key: u64,
        /// The value written.
        value: u64,
    },
    /// Read `key`.
    Get {
        /// The key read.
        key: u64,
    },
    /// Set `key` to `new` if its current value (`None` = absent) equals `expected`.
    Cas {
        /// The key compared and written.
        key: u64,
        /// The value the key must hold for the swap to happen.
        expected: Option<u64>,
        /// The value written on success.
        new: u64,
    },
}

impl Input {
    /// The key this operation touches.
    pub fn key(&self) -> u64 {
        match *self {
            Input::Put { key, .. } | Input::Get { key } | Input::Cas { key, .. } => key,
        }
    }
}

/// What a client observed when its operation completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// A put completed.
    Put,
    /// A get returned this value (`None` = absent).
    Get(Option<u64>),
    /// A compare-and-set completed; `true` if it swapped.
    Cas(bool),
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client that issued it (only used in explanations).
    pub client: u64,
    /// Invocation time.
    pub call: u64,
    /// Completion time, or `None` if the outcome is unknown (the client timed out or crashed).
    pub ret: Option<u64>,
    /// What was asked.
    pub input: Input,
    /// What was observed; `None` (always assumed when `ret` is `None`) means unchecked. An output of the wrong kind
    /// for the input is a violation.
    pub output: Option<Output>,
}

/// The result of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some total order of the operations respects real time and the sequential specification.
    Linearizable,
    /// No such order exists for some key.
    Violation(Violation),
    /// No violation was found, but the search for this key ran out of its step budget.
    Unknown {
        /// The first key (in ascending order) whose search was cut short.
        key: u64,
    },
}

/// Evidence that a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The key whose sub-history cannot be linearized.
    pub key: u64,
    /// Every operation on that key, sorted by call time.
    pub operations: Vec<Operation>,
    /// Human-readable description of the shortest failing prefix of the key's history.
    pub explanation: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explanation)
    }
}

/// Identifies an operation recorded by [`History::invoke`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(usize);

/// Records a history as a simulator runs: invoke an operation, later complete it (or never, if its outcome is lost).
#[derive(Clone, Debug, Default)]
pub struct History {
    operations: Vec<Operation>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client` invoked `input` at `time`; complete it later with [`History::complete`].
    pub fn invoke(&mut self, client: u64, time: u64, input: Input) -> OpId {
        self.operations.push(Operation { client, call: time, ret: None, input, output: None });
        OpId(self.operations.len() - 1)
    }

    /// Records that the operation `op` returned `output` at `time`.
    ///
    /// # Panics
    ///
    /// If `op` was not returned by this history's [`History::invoke`].
    pub fn complete(&mut self, op: OpId, time: u64, output: Output) {
        let operation = &mut self.operations[op.0];
        debug_assert!(operation.ret.is_none(), "operation {op:?} completed twice");
        operation.ret = Some(time);
        operation.output = Some(output);
    }

    /// All recorded operations in invocation order; those never completed have `ret == None`.
    pub fn operations(&self) -> Vec<Operation> {
        self.operations.clone()
    }
}

/// Checks whether `history` is linearizable, spending at most `max_steps_per_key` search steps on each key.
///
/// A step visits one call or return event; expect on the order of 10^8 steps per second in release builds, and at
/// most a few dozen bytes of memo per step, so the budget bounds both time and memory. A violation on any key wins
/// over a budget exhaustion on another, since it is definitive.
pub fn check(history: &[Operation], max_steps_per_key: u64) -> Verdict {
    let mut by_key: BTreeMap<u64, Vec<&Operation>> = BTreeMap::new();
    for operation in history {
        by_key.entry(operation.input.key()).or_default().push(operation);
    }
    let mut unknown = None;
    for (key, operations) in by_key {
        match search(&prepare(&operations, None), max_steps_per_key) {
            Search::Linearizable => {}
            Search::OutOfBudget => unknown = unknown.or(Some(key)),
            Search::Violation => return Verdict::Violation(explain(key, &operations, max_steps_per_key)),
        }
    }
    unknown.map_or(Verdict::Linearizable, |key| Verdict::Unknown { key })
}

/// A register value; `None` means the key is absent.
type Value = Option<u64>;

/// An operation on a single register, normalized for the search.
#[derive(Clone, Copy, Debug)]
struct RegisterOp {
    call: u64,
    /// `None`: may take effect at any instant after `call`, or never.
    ret: Option<u64>,
    input: Input,
    /// `None`: not checked (always `None` when `ret` is).
    output: Option<Output>,
    /// An unknown-outcome put of a value nothing observes; see [`prepare`].
    interchangeable: bool,
}

/// Outcome of the search on one register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Search {
    Linearizable,
    Violation,
    OutOfBudget,
}

/// Normalizes one key's operations (sorted by call), optionally as the history looked at time `cut`.
fn prepare(operations: &[&Operation], cut: Option<u64>) -> Vec<RegisterOp> {
    let mut ops: Vec<RegisterOp> = operations
        .iter()
        .filter(|op| cut.is_none_or(|cut| op.call <= cut))
        .map(|op| {
            // A return before the call is malformed; clamping keeps the event list well-formed.
            let ret = op.ret.map(|ret| ret.max(op.call)).filter(|&ret| cut.is_none_or(|cut| ret <= cut));
            RegisterOp { call: op.call, ret, input: op.input, output: ret.and(op.output), interchangeable: false }
        })
        // A get whose result is unknown constrains nothing.
        .filter(|op| !matches!((op.input, op.output), (Input::Get { .. }, None)))
        .collect();
    ops.sort_by_key(|op| op.call);

    // Speed: each unknown-outcome write doubles the states of an exhaustive (failing) search, since any subset of
    // them may have taken effect. Once a write of a value that no operation reads or compares against ("junk")
    // takes effect, every later operation fails or succeeds exactly as after any other junk write: no get or
    // successful CAS accepts the register, every failed CAS does, until the next write. So if no CAS failed, junk
    // writes can only hurt: assume they never took effect. Otherwise junk puts are interchangeable and `search`
    // uses them only in call order, which any linearization can be rearranged into.
    let failed_cas = ops.iter().any(|op| op.output == Some(Output::Cas(false)));
    let mentioned: HashSet<u64> = ops
        .iter()
        .filter_map(|op| match (op.input, op.output) {
            (Input::Cas { expected, .. }, _) => expected,
            (_, Some(Output::Get(seen))) => seen,
            _ => None,
        })
        .collect();
    ops.retain_mut(|op| {
        let written = match op.input {
            Input::Put { value, .. } | Input::Cas { new: value, .. } => Some(value),
            Input::Get { .. } => None,
        };
        let junk = op.ret.is_none() && written.is_some_and(|value| !mentioned.contains(&value));
        op.interchangeable = junk && matches!(op.input, Input::Put { .. });
        !junk || failed_cas
    });
    ops
}

/// The register value after applying `op` to `state`, or `None` if `op`'s observed output rules that out.
fn apply(state: Value, op: &RegisterOp) -> Option<Value> {
    match (op.input, op.output) {
        (Input::Put { value, .. }, None | Some(Output::Put)) => Some(Some(value)),
        (Input::Get { .. }, None) => Some(state),
        (Input::Get { .. }, Some(Output::Get(seen))) => (seen == state).then_some(state),
        (Input::Cas { expected, new, .. }, None) => Some(if state == expected { Some(new) } else { state }),
        (Input::Cas { expected, new, .. }, Some(Output::Cas(swapped))) => {
            (swapped == (state == expected)).then_some(if swapped { Some(new) } else { state })
        }
        // An output of the wrong kind cannot be explained by any order.
        _ => None,
    }
}

/// A fixed pseudo-random 128-bit tag per operation index (two SplitMix64 outputs).
fn tag(index: usize) -> u128 {
    let mix = |n: u64| {
        let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = 2 * index as u64;
    (u128::from(mix(n + 1)) << 64) | u128::from(mix(n + 2))
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// WGL search over one register's operations, sorted by call.
///
/// Events (calls and returns) live in a doubly linked list sorted by time. Linearizing an operation unlinks its
/// call and return; backtracking relinks them in reverse order, as in dancing links. A call is a candidate to
/// linearize next iff it comes before the first remaining return, i.e. no pending operation returned before it
/// was called.
fn search(ops: &[RegisterOp], max_steps: u64) -> Search {
    // Node 0 is the list head; node i > 0 is events[i - 1]. Calls sort before returns at equal times, which makes
    // equal timestamps concurrent.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
    for (index, op) in ops.iter().enumerate() {
        events.push((op.call, false, index));
        if let Some(ret) = op.ret {
            events.push((ret, true, index));
        }
    }
    events.sort_unstable();
    let nodes = events.len() + 1;
    let mut next: Vec<usize> = (1..=nodes).map(|node| if node == nodes { NIL } else { node }).collect();
    let mut prev: Vec<usize> = (0..nodes).map(|node| node.wrapping_sub(1)).collect();
    let mut return_node = vec![NIL; ops.len()];
    for (node, &(_, is_return, op)) in events.iter().enumerate().map(|(i, event)| (i + 1, event)) {
        if is_return {
            return_node[op] = node;
        }
    }
    let unlink = |next: &mut [usize], prev: &mut [usize], node: usize| {
        next[prev[node]] = next[node];
        if next[node] != NIL {
            prev[next[node]] = prev[node];
        }
    };
    let relink = |next: &mut [usize], prev: &mut [usize], node: usize| {
        next[prev[node]] = node;
        if next[node] != NIL {
            prev[next[node]] = node;
        }
    };

    // The memo holds a fingerprint of the linearized set (XOR of its members' random tags, updated in O(1)) rather
    // than the set: constant time and memory per state, even for long histories. Two distinct visited sets collide
    // with probability 2^-128 per pair, which is negligible next to any other source of error.
    let tags: Vec<u128> = (0..ops.len()).map(tag).collect();
    let mut fingerprint = 0u128;
    let mut seen: HashSet<(u128, Value)> = HashSet::new();
    let junk: Vec<usize> = (0..ops.len()).filter(|&op| ops[op].interchangeable).collect();
    let mut junk_used = 0;
    let mut state: Value = None;
    // Linearized operations as (call node, register value before it), for backtracking.
    let mut stack: Vec<(usize, Value)> = Vec::new();
    // Operations with unknown outcome never have to be linearized, so we are done once every known one is.
    let mut unreturned = ops.iter().filter(|op| op.ret.is_some()).count();
    let mut cursor = next[HEAD];
    let mut steps = 0u64;
    while unreturned > 0 {
        steps += 1;
        if steps > max_steps {
            return Search::OutOfBudget;
        }
        let event = cursor.checked_sub(1).and_then(|index| events.get(index));
        if let Some(&(_, false, op)) = event {
            let in_turn = !ops[op].interchangeable || junk.get(junk_used) == Some(&op);
            let new_state = if in_turn { apply(state, &ops[op]) } else { None };
            // Linearizing an unknown-outcome operation that leaves the register unchanged is never better than
            // leaving it out, which keeps it available; skipping it spares trying every subset of such no-ops.
            let new_state = new_state.filter(|&new_state| ops[op].ret.is_some() || new_state != state);
            // Reaching the same (linearized set, value) a second time cannot lead anywhere new.
            if let Some(new_state) = new_state.filter(|&new_state| seen.insert((fingerprint ^ tags[op], new_state))) {
                stack.push((cursor, state));
                state = new_state;
                fingerprint ^= tags[op];
                junk_used += usize::from(ops[op].interchangeable);
                unlink(&mut next, &mut prev, cursor);
                if return_node[op] != NIL {
                    unlink(&mut next, &mut prev, return_node[op]);
                    unreturned -= 1;
                }
                cursor = next[HEAD];
            } else {
                cursor = next[cursor];
            }
        } else {
            // A pending operation returned (or the list ended) before any candidate worked: undo the last choice.
            let Some((call_node, previous)) = stack.pop() else { return Search::Violation };
            let op = events[call_node - 1].2;
            state = previous;
            fingerprint ^= tags[op];
            junk_used -= usize::from(ops[op].interchangeable);
            if return_node[op] != NIL {
                relink(&mut next, &mut prev, return_node[op]);
                unreturned += 1;
            }
            relink(&mut next, &mut prev, call_node);
            cursor = next[call_node];
        }
    }
    Search::Linearizable
}

/// Builds a [`Violation`] showing the shortest prefix of the key's history that is already not linearizable.
///
/// The prefix at time `t` keeps the operations called by `t`; those still running at `t` get an unknown outcome.
/// Any linearization of a history also linearizes each of its prefixes, so failure is monotone in `t` and binary
/// search applies. Only a return can make a prefix fail, so return times are the only candidate cuts.
fn explain(key: u64, operations: &[&Operation], max_steps: u64) -> Violation {
    let mut sorted: Vec<&Operation> = operations.to_vec();
    sorted.sort_by_key(|op| op.call);
    let mut cuts: Vec<u64> = sorted.iter().filter_map(|op| op.ret.map(|ret| ret.max(op.call))).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let fails = |cut: u64| search(&prepare(&sorted, Some(cut)), max_steps) == Search::Violation;
    // `None` if the step budget hid every prefix's failure; then show the whole history.
    let cut = cuts.get(cuts.partition_point(|&cut| !fails(cut))).copied();

    let shown: Vec<&Operation> = sorted.iter().copied().filter(|op| cut.is_none_or(|cut| op.call <= cut)).collect();
    let mut explanation = match cut {
        Some(cut) => format!(
            "key {key}: not linearizable by t={cut}; the {} operations called by then admit no order \
             consistent with real time (\"<- cut\" marks the return that breaks it):\n",
            shown.len()
        ),
        None => format!("key {key}: not linearizable; its {} operations admit no valid order:\n", shown.len()),
    };
    for op in shown {
        let ret = op.ret.map_or_else(|| "unknown".to_string(), |ret| ret.to_string());
        let note = match (op.ret, cut) {
            (Some(ret), Some(cut)) if ret == cut => "  <- cut",
            (Some(ret), Some(cut)) if ret > cut => "  (still running at the cut: result ignored)",
            _ => "",
        };
        explanation.push_str(&format!(
            "  client {:<4} call {:<8} ret {:<8} {}{note}\n",
            op.client,
            op.call,
            ret,
            describe(op)
        ));
    }
    Violation { key, operations: sorted.into_iter().cloned().collect(), explanation }
}

/// One-line rendering of an operation's input and output, e.g. `cas(Some(1), 2) -> true`.
fn describe(op: &Operation) -> String {
    let input = match op.input {
        Input::Put { value, .. } => format!("put({value})"),
        Input::Get { .. } => "get()".to_string(),
        Input::Cas { expected, new, .. } => format!("cas({expected:?}, {new})"),
    };
    let output = match (op.ret, op.output) {
        (None, _) | (_, None) => "?".to_string(),
        (Some(_), Some(Output::Put)) => "ok".to_string(),
        (Some(_), Some(Output::Get(seen))) => format!("{seen:?}"),
        (Some(_), Some(Output::Cas(swapped))) => swapped.to_string(),
    };
    format!("{input} -> {output}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const BUDGET: u64 = 1_000_000;

    fn op(client: u64, call: u64, ret: Option<u64>, input: Input, output: Option<Output>) -> Operation {
        Operation { client, call, ret, input, output }
    }
    fn put(client: u64, call: u64, ret: u64, value: u64) -> Operation {
        op(client, call, Some(ret), Input::Put { key: 1, value }, Some(Output::Put))
    }
    fn lost_put(client: u64, call: u64, value: u64) -> Operation {
        op(client, call, None, Input::Put { key: 1, value }, None)
    }
    fn get(client: u64, call: u64, ret: u64, seen: Option<u64>) -> Operation {
        op(client, call, Some(ret), Input::Get { key: 1 }, Some(Output::Get(seen)))
    }
    fn cas(client: u64, call: u64, ret: Option<u64>, expected: Option<u64>, new: u64, ok: bool) -> Operation {
        op(client, call, ret, Input::Cas { key: 1, expected, new }, ret.map(|_| Output::Cas(ok)))
    }
    fn is_linearizable(history: &[Operation]) -> bool {
        match check(history, BUDGET) {
            Verdict::Linearizable => true,
            Verdict::Violation(_) => false,
            Verdict::Unknown { key } => panic!("budget exhausted on key {key}"),
        }
    }

    #[test]
    fn empty_and_sequential_histories_are_linearizable() {
        assert!(is_linearizable(&[]));
        assert!(is_linearizable(&[get(1, 0, 1, None), put(1, 2, 3, 5), get(2, 4, 5, Some(5))]));
    }

    #[test]
    fn stale_read_after_completed_write_is_a_violation() {
        assert!(!is_linearizable(&[put(1, 0, 1, 1), put(1, 2, 3, 2), get(2, 4, 5, Some(1))]));
    }

    #[test]
    fn read_of_a_value_never_written_is_a_violation() {
        assert!(!is_linearizable(&[put(1, 0, 1, 1), get(2, 0, 5, Some(9))]));
    }

    #[test]
    fn read_concurrent_with_a_write_may_see_old_or_new_value() {
        assert!(is_linearizable(&[put(1, 0, 1, 1), put(1, 2, 10, 2), get(2, 3, 4, Some(1)), get(2, 5, 6, Some(2))]));
        // Equal timestamps count as concurrent.
        assert!(is_linearizable(&[put(1, 0, 5, 1), get(2, 5, 6, None)]));
        // But once a reader saw the new value, a later read cannot see the old one.
        assert!(!is_linearizable(&[put(1, 0, 1, 1), put(1, 2, 10, 2), get(2, 3, 4, Some(2)), get(3, 5, 6, Some(1))]));
    }

    #[test]
    fn concurrent_writes_seen_in_both_orders_by_sequential_readers_is_a_violation() {
        let writes = [put(1, 0, 20, 1), put(2, 0, 20, 2)];
        let sequential_readers =
            [get(3, 1, 2, Some(1)), get(3, 3, 4, Some(2)), get(4, 5, 6, Some(2)), get(4, 7, 8, Some(1))];
        assert!(!is_linearizable(&[writes.as_slice(), &sequential_readers].concat()));
        // Concurrent readers that agree on the order are fine.
        let agreeing = [get(3, 1, 2, Some(1)), get(3, 3, 4, Some(2)), get(4, 1, 2, Some(1)), get(4, 3, 4, Some(2))];
        assert!(is_linearizable(&[writes.as_slice(), &agreeing].concat()));
    }

    #[test]
    fn unknown_outcome_put_may_or_may_not_take_effect() {
        // Observed later: it took effect.
        assert!(is_linearizable(&[lost_put(1, 0, 1), get(2, 5, 6, Some(1))]));
        // Never observed: it did not (or not yet).
        assert!(is_linearizable(&[lost_put(1, 0, 1), get(2, 5, 6, None), get(2, 7, 8, None)]));
        // It cannot take effect before its call, nor be undone once observed.
        assert!(!is_linearizable(&[get(2, 0, 1, Some(1)), lost_put(1, 2, 1)]));
        assert!(!is_linearizable(&[lost_put(1, 0, 1), get(2, 5, 6, Some(1)), get(2, 7, 8, None)]));
        // A get with unknown outcome is ignored.
        assert!(is_linearizable(&[op(1, 0, None, Input::Get { key: 1 }, Some(Output::Get(Some(7))))]));
    }

    #[test]
    fn cas_follows_the_register() {
        let chain = [cas(1, 0, Some(1), None, 1, true), cas(2, 2, Some(3), Some(1), 2, true)];
        assert!(is_linearizable(
            &[chain.as_slice(), &[cas(1, 4, Some(5), Some(1), 3, false), get(2, 6, 7, Some(2))]].concat()
        ));
        // Success with the wrong expected value, or failure with the right one.
        assert!(!is_linearizable(&[put(1, 0, 1, 1), cas(2, 2, Some(3), Some(5), 2, true)]));
        assert!(!is_linearizable(&[put(1, 0, 1, 1), cas(2, 2, Some(3), Some(1), 2, false)]));
        // Two concurrent CAS from the same expected value cannot both succeed.
        assert!(!is_linearizable(&[cas(1, 0, Some(5), None, 1, true), cas(2, 0, Some(5), None, 2, true)]));
        assert!(is_linearizable(&[cas(1, 0, Some(5), None, 1, true), cas(2, 0, Some(5), None, 2, false)]));
    }

    #[test]
    fn cas_with_unknown_outcome() {
        // An unknown CAS whose new value is read later took effect, which needs its expected value to have held.
        assert!(is_linearizable(&[put(1, 0, 1, 1), cas(2, 2, None, Some(1), 2, true), get(3, 5, 6, Some(2))]));
        assert!(!is_linearizable(&[put(1, 0, 1, 1), cas(2, 2, None, Some(3), 2, true), get(3, 5, 6, Some(2))]));
        // A failed CAS can be explained by an unobserved lost put: such puts must not be pruned.
        assert!(is_linearizable(&[put(1, 0, 1, 1), lost_put(2, 2, 7), cas(3, 3, Some(4), Some(1), 2, false)]));
    }

    #[test]
    fn output_of_the_wrong_kind_is_a_violation() {
        assert!(!is_linearizable(&[op(1, 0, Some(1), Input::Put { key: 1, value: 1 }, Some(Output::Cas(true)))]));
    }

    #[test]
    fn keys_are_checked_independently_and_the_violation_names_its_key() {
        let mut other_key = put(1, 0, 10, 4);
        other_key.input = Input::Put { key: 2, value: 4 };
        let history = [get(2, 3, 4, Some(9)), other_key, put(1, 1, 2, 3)];
        let Verdict::Violation(violation) = check(&history, BUDGET) else { panic!("expected a violation") };
        assert_eq!(violation.key, 1);
        assert_eq!(violation.operations, vec![history[2].clone(), history[0].clone()]);
    }

    #[test]
    fn explanation_shows_shortest_failing_prefix() {
        let history = [put(1, 0, 1, 1), get(2, 2, 3, Some(1)), get(2, 4, 5, Some(7)), put(3, 4, 9, 2), put(1, 6, 7, 3)];
        let Verdict::Violation(violation) = check(&history, BUDGET) else { panic!("expected a violation") };
        let text = violation.to_string();
        assert!(text.starts_with("key 1: not linearizable by t=5"), "{text}");
        assert_eq!(text.lines().count(), 1 + 4, "{text}");
        assert!(text.contains("get() -> Some(7)  <- cut"), "{text}");
        assert!(text.contains("put(2) -> ok  (still running"), "{text}");
        assert!(!text.contains("put(3)"), "{text}");
    }

    #[test]
    fn exhausted_budget_is_unknown_not_a_verdict() {
        let history = [put(1, 0, 1, 1), get(2, 2, 3, Some(1))];
        assert_eq!(check(&history, 1), Verdict::Unknown { key: 1 });
        assert_eq!(check(&history, 2), Verdict::Linearizable);
    }

    #[test]
    fn history_recorder_marks_uncompleted_operations_unknown() {
        let mut history = History::new();
        let a = history.invoke(1, 0, Input::Put { key: 3, value: 1 });
        let b = history.invoke(2, 1, Input::Get { key: 3 });
        history.complete(b, 2, Output::Get(Some(1)));
        assert_ne!(a, b);
        let ops = history.operations();
        assert_eq!((ops[0].ret, ops[0].output), (None, None));
        assert_eq!((ops[1].ret, ops[1].output), (Some(2), Some(Output::Get(Some(1)))));
        assert_eq!(check(&ops, BUDGET), Verdict::Linearizable);
    }

    /// SplitMix64: deterministic, dependency-free randomness.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % bound
        }
    }

    /// A linearizable history from a real map: operation `i` takes effect at instant `100 + 10 * i`, and its
    /// call/ret window is stretched around that instant by up to `stretch` (0 = sequential). Client `i % 5` issues
    /// it, so a stretch below 25 keeps each client sequential with at most 5 operations in flight. About
    /// `lost_percent` of operations lose their outcome; a lost write takes effect or not at random.
    fn generate(rng: &mut Rng, len: usize, keys: u64, stretch: u64, lost_percent: u64) -> Vec<Operation> {
        let mut map: HashMap<u64, u64> = HashMap::new();
        let mut history = Vec::with_capacity(len);
        for (i, next_value) in (0..len as u64).zip(1..) {
            let key = rng.below(keys);
            let current = map.get(&key).copied();
            let input = match rng.below(4) {
                0 => Input::Put { key, value: next_value },
                1 | 2 => Input::Get { key },
                // Mostly the current value, so that CAS often succeeds.
                _ => Input::Cas {
                    key,
                    expected: [current, None, Some(rng.below(next_value))][rng.below(3) as usize],
                    new: next_value,
                },
            };
            let lost = rng.below(100) < lost_percent;
            let output = if lost && rng.below(2) == 0 {
                None // Lost before reaching the map.
            } else {
                Some(match input {
                    Input::Put { value, .. } => {
                        map.insert(key, value);
                        Output::Put
                    }
                    Input::Get { .. } => Output::Get(current),
                    Input::Cas { expected, new, .. } => {
                        if current == expected {
                            map.insert(key, new);
                        }
                        Output::Cas(current == expected)
                    }
                })
            };
            let point = 100 + 10 * i;
            let (call, ret) = (point - rng.below(stretch + 1), point + rng.below(stretch + 1));
            let (ret, output) = if lost { (None, None) } else { (Some(ret), output) };
            history.push(Operation { client: i % 5, call, ret, input, output });
        }
        history
    }

    #[test]
    fn random_histories_are_linearizable_until_a_read_is_corrupted() {
        for seed in 0..300 {
            let mut rng = Rng(seed);
            for stretch in [0, 24] {
                let mut history = generate(&mut rng, 150, 3, stretch, 10);
                assert_eq!(check(&history, BUDGET), Verdict::Linearizable, "seed {seed}, stretch {stretch}");
                let reads: Vec<usize> =
                    (0..history.len()).filter(|&i| matches!(history[i].output, Some(Output::Get(_)))).collect();
                let corrupted = reads[rng.below(reads.len() as u64) as usize];
                history[corrupted].output = Some(Output::Get(Some(u64::MAX)));
                match check(&history, BUDGET) {
                    Verdict::Violation(violation) => assert_eq!(violation.key, history[corrupted].input.key()),
                    verdict => panic!("seed {seed}, stretch {stretch}: corrupted read gave {verdict:?}"),
                }
            }
        }
    }

    #[test]
    fn ten_thousand_operations_check_quickly() {
        let mut history = generate(&mut Rng(7), 10_000, 50, 24, 2);
        let start = std::time::Instant::now();
        assert_eq!(check(&history, BUDGET), Verdict::Linearizable);
        let linearizable = start.elapsed();
        let read = history.iter().rposition(|op| matches!(op.output, Some(Output::Get(_)))).expect("a read");
        history[read].output = Some(Output::Get(Some(u64::MAX)));
        let start = std::time::Instant::now();
        assert!(matches!(check(&history, BUDGET), Verdict::Violation(_)));
        let violation = start.elapsed();
        println!("10k ops / 50 keys: linearizable check {linearizable:?}, violation check + explanation {violation:?}");
        // Loose bound: catches an exponential blow-up without flaking on a loaded debug build.
        assert!(linearizable + violation < std::time::Duration::from_secs(5));
    }
}

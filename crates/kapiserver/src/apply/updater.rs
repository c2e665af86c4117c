//! Ownership bookkeeping for one write, following structured-merge-diff's `merge.Updater`:
//! which fields each manager keeps, gives up or takes, and what an apply prunes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::element::values_equal;
use super::fieldset::FieldSet;
use super::managed::{Entry, Managed, ManagerKey};
use super::typed::{Comparison, Typed};

/// Fields other managers own that a write would change, by manager.
pub(crate) type ConflictSets = BTreeMap<ManagerKey, FieldSet>;

/// The outcome of an apply at this level.
pub(crate) enum Applied {
    /// The object changed; here is the new one.
    Changed(Value),
    /// The merged object equals the live one.
    Unchanged,
}

pub(crate) struct Updater<'a> {
    pub(crate) typed: Typed<'a>,
    /// Fields nobody owns here (reset by the endpoint, e.g. `status` on the main resource).
    pub(crate) ignored: &'a FieldSet,
}

impl Updater<'_> {
    /// Takes the changes from `live` to `new` away from every manager but `workflow`: fields
    /// that changed are conflicts (an error unless `force`), removed fields are dropped.
    fn update(
        &self,
        live: &Value,
        new: &Value,
        managed: &mut Managed,
        workflow: &ManagerKey,
        force: bool,
    ) -> Result<Comparison, ConflictSets> {
        let compare = self.typed.compare(live, new).exclude(self.ignored);
        let changed = compare.modified.union(&compare.added);
        let conflicts: ConflictSets = managed
            .iter()
            .filter(|(key, _)| *key != workflow)
            .filter_map(|(key, entry)| {
                let owned = entry.set.intersection(&changed);
                (!owned.is_empty()).then(|| (key.clone(), owned))
            })
            .collect();
        if !force && !conflicts.is_empty() {
            return Err(conflicts);
        }
        for (key, entry) in managed.iter_mut() {
            if key == workflow {
                continue;
            }
            if let Some(taken) = conflicts.get(key) {
                entry.set = entry.set.difference(taken);
            }
            if !compare.removed.is_empty() {
                entry.set = entry.set.difference(&compare.removed);
            }
        }
        managed.retain(|_, entry| !entry.set.is_empty());
        Ok(compare)
    }

    /// Records a non-apply write: `manager` gains every field that changed or appeared.
    pub(crate) fn record(
        &self,
        live: &Value,
        new: &Value,
        managed: &mut Managed,
        manager: &ManagerKey,
        api_version: &str,
    ) {
        let Ok(compare) = self.update(live, new, managed, manager, true) else {
            // Forced updates report no conflicts.
            return;
        };
        let previous = managed.get(manager).map(|e| e.set.clone()).unwrap_or_default();
        let set = previous
            .difference(&compare.removed)
            .union(&compare.modified)
            .union(&compare.added)
            .recursive_difference(self.ignored);
        let time = managed.get(manager).and_then(|e| e.time.clone());
        if set.is_empty() {
            managed.remove(manager);
        } else {
            managed.insert(manager.clone(), Entry { set, api_version: api_version.to_owned(), applied: false, time });
        }
    }

    /// Merges `config` into `live` for `manager`, prunes what the manager stopped applying
    /// and settles ownership. `Err` carries the conflicts when not forced.
    pub(crate) fn apply(
        &self,
        live: &Value,
        config: &Value,
        managed: &mut Managed,
        manager: &ManagerKey,
        api_version: &str,
        force: bool,
    ) -> Result<Result<Applied, ConflictSets>, String> {
        let merged = self.typed.merge(live, config).map_err(|e| format!("failed to merge config: {e}"))?;
        let last = managed.get(manager).map(|e| e.set.clone());
        let set = self.typed.field_set(config).recursive_difference(self.ignored);
        let time = managed.get(manager).and_then(|e| e.time.clone());
        managed.insert(manager.clone(), Entry { set, api_version: api_version.to_owned(), applied: true, time });
        let new = self.prune(merged, managed, last);
        if let Err(conflicts) = self.update(live, &new, managed, manager, force) {
            return Ok(Err(conflicts));
        }
        Ok(Ok(if values_equal(live, &new) { Applied::Unchanged } else { Applied::Changed(new) }))
    }

    /// Removes what the applier owned last time and no longer applies, unless some manager
    /// (the applier's new configuration included) still owns it. Mirrors upstream's three
    /// steps: remove, add back owned items, add back items the applier never owned.
    fn prune(&self, merged: Value, managed: &Managed, last: Option<FieldSet>) -> Value {
        let Some(last) = last.filter(|s| !s.is_empty()) else { return merged };
        let typed = &self.typed;
        let last = last.with_named_fields_as_members();
        let pruned = typed.remove_items(&merged, &last);

        let owned = managed.values().fold(FieldSet::new(), |all, e| all.union(&e.set)).with_named_fields_as_members();
        let merged_set = typed.field_set(&merged).with_named_fields_as_members();
        let pruned_set = typed.field_set(&pruned).with_named_fields_as_members();
        let pruned = typed.remove_items(&merged, &merged_set.difference(&pruned_set.union(&owned)));

        let pruned_set = typed.field_set(&pruned).with_named_fields_as_members();
        typed.remove_items(&merged, &merged_set.difference(&pruned_set).intersection(&last))
    }
}

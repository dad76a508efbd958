//! What a new version of the task file changes, task by task. Pure.
//!
//! - a task that is the same in both keeps its timer (its interval grid is not reset);
//! - a task whose schedule, zone, jitter or enabled flag changed is planned again;
//! - a task whose command or other settings changed is updated, effective from its next
//!   run, and keeps its timer;
//! - a task that is gone is removed, except when its entry is still in the file but
//!   became invalid: then the previous definition stays, so a typo never stops a task;
//! - a new task is added.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::Task;

/// The changes, by kind.
#[derive(Debug, Default)]
pub struct Plan {
    pub added: Vec<Arc<Task>>,
    pub removed: Vec<String>,
    /// Changed in a way that moves its firings.
    pub replanned: Vec<Arc<Task>>,
    /// Changed, but fires as before.
    pub updated: Vec<Arc<Task>>,
    pub unchanged: usize,
    /// Ids whose entries became invalid; their previous definitions stay.
    pub kept: Vec<String>,
}

impl Plan {
    /// The one summary line of a reload.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "reload: {} added, {} removed, {} changed, {} unchanged",
            self.added.len(),
            self.removed.len(),
            self.replanned.len() + self.updated.len(),
            self.unchanged
        );
        if !self.kept.is_empty() {
            s.push_str(&format!(
                ", {} invalid (previous definition kept)",
                self.kept.len()
            ));
        }
        s
    }
}

/// Compares the loaded tasks with the new file's valid tasks. `invalid` holds the ids of
/// the new file's rejected entries (those whose id could be read).
pub fn diff<'a>(
    old: impl Iterator<Item = &'a Task>,
    new: &[Arc<Task>],
    invalid: &HashSet<String>,
) -> Plan {
    let old: HashMap<&str, &Task> = old.map(|t| (&*t.id, t)).collect();
    let mut plan = Plan::default();
    for task in new {
        match old.get(&*task.id) {
            None => plan.added.push(task.clone()),
            Some(prev) if **prev == **task => plan.unchanged += 1,
            Some(prev) if prev.schedule_differs(task) || prev.enabled != task.enabled => {
                plan.replanned.push(task.clone())
            }
            Some(_) => plan.updated.push(task.clone()),
        }
    }
    let new_ids: HashSet<&str> = new.iter().map(|t| &*t.id).collect();
    let mut gone: Vec<&str> = old
        .keys()
        .copied()
        .filter(|id| !new_ids.contains(id))
        .collect();
    gone.sort_unstable();
    for id in gone {
        if invalid.contains(id) {
            plan.kept.push(id.to_owned());
        } else {
            plan.removed.push(id.to_owned());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_test_yaml as config;

    fn tasks(yaml: &str) -> Vec<Arc<Task>> {
        config(yaml).tasks
    }

    fn plan(old: &[Arc<Task>], new: &[Arc<Task>], invalid: &HashSet<String>) -> Plan {
        diff(old.iter().map(|t| &**t), new, invalid)
    }

    #[test]
    fn each_kind_of_change_is_told_apart() {
        let old = tasks(
            "tasks:\n\
             - {task_id: same, interval_seconds: 5, entry_point: a}\n\
             - {task_id: resched, interval_seconds: 5, entry_point: a}\n\
             - {task_id: recmd, interval_seconds: 5, entry_point: a}\n\
             - {task_id: disable, interval_seconds: 5, entry_point: a}\n\
             - {task_id: gone, interval_seconds: 5, entry_point: a}\n\
             - {task_id: typo, interval_seconds: 5, entry_point: a}\n",
        );
        let new = tasks(
            "tasks:\n\
             - {task_id: same, interval_seconds: 5, entry_point: a}\n\
             - {task_id: resched, interval_seconds: 6, entry_point: a}\n\
             - {task_id: recmd, interval_seconds: 5, entry_point: b}\n\
             - {task_id: disable, interval_seconds: 5, entry_point: a, enabled: false}\n\
             - {task_id: fresh, cron: '* * * * *', entry_point: a}\n",
        );
        let invalid: HashSet<String> = ["typo".to_owned()].into();
        let plan = plan(&old, &new, &invalid);
        let ids = |v: &[Arc<Task>]| v.iter().map(|t| t.id.to_string()).collect::<Vec<_>>();
        assert_eq!(plan.unchanged, 1);
        assert_eq!(ids(&plan.replanned), ["resched", "disable"]);
        assert_eq!(ids(&plan.updated), ["recmd"]);
        assert_eq!(ids(&plan.added), ["fresh"]);
        assert_eq!(plan.removed, ["gone"]);
        assert_eq!(plan.kept, ["typo"]);
        assert_eq!(
            plan.summary(),
            "reload: 1 added, 1 removed, 3 changed, 1 unchanged, 1 invalid (previous definition kept)"
        );
    }

    #[test]
    fn a_zone_or_jitter_change_moves_firings() {
        let old =
            tasks("tasks:\n- {task_id: c, cron: '0 3 * * *', entry_point: a, timezone: UTC}\n");
        let new = tasks(
            "tasks:\n- {task_id: c, cron: '0 3 * * *', entry_point: a, timezone: Asia/Tokyo}\n",
        );
        assert_eq!(plan(&old, &new, &HashSet::new()).replanned.len(), 1);
        let new = tasks("tasks:\n- {task_id: c, cron: '0 3 * * *', entry_point: a, timezone: UTC, jitter_seconds: 5}\n");
        assert_eq!(plan(&old, &new, &HashSet::new()).replanned.len(), 1);
    }
}

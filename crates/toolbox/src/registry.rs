//! The table each kind of live toolbox object (sessions, PTYs, interpreter contexts) is kept in.
//!
//! Entries are keyed by sandbox, the sandbox's init pid and the object's id: a sandbox that
//! stopped and started again has a new init, so objects of its previous run (whose processes
//! died with it) are never found again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sandbar_runtime::SandboxId;

use crate::{Target, ToolboxError};

/// Where one object lives: (sandbox, init pid, id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    sandbox: SandboxId,
    init: i32,
    id: String,
}

impl Key {
    /// The key of `id` in the target sandbox's current run; 409 when the sandbox is not running.
    pub(crate) fn new(target: &Target, id: &str) -> Result<Key, ToolboxError> {
        Ok(Key { sandbox: target.id.clone(), init: init_pid(target)?, id: id.to_string() })
    }
}

fn init_pid(target: &Target) -> Result<i32, ToolboxError> {
    target.runtime.init_pid(&target.id).map_err(|e| ToolboxError::conflict(e.to_string()))
}

/// Objects of every sandbox, shared by all requests.
pub(crate) struct Registry<T> {
    table: Mutex<HashMap<Key, Arc<T>>>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry { table: Mutex::new(HashMap::new()) }
    }
}

impl<T> Registry<T> {
    fn table(&self) -> MutexGuard<'_, HashMap<Key, Arc<T>>> {
        sandbar_runtime::lock(&self.table)
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<T>> {
        self.table().get(key).cloned()
    }

    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.table().contains_key(key)
    }

    /// Inserts `value` unless the key is taken; false (and nothing changes) when it is.
    pub(crate) fn insert_new(&self, key: Key, value: Arc<T>) -> bool {
        let mut table = self.table();
        if table.contains_key(&key) {
            return false;
        }
        table.insert(key, value);
        true
    }

    /// The object under `key`, `value` once inserted when there was none.
    pub(crate) fn get_or_insert(&self, key: Key, value: Arc<T>) -> Arc<T> {
        Arc::clone(self.table().entry(key).or_insert(value))
    }

    pub(crate) fn remove(&self, key: &Key) -> Option<Arc<T>> {
        self.table().remove(key)
    }

    /// Keeps only the objects whose (sandbox, init pid) `keep` accepts.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&SandboxId, i32) -> bool) {
        self.table().retain(|key, _| keep(&key.sandbox, key.init));
    }

    /// Every object of the target sandbox's current run, in no particular order.
    pub(crate) fn list(&self, target: &Target) -> Result<Vec<Arc<T>>, ToolboxError> {
        let init = init_pid(target)?;
        let table = self.table();
        Ok(table
            .iter()
            .filter(|(key, _)| key.sandbox == target.id && key.init == init)
            .map(|(_, v)| Arc::clone(v))
            .collect())
    }
}

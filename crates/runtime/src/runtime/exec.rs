//! Processes in a running sandbox: exec, signals, pids, and the environment new ones start with.

use super::Runtime;
use crate::process::{self, Process};
use crate::spec::{validate_env, validate_env_name, ExecSpec, SandboxId};
use crate::sync::lock;
use crate::Error;
use sandbar_init::Request;

impl Runtime {
    /// Starts a process in a running sandbox.
    #[tracing::instrument(level = "debug", skip_all, fields(sandbox_id = %id))]
    pub fn exec(&self, id: &SandboxId, exec: &ExecSpec) -> Result<Process, Error> {
        let running = self.running(id)?;
        if running.is_paused() {
            return Err(Error::Paused { id: id.clone() });
        }
        let spec = &running.record.spec;
        let image = &running.record.image;
        let base = match &exec.base_env {
            Some(base) => merge_env(Vec::new(), base)?,
            None => lock(&running.env).clone(),
        };
        let env = merge_env(base, &exec.env)?;
        let user = exec.user.clone().or_else(|| spec.user.clone()).unwrap_or_else(|| image.user.clone());
        let cwd = exec.cwd.clone().or_else(|| spec.workdir.clone()).or_else(|| Some(image.workdir.clone()));
        process::spawn(id, &running.socket, exec, env, user, cwd)
    }

    /// The environment processes started now get (before their own additions).
    pub fn env(&self, id: &SandboxId) -> Result<Vec<(String, String)>, Error> {
        let running = self.running(id)?;
        let env = lock(&running.env);
        Ok(env
            .iter()
            .map(|kv| kv.split_once('=').unwrap_or((kv.as_str(), "")))
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    /// Changes the environment of processes started from now on in a running sandbox: first every
    /// name in `unset` is removed, then every variable whose value starts with
    /// `unset_value_prefix` and whose name is not in `set`, then `set` is applied. Processes
    /// already running keep theirs; a stop forgets the change. Returns the resulting environment.
    pub fn update_env(
        &self,
        id: &SandboxId,
        set: &[(String, String)],
        unset: &[String],
        unset_value_prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>, Error> {
        let running = self.running(id)?;
        for key in unset {
            validate_env_name(key)?;
        }
        let mut env = lock(&running.env);
        let mut next: Vec<String> = env
            .iter()
            .filter(|kv| {
                let (key, value) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                let unset_by_name = unset.iter().any(|u| u == key);
                let unset_by_value = unset_value_prefix
                    .is_some_and(|prefix| value.starts_with(prefix) && !set.iter().any(|(k, _)| k == key));
                !unset_by_name && !unset_by_value
            })
            .cloned()
            .collect();
        next = merge_env(next, set)?;
        *env = next;
        drop(env);
        self.env(id)
    }

    /// Sends `signal` to process `pid` (or its process group) in a running sandbox.
    pub fn kill(&self, id: &SandboxId, pid: i32, signal: i32, group: bool) -> Result<(), Error> {
        let running = self.running(id)?;
        process::request(id, &running.socket, &Request::Signal { pid, signal, group })
    }

    /// Host pids of every process in a running sandbox's cgroup (init included).
    pub fn pids(&self, id: &SandboxId) -> Result<Vec<i32>, Error> {
        let running = self.running(id)?;
        running.cgroup.pids(id)
    }

    /// Host pid of a running sandbox's init.
    pub fn init_pid(&self, id: &SandboxId) -> Result<i32, Error> {
        Ok(self.running(id)?.init_pid)
    }
}

/// `base` (`KEY=value` strings) with each of `extra` set, replacing an earlier value of the name.
pub(crate) fn merge_env(mut base: Vec<String>, extra: &[(String, String)]) -> Result<Vec<String>, Error> {
    for (key, value) in extra {
        validate_env(key, value)?;
        base.retain(|kv| kv.split('=').next() != Some(key.as_str()));
        base.push(format!("{key}={value}"));
    }
    Ok(base)
}

//! The rules a request must pass before anything is stored or run: resource bounds and
//! defaults, names, environment variable names. Pure: no store, no runtime.

use super::ServiceError;
use sandbar_runtime::Limits;

/// Every sandbox gets at most this many processes unless told otherwise: a fork bomb must not
/// reach the host's limit.
const DEFAULT_PIDS: u64 = 4096;
/// Defaults of Daytona's sandboxes: 1 vCPU, 1 GiB memory, 3 GiB disk.
pub(super) const DEFAULT_CPU: i64 = 1;
pub(super) const DEFAULT_MEMORY_GIB: i64 = 1;
pub(super) const DEFAULT_DISK_GIB: i64 = 3;
/// Upper bounds a single sandbox may ask for.
pub(super) const MAX_CPU: i64 = 64;
pub(super) const MAX_MEMORY_GIB: i64 = 256;
pub(super) const MAX_DISK_GIB: i64 = 1024;
/// Default auto-stop interval in minutes, as Daytona's.
pub(super) const DEFAULT_AUTO_STOP: i64 = 15;
/// Default auto-archive interval in minutes (7 days), as Daytona's.
pub(super) const DEFAULT_AUTO_ARCHIVE: i64 = 10080;

/// Runtime limits of `cpu` cores, `memory` GiB and `disk` GiB (the disk limit is enforced when
/// the runtime has a data disk).
pub(super) fn limits_of(cpu: i64, memory: i64, disk: i64) -> Limits {
    Limits {
        memory_bytes: Some((memory as u64) << 30),
        cpu_millis: Some(cpu as u64 * 1000),
        pids: Some(DEFAULT_PIDS),
        disk_bytes: Some((disk as u64) << 30),
    }
}

pub(super) fn bounded(what: &str, value: i64, min: i64, max: i64) -> Result<i64, ServiceError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ServiceError::Invalid(format!("{what} {value} is out of range: it must be between {min} and {max}")))
    }
}

pub(super) fn validate_name(what: &str, name: &str) -> Result<(), ServiceError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if valid {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "{what} {name:?} must be 1-63 characters of letters, digits, '-', '_' and '.', not starting with '-' or '.'"
        )))
    }
}

pub(super) fn valid_env_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("n", "my-box_1.x").is_ok());
        for bad in ["", "-x", ".x", "a b", "a/b", &"x".repeat(64)] {
            assert!(validate_name("n", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resources_are_bounded() {
        assert_eq!(bounded("cpu", 2, 1, 4).unwrap(), 2);
        let err = bounded("cpu", 0, 1, 4).unwrap_err().to_string();
        assert_eq!(err, "cpu 0 is out of range: it must be between 1 and 4");
    }
}

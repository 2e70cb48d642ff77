//! What killed commands leave in `SV/instances/`, found without reading
//! the directory of every instance: the one place where create, delete,
//! sync, upgrade and template make hidden work-in-progress names
//! (`hidden_sibling`), tell a live process's work from a dead one's
//! (`process_gone`), and sweep what the dead left.
//!
//! Work in progress is kept under hidden names (`.s6i-TAG:PID:RANDOM`:
//! a copy being made, a tree being removed, an old copy of an upgrade).
//! Before a process makes such a name, it says so: an empty file named
//! by its pid in `SV/instances/.s6i-work/`, removed once its hidden work
//! is all done or undone. A process killed in between leaves its file
//! behind, with a pid that no longer runs: that, and only that, is when
//! the next command sweeps `instances/` (one look at `.s6i-work/`, which
//! holds only the files of commands under way or killed). Hidden trees
//! made before this file existed are swept with the first leftover of a
//! killed command. `.s6i-work/` itself goes whenever it is left empty.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;

use crate::door::Loc;
use crate::layout::Service;
pub use crate::work::{process_gone, WORK};

/// How many pieces of hidden work this process has under way: its mark
/// stays while one is.
static UNDER_WAY: AtomicUsize = AtomicUsize::new(0);

/// Hidden work in `instances/` under way, said in `.s6i-work/PID` for as
/// long as this lives (the last one of the process removes the mark).
pub struct Working {
    instances: Loc,
}

/// Make the mark of this process in `.s6i-work`; tried again if the
/// directory goes between our look and our write (its last user removes
/// it when it is left empty).
fn mark(instances: &Loc) {
    for _ in 0..3 {
        let Ok(work) = crate::work::dir(instances) else { return };
        if work.join(std::process::id().to_string()).create(0o600).err() != Some(Errno::ENOENT) {
            return;
        }
    }
}

/// Say that this process is about to make hidden names in `instances`.
/// Best effort: a mark that cannot be written (a full disk) only means
/// that what a kill leaves waits for a later sweep.
pub fn working(instances: &Loc) -> Working {
    if UNDER_WAY.fetch_add(1, Ordering::SeqCst) == 0 {
        mark(instances);
    }
    Working {
        instances: instances.clone(),
    }
}

/// Every hidden name this process made (hidden_sibling), to tell
/// at the end of its work whether one was left behind (a removal that
/// failed): then the mark stays, for a sweep once the process is gone.
static HIDDEN: std::sync::Mutex<Vec<Loc>> = std::sync::Mutex::new(Vec::new());

/// Note a hidden name about to be made.
pub fn hidden(at: &Loc) {
    HIDDEN.lock().unwrap_or_else(|e| e.into_inner()).push(at.clone());
}

impl Drop for Working {
    fn drop(&mut self) {
        if UNDER_WAY.fetch_sub(1, Ordering::SeqCst) == 1 {
            let made: Vec<Loc> = std::mem::take(&mut *HIDDEN.lock().unwrap_or_else(|e| e.into_inner()));
            if made.iter().any(Loc::present) {
                return;
            }
            if let Ok(Some(work)) = crate::work::existing(&self.instances) {
                let _ = work.join(std::process::id().to_string()).unlink();
            }
            crate::work::tidy(&self.instances);
        }
    }
}

/// The marks among the entries of `instances/.s6i-work/` whose process
/// is gone.
fn dead_marks(entries: Vec<OsString>) -> Vec<OsString> {
    entries
        .into_iter()
        .filter(|n| {
            n.to_str()
                .and_then(|s| s.parse::<i32>().ok())
                .is_some_and(|pid| pid > 0 && process_gone(pid))
        })
        .collect()
}

/// Remove what killed commands left in `instances/`, if one left
/// anything (else: one look at `.s6i-work/`). Copies whose process is
/// gone are removed; old trees aside where a supervisor still runs (a
/// killed upgrade's) are returned instead, for the caller to have them
/// stopped; a mark is removed once what its process left is gone.
pub fn sweep(service: &Service) -> Vec<Loc> {
    let instances = service.instances();
    let Ok(Some(work)) = crate::work::existing(&instances) else {
        return Vec::new();
    };
    let Ok(entries) = work.entries() else {
        return Vec::new();
    };
    crate::restart::finish_killed(service, &work, &entries);
    let dead = dead_marks(entries);
    if dead.is_empty() {
        crate::work::tidy(&instances);
        return Vec::new();
    }
    let running = sweep_leftovers(&instances);
    if running.is_empty() {
        for mark in dead {
            let _ = work.join(mark).unlink();
        }
        crate::work::tidy(&instances);
    }
    running
}

/// `sweep`, and the scanner told to stop the supervisors of old trees
/// (it scans first, so it knows them gone before they exit; then it
/// signals every supervisor it has no link for); their trees are removed
/// by a later sweep, once they have gone. No wait: for create, delete
/// and sync.
pub fn finish(service: &Service) {
    if !sweep(service).is_empty() {
        let _ = crate::scandir::control(&service.scandir(), b"an");
    }
}

/// A fresh hidden name beside `at`, for work in progress that readers
/// must not see: `.s6i-TAG:PID:RANDOM`.
pub fn hidden_sibling(at: &Loc, tag: &str) -> Loc {
    let mut name = format!(".s6i-{tag}:{}:", std::process::id()).into_bytes();
    name.extend_from_slice(&crate::random::suffix());
    let hidden = at.sibling(OsString::from_vec(name)).expect("a place below a top");
    crate::leftovers::hidden(&hidden);
    hidden
}

/// Remove the hidden work-in-progress trees left in `dir` by steps that
/// were killed: those whose process no longer exists. A live process's
/// work (or a recycled pid's) is left alone, and so is a tree where a
/// supervisor still runs (an old copy a killed upgrade left), whose
/// supervised directories are returned instead, for the caller to have
/// them stopped first.
pub fn sweep_leftovers(dir: &Loc) -> Vec<Loc> {
    let mut running = Vec::new();
    let Ok(entries) = dir.entries() else {
        return running;
    };
    for name in entries {
        if leftover_pid(name.as_encoded_bytes()).is_none() || leftover_alive(name.as_encoded_bytes()) {
            continue;
        }
        let at = dir.join(&name);
        let supervised: Vec<Loc> = crate::supervise::with_own_logger(&at)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| crate::supervise::is_running(d).unwrap_or(false))
            .collect();
        if supervised.is_empty() {
            let _ = at.remove_tree();
        } else {
            running.extend(supervised);
        }
    }
    running
}

/// Whether the process that made the hidden tree of this name (a
/// `.s6i-TAG:PID:RANDOM` name) is still there.
pub fn leftover_alive(name: &[u8]) -> bool {
    leftover_pid(name).is_some_and(|pid| !process_gone(pid))
}

/// Whether this is a `.s6i-TAG:PID:RANDOM` name.
pub fn leftover_name(name: &[u8]) -> bool {
    leftover_pid(name).is_some()
}

/// Whether this is a `.s6i-TAG:PID:RANDOM` name whose process is gone.
pub fn leftover_gone(name: &[u8]) -> bool {
    leftover_pid(name).is_some_and(process_gone)
}

/// The pid in a `.s6i-TAG:PID:RANDOM` name.
fn leftover_pid(name: &[u8]) -> Option<i32> {
    let rest = name.strip_prefix(b".s6i-")?;
    let mut parts = rest.split(|&b| b == b':');
    let (_tag, pid, random) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || random.len() != 6 {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok().filter(|&p: &i32| p > 0)
}

#[cfg(test)]
mod tests {
    use super::leftover_pid;

    #[test]
    fn leftover_names() {
        assert_eq!(leftover_pid(b".s6i-clone:123:AbC-_9"), Some(123));
        assert_eq!(leftover_pid(b".s6i-remove:7:xxxxxx"), Some(7));
        for not in [
            &b".template"[..],
            b".s6i-clone:x:abcdef",
            b".s6i-clone:1:abc",
            b"s6i-clone:1:abcdef",
            b".s6i-clone:0:abcdef",
        ] {
            assert_eq!(leftover_pid(not), None, "{not:?}");
        }
    }
}

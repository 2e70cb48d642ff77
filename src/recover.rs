//! Recovery: what commands killed at any point left, finished or undone
//! by the next command of any kind that changes instances, before it
//! does anything else. It starts from `SV/instances/.s6i-work/`, which
//! holds the intent logs of commands under way (see crate::journal) and
//! nothing at rest: one look at a missing or small directory in the
//! normal case, never a look through `instances/`.
//!
//! For each log whose lock nobody holds, its open records say what its
//! dead writer was doing:
//!
//! - `hold NAME STATE`: a restart had taken NAME down; it is told to be
//!   as it was before, wanted up (`u`) or run once (`o`);
//! - `create NAME COPY`: it was making NAME, from its copy (kept under
//!   a hidden name, see copy::Kept) to the wait for its supervisor; the
//!   copy goes if it was never linked; a linked NAME is whole, and named
//!   to the caller as unsettled (a sync told to wait for its set waits
//!   for it too);
//! - `delete NAME ASIDE`: it was deleting NAME, from its unlink, when
//!   the instance is put aside under a hidden name (leftovers::Aside),
//!   to the removal of that tree; the tree goes, or, where a supervisor
//!   still runs in it, is returned for the caller to have stopped, the
//!   record kept for the next recovery to remove it;
//! - `work`: it was making hidden names (`.s6i-TAG:TOKEN:RANDOM`) in
//!   `instances/`; those of dead commands are removed, or, where a
//!   supervisor still runs in one (an old copy a killed upgrade had put
//!   aside), returned for the caller to have stopped, the record kept
//!   for the next recovery to remove the tree.
//!
//! Marks in instances (`.s6i-pending`, `.s6i-changed`) carry their
//! writer's token and are judged where they are met (crate::pending,
//! crate::envdir): dead once their log is gone. Files of the previous
//! version (`.s6i-work/PID`, `.s6i-work/PID.up`) are its dead
//! commands' and recovered the same way.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use crate::door::Loc;
use crate::journal::{self, Dead};
use crate::layout::Service;

/// What a dead log left open: its records, and what recovery keeps.
type Record = (Vec<u8>, Vec<u8>, Vec<u8>);

/// What recovery could not finish alone.
#[derive(Default)]
pub struct Recovered {
    /// The supervised directories of old trees that must stop before
    /// their trees can go.
    pub running: Vec<Loc>,
    /// Instances that dead commands made and linked, but never saw
    /// supervised (and up, if they were to wait).
    pub unsettled: Vec<OsString>,
}

/// Finish or undo what dead commands left.
pub fn recover(service: &Service) -> Recovered {
    let instances = service.instances();
    let Ok(Some(work)) = crate::work::existing(&instances) else {
        return Recovered::default();
    };
    let Ok(entries) = work.entries() else {
        return Recovered::default();
    };
    let mut unsettled = Vec::new();
    let mut running = Vec::new();
    let mine = format!("{}{}", journal::PREFIX, journal::token());
    let mut dead: Vec<(Dead, Vec<Record>)> = Vec::new();
    let mut old = Vec::new();
    let mut sweep = false;
    for name in entries {
        let b = name.as_bytes();
        if b == mine.as_bytes() {
            continue;
        } else if b.starts_with(journal::PREFIX.as_bytes()) {
            let Some(log) = journal::take_dead(&work.join(&name)) else {
                continue;
            };
            let mut left = Vec::new();
            for (kind, what, extra) in &log.records {
                match kind.as_slice() {
                    b"hold" => restore(service, OsStr::from_bytes(what), extra),
                    b"create" => {
                        if let Some(name) = created(service, OsStr::from_bytes(what), extra) {
                            unsettled.push(name);
                        }
                    }
                    b"delete" => {
                        let stopping = deleted(service, OsStr::from_bytes(what), extra);
                        if !stopping.is_empty() {
                            running.extend(stopping);
                            left.push((kind.clone(), what.clone(), extra.clone()));
                        }
                    }
                    b"work" => {
                        sweep = true;
                        left.push((kind.clone(), what.clone(), extra.clone()));
                    }
                    _ => {}
                }
            }
            dead.push((log, left));
        } else if let Some(pid) = b.strip_suffix(b".up") {
            // The previous version's list of instances held down.
            if pid.iter().all(u8::is_ascii_digit) {
                restore_listed(service, &work.join(&name));
            }
        } else if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
            // The previous version's mark of hidden work under way.
            sweep = true;
            old.push(name);
        }
    }
    let swept = if sweep {
        crate::leftovers::sweep_leftovers(&instances, &instances)
    } else {
        Vec::new()
    };
    for (log, mut left) in dead {
        if swept.is_empty() {
            left.retain(|(kind, _, _)| kind != b"work");
        }
        log.finish(&left);
    }
    running.extend(swept);
    if running.is_empty() {
        for name in old {
            let _ = work.join(name).unlink();
        }
    }
    crate::work::tidy(&instances);
    Recovered { running, unsettled }
}

/// `recover`, and the scanner told to stop the supervisors of old trees
/// (it scans first, so it knows them gone before they exit; then it
/// signals every supervisor it has no link for); their trees are removed
/// by a later recovery, once they have gone. No wait. Returns the
/// unsettled instances (see `Recovered`). Once per process: the steps
/// of one chain each call it first, and the first one's look serves
/// them all.
pub fn finish(service: &Service) -> Vec<OsString> {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Vec::new();
    }
    let r = recover(service);
    if !r.running.is_empty() {
        let _ = crate::scandir::control(&service.scandir(), b"an");
    }
    r.unsettled
}

/// `recover`, waiting (until `deadline`, if any) for the supervisors of
/// old trees to exit, then removing their trees: what `s6i-recover`
/// and an upgrade do.
pub fn finish_within(service: &Service, deadline: Option<Instant>) {
    let running = recover(service).running;
    if running.is_empty() {
        return;
    }
    // Watched first, so that no exit is missed (see supervise::Exits).
    if let Ok(exits) = crate::supervise::Exits::watch(running.iter().cloned()) {
        let _ = crate::scandir::control(&service.scandir(), b"an");
        let _ = exits.wait(deadline);
    }
    // Gone or not, what is left of them is for the next look.
    let _ = recover(service);
}

/// What a dead create of NAME left: its copy, still private, or
/// published but never linked (killed between the two), goes; a linked
/// one is returned, for the caller to see it supervised. A NAME that is
/// not the copy the record names is another command's, left alone.
fn created(service: &Service, name: &OsStr, record: &[u8]) -> Option<OsString> {
    if crate::name::check(name.as_bytes()).is_err() {
        return None;
    }
    let dir = service.instance_dir(name);
    let linked = service.link(name).present();
    let Some(kept) = crate::copy::Kept::parse(record) else {
        return linked.then(|| name.to_os_string());
    };
    if !kept.is_at(&dir) {
        if let Ok(copy) = kept.reopen(&service.instances()) {
            copy.discard();
        }
        return None;
    }
    if linked {
        return Some(name.to_os_string());
    }
    let _working = crate::leftovers::working(&service.instances());
    let _ = crate::copy::remove_tree(&dir);
    None
}

/// What a dead delete of NAME left: the tree it put aside (or its
/// instance, unlinked and not yet put aside, when it was killed in
/// between) is removed, unless a supervisor still runs in it: those are
/// returned, for the caller to have them stopped and a later recovery
/// to remove the tree. A delete killed before its unlink did nothing:
/// nothing to do. Nor for a NAME that is another directory now.
fn deleted(service: &Service, name: &OsStr, record: &[u8]) -> Vec<Loc> {
    let Some(aside) = crate::leftovers::Aside::parse(record) else {
        return Vec::new();
    };
    let hidden = service.instances().join(&aside.hidden);
    if aside.is_at(&hidden) {
        return crate::leftovers::remove_unless_running(&hidden);
    }
    let dir = service.instance_dir(name);
    if crate::name::check(name.as_bytes()).is_err() || !aside.is_at(&dir) || service.link(name).present() {
        return Vec::new();
    }
    let _working = crate::leftovers::working(&service.instances());
    crate::leftovers::remove_unless_running(&dir)
}

/// Put the instance NAME back as a killed restart found it: wanted up
/// (`up`), or run once (`once`). Nothing when it has no supervisor (it
/// was deleted meanwhile, or the scanner is gone).
fn restore(service: &Service, name: &OsStr, state: &[u8]) {
    if crate::name::check(name.as_bytes()).is_err() {
        return;
    }
    let cmd: &[u8] = if state == b"once" { b"o" } else { b"u" };
    let _ = crate::supervise::control(&service.instance_dir(name), cmd);
}

/// The previous version's `.s6i-work/PID.up`: every name in it wanted up.
fn restore_listed(service: &Service, at: &Loc) {
    if let Ok(list) = at.read(journal::LOG_MAX) {
        for name in list.split(|&b| b == b'\n').filter(|n| !n.is_empty()) {
            restore(service, OsStr::from_bytes(name), b"up");
        }
    }
    let _ = at.unlink();
}

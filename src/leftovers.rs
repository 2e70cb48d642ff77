//! Hidden work-in-progress names in `SV/instances/` (and beside the
//! template): the one place where create, delete, sync, upgrade and
//! template make them (`hidden_sibling`), tell a live command's from a
//! dead one's, and sweep what the dead left.
//!
//! Work in progress is kept under hidden names, `.s6i-TAG:TOKEN:RANDOM`
//! (a copy being made, a tree being removed, an old copy of an
//! upgrade), TOKEN being its command's (crate::journal). Before a
//! process makes such a name, its intent log says so (a `work` record,
//! closed once its hidden work is all done or undone). A process killed
//! in between leaves the record open in a log nobody holds: that, and
//! only that, is when recovery sweeps `instances/` (crate::recover). A
//! name of the previous version's kind (`.s6i-TAG:PID:RANDOM`) is a
//! dead command's.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::door::Loc;
pub use crate::work::WORK;

/// How many pieces of hidden work this process has under way: its
/// record stays open while one is.
static UNDER_WAY: AtomicUsize = AtomicUsize::new(0);

/// Hidden work in `instances/` under way, said in this command's log for
/// as long as this lives (the last one of the process closes the
/// record).
pub struct Working;

/// Say that this process is about to make hidden names in `instances`.
/// Best effort: a record that cannot be written (a full disk) only means
/// that what a kill leaves waits for a later sweep.
pub fn working(instances: &Loc) -> Working {
    if UNDER_WAY.fetch_add(1, Ordering::SeqCst) == 0 {
        let _ = crate::journal::open(instances, "work", b"", b"");
    }
    Working
}

/// Every hidden name this process made (hidden_sibling), to tell
/// at the end of its work whether one was left behind (a removal that
/// failed): then the record stays open, for a sweep once the process is
/// gone.
static HIDDEN: std::sync::Mutex<Vec<Loc>> = std::sync::Mutex::new(Vec::new());

/// Note a hidden name about to be made.
pub fn hidden(at: &Loc) {
    HIDDEN.lock().unwrap_or_else(|e| e.into_inner()).push(at.clone());
}

/// A hidden name made here that another record answers for now (a copy
/// kept by its create record, see crate::create): its being there does
/// not keep the work record open.
pub fn answered_for(at: &Loc) {
    HIDDEN.lock().unwrap_or_else(|e| e.into_inner()).retain(|h| h != at);
}

impl Drop for Working {
    fn drop(&mut self) {
        if UNDER_WAY.fetch_sub(1, Ordering::SeqCst) == 1 {
            let made: Vec<Loc> = std::mem::take(&mut *HIDDEN.lock().unwrap_or_else(|e| e.into_inner()));
            if !made.iter().any(Loc::present) {
                crate::journal::close("work", b"");
            }
        }
    }
}

/// A fresh hidden name beside `at`, for work in progress that readers
/// must not see: `.s6i-TAG:PID:RANDOM`.
pub fn hidden_sibling(at: &Loc, tag: &str) -> Loc {
    let mut name = format!(".s6i-{tag}:{}:", crate::random::token()).into_bytes();
    name.extend_from_slice(&crate::random::suffix());
    let hidden = at.sibling(OsString::from_vec(name)).expect("a place below a top");
    crate::leftovers::hidden(&hidden);
    hidden
}

/// Remove the hidden work-in-progress trees left in `dir` by commands
/// that were killed: those whose token is dead (its log in
/// `instances/.s6i-work` gone or unlocked). A live command's work is
/// left alone, and so is a tree where a supervisor still runs (an old
/// copy a killed upgrade left), whose supervised directories are
/// returned instead, for the caller to have them stopped first.
pub fn sweep_leftovers(dir: &Loc, instances: &Loc) -> Vec<Loc> {
    let mut running = Vec::new();
    let Ok(entries) = dir.entries() else {
        return running;
    };
    for name in entries {
        if !leftover_gone(instances, name.as_encoded_bytes()) {
            continue;
        }
        running.extend(remove_unless_running(&dir.join(&name)));
    }
    running
}

/// Remove the tree at `at`, unless a supervisor still runs in it: its
/// supervised directories are then returned instead, for the caller to
/// have them stopped first.
pub fn remove_unless_running(at: &Loc) -> Vec<Loc> {
    let supervised: Vec<Loc> = crate::supervise::with_own_logger(at)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| crate::supervise::is_running(d).unwrap_or(false))
        .collect();
    if supervised.is_empty() {
        let _ = at.remove_tree();
    }
    supervised
}

/// An instance a delete puts aside under a hidden name once it is
/// unlinked, as its `delete` record says it (crate::journal):
/// `HIDDEN/DEV/INO`, where it goes and which directory it is, so that
/// it is known at either name from a new instance of the same name.
#[derive(Debug, PartialEq, Eq)]
pub struct Aside {
    pub hidden: OsString,
    pub id: (u64, u64),
}

impl Aside {
    /// What its record says.
    pub fn record(&self) -> Vec<u8> {
        let mut r = self.hidden.as_encoded_bytes().to_vec();
        r.extend_from_slice(format!("/{}/{}", self.id.0, self.id.1).as_bytes());
        r
    }

    /// Read a record; None when it says no aside.
    pub fn parse(record: &[u8]) -> Option<Aside> {
        let mut f = record.split(|&b| b == b'/');
        let hidden = f.next().filter(|h| leftover_name(h))?;
        let mut num = || std::str::from_utf8(f.next()?).ok()?.parse::<u64>().ok();
        let id = (num()?, num()?);
        Some(Aside {
            hidden: OsString::from_vec(hidden.to_vec()),
            id,
        })
    }

    /// Whether `at` is the instance (not following a link).
    pub fn is_at(&self, at: &Loc) -> bool {
        at.has_id(self.id)
    }
}

/// Whether the command that made the hidden tree of this name (a
/// `.s6i-TAG:TOKEN:RANDOM` name) is still there.
pub fn leftover_alive(instances: &Loc, name: &[u8]) -> bool {
    leftover_token(name).is_some_and(|t| crate::journal::alive(instances, t))
}

/// Whether this is a `.s6i-TAG:TOKEN:RANDOM` name.
pub fn leftover_name(name: &[u8]) -> bool {
    leftover_token(name).is_some()
}

/// Whether this is a `.s6i-TAG:TOKEN:RANDOM` name whose command is gone.
pub fn leftover_gone(instances: &Loc, name: &[u8]) -> bool {
    leftover_token(name).is_some_and(|t| !crate::journal::alive(instances, t))
}

/// Whether this hidden name is this process's own.
pub fn leftover_mine(name: &[u8]) -> bool {
    leftover_token(name) == Some(crate::random::token().as_bytes())
}

/// The token in a `.s6i-TAG:TOKEN:RANDOM` name (a bare pid in one of
/// the previous version's).
fn leftover_token(name: &[u8]) -> Option<&[u8]> {
    let rest = name.strip_prefix(b".s6i-")?;
    let mut parts = rest.split(|&b| b == b':');
    let (_tag, token, random) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || random.len() != 6 {
        return None;
    }
    crate::journal::marked_by(token)
}

#[cfg(test)]
mod tests {
    use super::leftover_token;

    #[test]
    fn leftover_names() {
        assert_eq!(leftover_token(b".s6i-clone:123:AbC-_9"), Some(&b"123"[..]));
        assert_eq!(leftover_token(b".s6i-remove:7.abcdef:xxxxxx"), Some(&b"7.abcdef"[..]));
        let aside = super::Aside {
            hidden: ".s6i-delete:7.abcdef:xxxxxx".into(),
            id: (3, 42),
        };
        assert_eq!(super::Aside::parse(&aside.record()), Some(aside));
        assert_eq!(super::Aside::parse(b""), None);
        assert_eq!(super::Aside::parse(b"x/1/2"), None);
        for not in [
            &b".template"[..],
            b".s6i-clone:x:abcdef",
            b".s6i-clone:1:abc",
            b"s6i-clone:1:abcdef",
            b".s6i-clone:0:abcdef",
            b".s6i-clone:1.abc:abcdef",
        ] {
            assert_eq!(leftover_token(not), None, "{not:?}");
        }
    }
}

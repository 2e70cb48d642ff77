//! The pending protocol, so that a chain killed between two steps is
//! never a stuck name: a create or a delete marks the instance with
//! `.s6i-pending` (`layout::PENDING`), holding its token (see
//! crate::journal), while the instance is half made or half gone. A
//! mark whose chain is gone (its log gone or unlocked; a bare pid, from
//! the previous version), on an instance with no link, was left by a
//! killed chain; what the next create or sync does about it is decided
//! here (`abandoned`, `left_supervised`, `left_unlinked`, `tidy_kept`).

use std::ffi::OsStr;

use nix::errno::Errno;

use crate::diag::Error;
use crate::door::Loc;
use crate::layout::{Service, PENDING};
use crate::scandir;
use crate::supervise::{self, supervised_dirs};

/// Write the mark into `dir`, which must be a real directory: never
/// through a symlink planted where an instance should be (ELOOP). An
/// entry of that name that is not our mark is replaced, never opened (a
/// FIFO would block us), whatever its type: an instance made by s6's
/// own create from a template that holds one, a directory say, has it.
pub(crate) fn mark(dir: &Loc, instances: &Loc) -> Result<(), Errno> {
    // The log first: a token without it would be a dead one.
    crate::journal::begin(instances)?;
    let mark = dir.join(PENDING);
    mark.remove_tree()?;
    mark.write_new(crate::random::token().as_bytes(), 0o644)
}

/// Take the mark of `dir` away: its chain is done with it. Best effort.
pub(crate) fn unmark(dir: &Loc) {
    let _ = dir.join(PENDING).unlink();
}

/// Take the mark of `dir` away if it is this chain's (its clone wrote
/// it): a delete of the same name may have marked the instance since,
/// and its mark stays, for the delete (or whoever finishes it) to see.
pub(crate) fn unmark_own(dir: &Loc) {
    if marked_by_me(dir) {
        unmark(dir);
    }
}

/// Whether the mark of `dir` is this chain's.
fn marked_by_me(dir: &Loc) -> bool {
    pending_token(dir).is_some_and(|t| t == crate::random::token().as_bytes())
}

/// The token in the mark of `dir`, if it holds a mark of ours: a regular
/// file of a few bytes, reached through no link, never a FIFO waited on
/// (a bare pid in one of the previous version's).
fn pending_token(dir: &Loc) -> Option<Vec<u8>> {
    let token = dir.join(PENDING).read(64).ok()?;
    crate::journal::marked_by(&token)?;
    Some(token)
}

/// Whether the mark of `dir` is a dead chain's.
fn marked_by_dead(service: &Service, dir: &Loc) -> bool {
    pending_token(dir).is_some_and(|t| !crate::journal::alive(&service.instances(), &t))
}

/// Whether the instance NAME was left unlinked by a killed chain, or by
/// a delete that timed out, and no supervisor runs in it any more.
pub(crate) fn abandoned(service: &Service, name: &OsStr) -> bool {
    let dir = service.instance_dir(name);
    let linked = service.link(name).present();
    let supervised =
        || supervised_dirs(&dir).map_or(true, |ds| ds.iter().any(|d| supervise::is_running(d).unwrap_or(true)));
    !linked && (marked_by_me(&dir) || marked_by_dead(service, &dir)) && !supervised()
}

/// Whether the instance NAME was left unlinked by a killed delete while
/// its supervisors still run.
pub(crate) fn left_supervised(service: &Service, name: &OsStr) -> bool {
    let dir = service.instance_dir(name);
    let linked = service.link(name).present();
    let supervised =
        || supervised_dirs(&dir).is_ok_and(|ds| ds.iter().any(|d| supervise::is_running(d).unwrap_or(false)));
    !linked && marked_by_dead(service, &dir) && supervised()
}

/// The instances that killed chains left unlinked and marked: what a
/// sync finishes, for the names it does not keep. One look at
/// `instances/`.
pub fn left_unlinked(service: &Service) -> Result<Vec<std::ffi::OsString>, Error> {
    let dir = service.instances();
    let entries = match dir.entries() {
        Ok(entries) => entries,
        Err(Errno::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(Error::sys("readdir", &dir, e)),
    };
    let mut names = Vec::new();
    for name in entries {
        let at = dir.join(&name);
        if name.as_encoded_bytes().first() == Some(&b'.') || !at.is_real_dir() {
            continue;
        }
        let linked = service.link(&name).present();
        if !linked && marked_by_dead(service, &at) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Finish what killed chains left in the linked instances `names`,
/// which a sync keeps: a mark whose chain is gone (a create killed
/// between its link and the mark's removal, a delete between its mark
/// and its unlink) goes, and if one of them has no supervisor (a create
/// killed before it told the scanner), the scanner is told to scan. One
/// look at each; a scanner that is not there is for the caller to find.
pub fn tidy_kept(service: &Service, names: &[&OsStr]) {
    let mut unsupervised = false;
    for name in names {
        let dir = service.instance_dir(name);
        if marked_by_dead(service, &dir) {
            unmark(&dir);
        }
        unsupervised |= !supervise::is_running(&dir).unwrap_or(true);
    }
    if unsupervised {
        let _ = scandir::control(&service.scandir(), b"a");
    }
}

//! The pending protocol, so that a chain killed between two steps is
//! never a stuck name: a create or a delete marks the instance with
//! `.s6i-pending` (`layout::PENDING`), holding its pid, while the
//! instance is half made or half gone. A mark whose chain is gone, on an
//! instance with no link, was left by a killed chain; what the next
//! create or sync does about it is decided here (`abandoned`,
//! `left_supervised`, `left_unlinked`, `tidy_kept`).

use std::ffi::OsStr;
use std::path::Path;

use nix::errno::Errno;

use crate::diag::Error;
use crate::layout::{Service, PENDING};
use crate::leftovers::process_gone;
use crate::scandir;
use crate::supervise::{self, supervised_dirs};

/// Write the mark into `dir`, which must be a real directory: never
/// through a symlink planted where an instance should be (ELOOP). An
/// entry of that name that is not our mark is replaced, never opened (a
/// FIFO would block us), whatever its type: an instance made by s6's
/// own create from a template that holds one, a directory say, has it.
pub(crate) fn mark(dir: &Path) -> Result<(), Errno> {
    use nix::fcntl::{open, openat, OFlag};
    use nix::sys::stat::Mode;
    use std::os::fd::AsFd;
    let d = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    crate::copy::remove_at(d.as_fd(), OsStr::new(PENDING))?;
    let f = openat(
        &d,
        PENDING,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_retain(0o644),
    )?;
    nix::unistd::write(&f, std::process::id().to_string().as_bytes()).map(drop)
}

/// Whether `dir` holds a mark (of any kind: a fresh copy being created
/// does).
pub(crate) fn marked(dir: &Path) -> bool {
    dir.join(PENDING).exists()
}

/// Take the mark of `dir` away: its chain is done with it. Best effort.
pub(crate) fn unmark(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PENDING));
}

/// The pid in the mark of `dir`, if it holds a mark of ours: a regular
/// file, opened without following a link or blocking on a FIFO.
fn pending_pid(dir: &Path) -> Option<i32> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(dir.join(PENDING))
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut pid = String::new();
    f.by_ref().take(32).read_to_string(&mut pid).ok()?;
    pid.parse().ok().filter(|&p: &i32| p > 0)
}

/// Whether the instance NAME was left unlinked by a killed chain, or by
/// a delete that timed out, and no supervisor runs in it any more.
pub(crate) fn abandoned(service: &Service, name: &OsStr) -> bool {
    let dir = service.instance_dir(name);
    let linked = std::fs::symlink_metadata(service.link(name)).is_ok();
    let supervised =
        || supervised_dirs(&dir).map_or(true, |ds| ds.iter().any(|d| supervise::is_running(d).unwrap_or(true)));
    !linked && pending_pid(&dir).is_some_and(gone_or_me) && !supervised()
}

/// Whether the instance NAME was left unlinked by a killed delete while
/// its supervisors still run.
pub(crate) fn left_supervised(service: &Service, name: &OsStr) -> bool {
    let dir = service.instance_dir(name);
    let linked = std::fs::symlink_metadata(service.link(name)).is_ok();
    let supervised =
        || supervised_dirs(&dir).is_ok_and(|ds| ds.iter().any(|d| supervise::is_running(d).unwrap_or(false)));
    !linked && pending_pid(&dir).is_some_and(process_gone) && supervised()
}

/// The instances that killed chains left unlinked and marked: what a
/// sync finishes, for the names it does not keep. One look at
/// `instances/`.
pub fn left_unlinked(service: &Service) -> Result<Vec<std::ffi::OsString>, Error> {
    let dir = service.instances();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::sys("readdir", &dir, crate::diag::errno_of(&e))),
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let linked = std::fs::symlink_metadata(service.link(&name)).is_ok();
        if !linked && pending_pid(&entry.path()).is_some_and(process_gone) {
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
        if pending_pid(&dir).is_some_and(process_gone) {
            unmark(&dir);
        }
        unsupervised |= !supervise::is_running(&dir).unwrap_or(true);
    }
    if unsupervised {
        let _ = scandir::control(&service.scandir(), b"a");
    }
}

/// Whether a mark's pid is a chain that is gone, or this one (which has
/// just finished a killed delete's work on the instance, see `clone`).
fn gone_or_me(pid: i32) -> bool {
    pid == std::process::id() as i32 || process_gone(pid)
}

//! What the create and delete steps do to instances, as functions over a
//! list of names so that one call can serve one instance or many (one
//! scanner poke, one wait).

use std::ffi::OsStr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::errno::Errno;

use crate::diag::{bytes, warn, Error, EXIT_TIMEOUT};
use crate::fifodir::{self, Listener, WaitError};
use crate::layout::Service;
use crate::wait::Wake;
use crate::{copy, leftovers, rename, scandir, supervise};

/// How a new instance starts (`-d` and `-D`, the last one given wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Up, as soon as its supervisor runs.
    Up,
    /// `-d`: down, and normally up afterwards (the `down` file goes away
    /// once the supervisor runs).
    Down,
    /// `-D`: down, and normally down (the `down` file stays).
    DownFile,
}

impl Start {
    /// Apply option letter `d` or `D`.
    pub fn set(&mut self, opt: u8) {
        *self = if opt == b'd' { Start::Down } else { Start::DownFile };
    }
}

/// Options of the event fifodir a step makes (`-P`, `-f`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventDir {
    pub public: bool,
    pub force: bool,
}

fn sys<'a>(verb: &'a str, path: &'a Path) -> impl FnOnce(Errno) -> Error + 'a {
    move |e| Error::sys(verb, path, e)
}

/// The file that marks an instance as in the hands of one create or
/// delete chain, and holds that chain's pid. Create writes it into the
/// copy before the copy is renamed into place and removes it once the
/// link is made; delete writes it before the link goes. An instance that
/// has it, no link, and a dead chain was left by a create or a delete
/// that was killed between two steps: the next create of the name takes
/// it away instead of refusing.
pub(crate) const PENDING: &str = ".s6i-pending";

/// Write the mark into `dir`, which must be a real directory: never
/// through a symlink planted where an instance should be (ELOOP). An
/// entry of that name that is not our mark is replaced, never opened (a
/// FIFO would block us), whatever its type: an instance made by s6's
/// own create from a template that holds one, a directory say, has it.
fn mark_pending(dir: &Path) -> Result<(), Errno> {
    use nix::fcntl::{open, openat, OFlag};
    use nix::sys::stat::Mode;
    use std::os::fd::AsFd;
    let d = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    copy::remove_at(d.as_fd(), OsStr::new(PENDING))?;
    let f = openat(
        &d,
        PENDING,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_retain(0o644),
    )?;
    nix::unistd::write(&f, std::process::id().to_string().as_bytes()).map(drop)
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
fn abandoned(service: &Service, name: &OsStr) -> bool {
    let dir = service.instance_dir(name);
    let linked = std::fs::symlink_metadata(service.link(name)).is_ok();
    let supervised =
        || supervised_dirs(&dir).map_or(true, |ds| ds.iter().any(|d| supervise::is_running(d).unwrap_or(true)));
    !linked && pending_pid(&dir).is_some_and(gone_or_me) && !supervised()
}

/// Whether the instance NAME was left unlinked by a killed delete while
/// its supervisors still run.
fn left_supervised(service: &Service, name: &OsStr) -> bool {
    let dir = service.instance_dir(name);
    let linked = std::fs::symlink_metadata(service.link(name)).is_ok();
    let supervised =
        || supervised_dirs(&dir).is_ok_and(|ds| ds.iter().any(|d| supervise::is_running(d).unwrap_or(false)));
    !linked && pending_pid(&dir).is_some_and(leftovers::process_gone) && supervised()
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
        if !linked && pending_pid(&entry.path()).is_some_and(leftovers::process_gone) {
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
        if pending_pid(&dir).is_some_and(leftovers::process_gone) {
            let _ = std::fs::remove_file(dir.join(PENDING));
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
    pid == std::process::id() as i32 || leftovers::process_gone(pid)
}

/// The supervised directories of an instance: itself, and `log/` if
/// any, for a look, a wait or a removal: a `log` symlink is left out
/// (see supervise::with_own_logger).
pub fn supervised_dirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    supervise::with_own_logger(dir).map_err(sys("read", dir))
}

/// Copy the template into `instances/NAME` for each name. Each copy is
/// made under a hidden name and renamed into place, so an instance is
/// whole or absent; if one cannot be made, those made before are removed.
pub fn clone(service: &Service, names: &[&OsStr], deadline: Option<Instant>) -> Result<(), Error> {
    let template = service.template()?;
    for name in names {
        let dir = service.instance_dir(name);
        if let Err(e) = exists_check(&dir) {
            // A delete killed between its unlink and its wait left the
            // instance's supervisors running: finish that delete's wait
            // (the scanner is told to stop them) before taking it away.
            if left_supervised(service, name) {
                unlink(service, &[name], true, deadline)?;
            }
            // Under the lock: see `remove`.
            let locked = service.lock_instances()?;
            if !abandoned(service, name) {
                return Err(e);
            }
            let _working = leftovers::working(&service.instances());
            let aside = rename::move_aside(&dir).map_err(sys("remove", &dir))?;
            unlock_and_remove(locked, aside.map(|path| (dir, path)))?;
        }
    }
    // Copies that a killed create left behind go now, and what a killed
    // upgrade left is finished.
    leftovers::finish(service);
    let _working = leftovers::working(&service.instances());
    for (i, name) in names.iter().enumerate() {
        if let Err(e) = clone_one(&template, &service.instance_dir(name)) {
            for made in &names[..i] {
                let _ = copy::remove_tree(&service.instance_dir(made));
            }
            return Err(e);
        }
    }
    Ok(())
}

fn clone_one(template: &Path, dst: &Path) -> Result<(), Error> {
    let tmp = leftovers::hidden_sibling(dst, "clone");
    let failed = |e: copy::CopyError| {
        copy::discard(&tmp);
        Error::new(crate::diag::EXIT_SYS, e.message(template, dst))
    };
    // Root's alone until marked, then given its owner and mode: the
    // manifest and the mark are written where nobody else can reach yet.
    let made = copy::copy_template(template, &tmp).map_err(failed)?;
    let write = |e: Errno| {
        copy::discard(&tmp);
        Error::sys("write into", dst, e)
    };
    crate::manifest::write(&tmp).map_err(write)?;
    mark_pending(&tmp).map_err(write)?;
    made.publish();
    match rename::rename_noreplace(&tmp, dst) {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST | Errno::ENOTEMPTY) => {
            // Someone else made it first: say what is there now, and fail
            // even if it has gone again in between.
            copy::discard(&tmp);
            exists_check(dst).and(Err(already_exists(dst)))
        }
        Err(e) => {
            copy::discard(&tmp);
            Err(Error::sys("rename into", dst, e))
        }
    }
}

/// Refuse to make an instance where anything already is, a symlink
/// (even a dangling one) included (exit 100).
fn exists_check(dst: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(dst) {
        Ok(md) if md.is_dir() => Err(already_exists(dst)),
        Ok(_) => {
            let mut msg = b"unexpected file preventing instance creation at ".to_vec();
            msg.extend_from_slice(bytes(dst));
            Err(Error::new(crate::diag::EXIT_USAGE, msg))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::sys("stat", dst, crate::diag::errno_of(&e))),
    }
}

fn already_exists(dst: &Path) -> Error {
    let mut msg = b"instance appears to already exist at ".to_vec();
    msg.extend_from_slice(bytes(dst));
    Error::new(crate::diag::EXIT_USAGE, msg)
}

/// Make the instances visible to the nested scanner: write their `down`
/// files if they must start down, make their event fifodirs, link them,
/// clear their pending marks, then poke the scanner. Once linked, an
/// instance is whole and, even if this chain dies now, gets its
/// supervisor. On failure, the links made are removed, and so are the
/// instances still marked pending: fresh copies, being created. An
/// instance that a supervisor runs on is no new one (this step run
/// twice, or by hand): it is refused before anything is done.
pub fn link(service: &Service, names: &[&OsStr], start: Start, event: EventDir) -> Result<(), Error> {
    for name in names {
        let dir = service.instance_dir(name);
        if supervise::is_running(&dir).map_err(sys("read lock of", &dir))? {
            return Err(already_exists(&dir));
        }
    }
    let mut linked = 0;
    let r = names
        .iter()
        .try_for_each(|name| prepare(&service.instance_dir(name), start, event))
        .and_then(|()| {
            // A delete of the same name removes the directory only while
            // no link leads to it (see `remove`), and we link only while
            // the directory is there: under the lock, one or the other,
            // never a link left leading nowhere.
            let _locked = service.lock_instances()?;
            names.iter().try_for_each(|name| {
                let dir = service.instance_dir(name);
                if !std::fs::symlink_metadata(&dir).is_ok_and(|md| md.is_dir()) {
                    return Err(deleted_meanwhile("link", &dir));
                }
                let link = service.link(name);
                std::os::unix::fs::symlink(Service::link_target(name), &link)
                    .map_err(|e| Error::sys("make symlink", &link, crate::diag::errno_of(&e)))?;
                linked += 1;
                Ok(())
            })
        });
    if r.is_err() {
        let _working = leftovers::working(&service.instances());
        for name in &names[..linked] {
            let _ = std::fs::remove_file(service.link(name));
        }
        for name in names {
            let dir = service.instance_dir(name);
            if dir.join(PENDING).exists() {
                let _ = copy::remove_tree(&dir);
            }
        }
        return r;
    }
    for name in names {
        let _ = std::fs::remove_file(service.instance_dir(name).join(PENDING));
    }
    // The scanner may be gone: the next step finds out and says so.
    let _ = scandir::control(&service.scandir(), b"a");
    r
}

fn prepare(dir: &Path, start: Start, event: EventDir) -> Result<(), Error> {
    // Written into: a `log` symlink from the template is refused, not
    // followed (ELOOP).
    let dirs = supervise::with_logger(dir).map_err(|e| match e {
        Errno::ELOOP => Error::sys("write into", &dir.join("log"), e),
        e => Error::sys("read", dir, e),
    })?;
    for d in dirs {
        if start != Start::Up {
            let down = d.join("down");
            // Never through a symlink planted in the template.
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&down)
                .map_err(|e| Error::sys("create", &down, crate::diag::errno_of(&e)))?;
        }
        let ev = supervise::eventdir(&d);
        fifodir::make(&ev, event.public, event.force).map_err(sys("make fifodir", &ev))?;
    }
    Ok(())
}

/// Wait until an s6-supervise runs on every supervised directory of the
/// named instances: subscribe to their event fifodirs, skip those already
/// running, poke the scanner once, wait for `s` from each of the others.
/// With `Start::Down`, the down files go once the supervisors run. On
/// failure, every named instance is undone.
pub fn await_supervisors(
    service: &Service,
    names: &[&OsStr],
    start: Start,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    // Which directory each name is, before listening to it: an instance
    // deleted meanwhile (and perhaps made anew by another create) is not
    // ours to wait for, nor to undo.
    let subscribed: Vec<_> = names.iter().map(|name| identity(service, name)).collect();
    // Interrupted, the creates are undone before we die of the signal.
    let blocked = crate::wait::block_interrupts().map_err(|e| Error::sys("block signals in", &service.scandir(), e))?;
    match subscribe_and_wait(service, names, &subscribed, deadline, &blocked) {
        Ok(()) if start == Start::Down => {
            for name in names {
                for d in supervised_dirs(&service.instance_dir(name))? {
                    let _ = std::fs::remove_file(d.join("down"));
                }
            }
            Ok(())
        }
        Ok(()) => Ok(()),
        // Every instance deleted meanwhile is left alone: the name may
        // already be another create's. Only a link of ours left leading
        // nowhere (its directory removed by a delete) goes.
        Err(e) => {
            let mut ours = Vec::new();
            for (&name, was) in names.iter().zip(&subscribed) {
                if was.is_some() && identity(service, name) == *was {
                    ours.push(name);
                } else {
                    remove_dangling_link(service, name);
                }
            }
            undo_create(service, &ours);
            match e {
                Interrupted::Failed(e) => Err(e),
                Interrupted::By(sig) => {
                    let mut msg = format!("interrupted by {}: ", sig.as_str()).into_bytes();
                    msg.extend_from_slice(b"undid the creation of what it had made");
                    warn(msg);
                    drop(blocked);
                    crate::wait::die_of(sig)
                }
            }
        }
    }
}

/// Remove the link of NAME if it leads nowhere.
fn remove_dangling_link(service: &Service, name: &OsStr) {
    let link = service.link(name);
    if std::fs::symlink_metadata(&link).is_ok() && std::fs::metadata(&link).is_err() {
        let _ = std::fs::remove_file(&link);
    }
}

/// The directory NAME is (device and inode), if it is linked.
fn identity(service: &Service, name: &OsStr) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(service.link(name)).ok()?;
    let md = std::fs::symlink_metadata(service.instance_dir(name)).ok()?;
    Some((md.dev(), md.ino()))
}

/// How a wait for supervisors ended badly: an error, or a signal that
/// asked us to stop.
enum Interrupted {
    Failed(Error),
    By(nix::sys::signal::Signal),
}

impl From<Error> for Interrupted {
    fn from(e: Error) -> Interrupted {
        Interrupted::Failed(e)
    }
}

/// Wait for the supervisors of `names`, linked to the directories
/// `subscribed` says. Ends early, with an error, when the scanner exits
/// or one of the instances is deleted meanwhile (its link or its
/// directory removed or replaced), and when SIGINT, SIGTERM or SIGHUP
/// comes.
fn subscribe_and_wait(
    service: &Service,
    names: &[&OsStr],
    subscribed: &[Option<(u64, u64)>],
    deadline: Option<Instant>,
    blocked: &crate::wait::Blocked,
) -> Result<(), Interrupted> {
    let scandir = service.scandir();
    let mut dirs = Vec::new();
    for name in names {
        dirs.extend(supervised_dirs(&service.instance_dir(name))?);
    }
    crate::wait::make_room_for(dirs.len());
    let mut pending: Vec<(PathBuf, Listener)> = Vec::new();
    for d in dirs {
        let ev = supervise::eventdir(&d);
        let l = Listener::subscribe(&ev).map_err(|e| Error::sys("subscribe to", &ev, e))?;
        if !supervise::has_started(&d).map_err(|e| Error::sys("read lock of", &d, e))? {
            pending.push((d, l));
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let fail = |e: Errno| Interrupted::Failed(Error::sys("wait for s6-supervise to start on", &pending[0].0, e));
    let mut waiter = crate::wait::Waiter::new().map_err(fail)?;
    for (_, l) in &pending {
        waiter.listen(l).map_err(fail)?;
    }
    // s6i-link has poked the scanner already, and a scan reads the whole
    // scan directory, which grows with the instances: a second one would
    // double the cost of a create. A scanner that is not there is said at
    // once, as the poke would, and one that exits is seen as it does.
    let scanner_gone = || {
        Error::sys_code(
            crate::diag::EXIT_SYS,
            "write to",
            &scandir::control_fifo(&scandir),
            Errno::ENXIO,
        )
    };
    if !waiter.watch_reader(&scandir::control_fifo(&scandir)).map_err(fail)? {
        return Err(scanner_gone().into());
    }
    waiter.watch_entries(&scandir).map_err(fail)?;
    waiter.watch_entries(&service.instances()).map_err(fail)?;
    waiter.catch_interrupts(blocked).map_err(fail)?;
    // A delete of the same name may take the link or the directory away
    // before the scanner gets to it (and another create may even have
    // made the name anew, a directory that is not the one listened to):
    // no supervisor will ever come, and the wait ends there, not never.
    // Looked at only when inotify names one of ours (or lost count).
    let ours = |n: &OsStr| n.is_empty() || names.contains(&n);
    let deleted = || {
        names
            .iter()
            .zip(subscribed)
            .find(|(name, was)| was.is_none() || identity(service, name) != **was)
            .map(|(name, _)| *name)
    };
    if let Some(name) = deleted() {
        return Err(deleted_meanwhile("wait for s6-supervise to start on", &service.instance_dir(name)).into());
    }
    let repoke = std::cell::Cell::new(IDLE_POKE);
    let mut started = vec![false; pending.len()];
    let mut left = pending.len();
    let mut ended: Option<Interrupted> = None;
    loop {
        let mut scanner_exited = false;
        let r = waiter.run(deadline, Some(&repoke), |wake| {
            match wake {
                Wake::Event(i, b's') if !started[i] => {
                    started[i] = true;
                    left -= 1;
                }
                Wake::Event(..) => {}
                Wake::Gone(_) => scanner_exited = true,
                Wake::Entry(name) if ours(name) => {
                    if let Some(name) = deleted() {
                        let dir = service.instance_dir(name);
                        ended = Some(deleted_meanwhile("wait for s6-supervise to start on", &dir).into());
                    }
                }
                Wake::Entry(_) => {}
                Wake::Signal(sig) => ended = Some(Interrupted::By(sig)),
                // A scan can miss an instance (a supervisor of the same
                // name, or a recycled inode, still in the scanner's
                // tables): when nothing has come for a while, poke again,
                // less and less often. Not a look at anything: only the
                // scanner reads.
                Wake::Idle => {
                    repoke.set((repoke.get() * 2).min(std::time::Duration::from_secs(1)));
                    if let Err(e) = scandir::control(&scandir, b"a") {
                        ended = Some(e.into());
                    }
                }
            }
            left == 0 || ended.is_some() || scanner_exited
        });
        if let Some(e) = ended {
            return Err(e);
        }
        if left > 0 && scanner_exited {
            // Its supervisor may have started it again already: that one
            // is told to scan (an error if none listens) and watched in
            // turn.
            scandir::control(&scandir, b"a")?;
            if !waiter.watch_reader(&scandir::control_fifo(&scandir)).map_err(fail)? {
                return Err(scanner_gone().into());
            }
            continue;
        }
        return r.map_err(|e| {
            let late = started.iter().position(|s| !s).unwrap_or(0);
            wait_error(e, "s6-supervise to start on", &pending[late].0).into()
        });
    }
}

/// A delete of the same name got in first (exit 111).
fn deleted_meanwhile(verb: &str, dir: &Path) -> Error {
    let mut msg = format!("unable to {verb} ").into_bytes();
    msg.extend_from_slice(bytes(dir));
    msg.extend_from_slice(b": instance deleted meanwhile");
    Error::new(crate::diag::EXIT_SYS, msg)
}

fn wait_error(e: WaitError, what: &str, path: &Path) -> Error {
    match e {
        WaitError::Timeout => {
            let mut msg = format!("timed out waiting for {what} ").into_bytes();
            msg.extend_from_slice(bytes(path));
            Error::new(EXIT_TIMEOUT, msg)
        }
        WaitError::Sys(e) => Error::sys("wait for events in", path, e),
    }
}

/// Take back a create that failed: stop and dismiss the supervisors,
/// remove the links, have the scanner prune, remove the directories.
/// Best effort: every part is tried, whatever failed before.
pub fn undo_create(service: &Service, names: &[&OsStr]) {
    for name in names {
        let _ = std::fs::remove_file(service.link(name));
        if let Ok(dirs) = supervise::with_own_logger(&service.instance_dir(name)) {
            for (i, d) in dirs.iter().enumerate() {
                let _ = supervise::control(d, if i == 0 { b"xd" } else { b"xo" });
            }
        }
    }
    let _ = scandir::control(&service.scandir(), b"an");
    let _working = leftovers::working(&service.instances());
    for name in names {
        let _ = copy::remove_tree(&service.instance_dir(name));
    }
}

/// How long a wait for supervisors to start stays idle before it pokes
/// the scanner again (then twice as long each time, up to a second), and
/// how often it looks for its instances.
const IDLE_POKE: std::time::Duration = std::time::Duration::from_millis(50);

/// Unlink the named instances from the nested scan directory, have the
/// scanner prune (it stops their supervisors, which bring the services
/// down with their output intact, so a finish script's last words reach
/// the log), and (unless `wait` is false) wait for them to exit. When the
/// deadline passes first, the instances stay unlinked and marked, for
/// the next delete or create of the name to remove once the supervisors
/// are gone: a warning, exit 99, and the chain stops, so that no
/// directory is removed under a running supervisor.
pub fn unlink(service: &Service, names: &[&OsStr], wait: bool, deadline: Option<Instant>) -> Result<(), Error> {
    let mut dirs = Vec::new();
    if wait {
        for name in names {
            dirs.extend(supervised_dirs(&service.instance_dir(name))?);
        }
    }
    let exits = supervise::Exits::watch(dirs)?;
    for name in names {
        let dir = service.instance_dir(name);
        // Nothing to mark where there is no instance, or a symlink; and on
        // a full filesystem, the delete goes on unmarked, as s6's does.
        match mark_pending(&dir) {
            Ok(()) | Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR | Errno::ENOSPC | Errno::EDQUOT) => {}
            Err(e) => return Err(Error::sys("write", &dir.join(PENDING), e)),
        }
        let link = service.link(name);
        match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::sys("remove", &link, crate::diag::errno_of(&e)));
            }
            _ => {}
        }
    }
    let _ = scandir::control(&service.scandir(), b"an");
    match exits.wait(deadline) {
        Ok(()) => Ok(()),
        Err((late, WaitError::Timeout)) => {
            let mut msg = b"timed out waiting for s6-supervise to exit on ".to_vec();
            msg.extend_from_slice(bytes(&late));
            msg.extend_from_slice(b": instance left unlinked, for the next delete or create to remove");
            Err(Error::Warned {
                code: EXIT_TIMEOUT,
                msg,
            })
        }
        Err((late, e)) => Err(wait_error(e, "", &late)),
    }
}

/// Remove the directory of each named instance. One that is linked into
/// the scan directory again is left alone, with a warning: a create of
/// the same name got in after our unlink, and the instance is its now.
/// Returns the names left alone. A create that linked between our look
/// and the removal would be left with a link leading nowhere, which
/// the scanner of s6 2.13 and later takes for an error that ends every
/// scan: `link` and we hold `instances/` locked from the look to the
/// move.
pub fn remove<'a>(service: &Service, names: &[&'a OsStr]) -> Result<Vec<&'a OsStr>, Error> {
    let mut kept = Vec::new();
    let mut aside = Vec::new();
    let working = leftovers::working(&service.instances());
    let locked = service.lock_instances()?;
    let moved = names.iter().try_for_each(|&name| {
        let dir = service.instance_dir(name);
        if std::fs::symlink_metadata(service.link(name)).is_ok() {
            let mut msg = b"leaving ".to_vec();
            msg.extend_from_slice(bytes(&dir));
            msg.extend_from_slice(b": it is linked again, made anew since it was unlinked");
            warn(msg);
            kept.push(name);
        } else if let Some(path) = rename::move_aside(&dir).map_err(sys("remove", &dir))? {
            aside.push((dir, path));
        }
        Ok(())
    });
    // What was moved aside goes, even when a later name failed; then
    // what killed commands left, if any.
    unlock_and_remove(locked, aside)?;
    drop(working);
    leftovers::finish(service);
    moved.map(|()| kept)
}

/// Release the lock on `instances/`, then delete the trees moved aside
/// under it (each given with the instance directory it was).
fn unlock_and_remove(
    locked: Option<std::os::fd::OwnedFd>,
    aside: impl IntoIterator<Item = (PathBuf, PathBuf)>,
) -> Result<(), Error> {
    drop(locked);
    aside
        .into_iter()
        .try_for_each(|(dir, path)| copy::remove_all(&path).map_err(sys("remove", &dir)))
}

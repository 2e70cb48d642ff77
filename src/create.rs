//! Making instances, for the create steps and sync: copy the template
//! (`clone`) under a hidden name, kept private and named in the intent
//! log until `link` names it and links it at once (so that a killed
//! chain leaves nothing that s6's own create trips on), wait for
//! their supervisors (`await_supervisors`), and take a failed create
//! back whole (`undo_create`), so that a create leaves a whole instance
//! or nothing. Functions over a list of names, so that one call serves
//! one instance or many (one scanner poke, one wait). A create that
//! finds a name left by a killed delete finishes that delete first
//! (through `delete` and `pending`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use nix::errno::Errno;

use crate::diag::{msg, sys, warn, Error};
use crate::door::Loc;
use crate::fifodir::{EventDir, Listener};
use crate::layout::Service;
use crate::supervise::supervised_dirs;
use crate::wait::Wake;
use crate::{copy, delete, leftovers, pending, rename, scandir, supervise};

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

/// Where s6i-clone leaves its copies for the steps after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyAt {
    /// Under a hidden name, private, until s6i-link publishes them.
    Hidden,
    /// `-p`: at their names at once, marked pending until linked, for a
    /// chain that writes into them by path (see `clone_one`).
    Name,
}

/// Copy the template for each name, under a hidden name where the copy
/// stays until `link` (see `clone_one`), or renamed into place at once
/// (`CopyAt::Name`): an instance is whole or absent. If one cannot be
/// made, those made before are removed.
pub fn clone(service: &Service, names: &[&OsStr], at: CopyAt, deadline: Option<Instant>) -> Result<(), Error> {
    let template = service.template()?;
    for name in names {
        let dir = service.instance_dir(name);
        if let Err(e) = exists_check(&dir) {
            // A delete killed between its unlink and its wait left the
            // instance's supervisors running: finish that delete's wait
            // (the scanner is told to stop them) before taking it away.
            if pending::left_supervised(service, name) {
                delete::unlink(service, &[name], true, deadline)?;
                if delete::remove(service, &[name])?.is_empty() {
                    continue;
                }
                return Err(e);
            }
            // Under the lock: see `remove`.
            let locked = service.lock_instances()?;
            if !pending::abandoned(service, name) {
                return Err(e);
            }
            let _working = leftovers::working(&service.instances());
            let aside = rename::move_aside(&dir).map_err(sys("remove", &dir))?;
            delete::unlock_and_remove(locked, aside.map(|at| (dir, at)))?;
        }
    }
    // What killed commands left goes now (see crate::recover).
    crate::recover::finish(service);
    // The log first: the copies' hidden names carry its token.
    let instances = service.instances();
    crate::journal::begin(&instances)
        .map_err(|e| Error::sys("write the intent log in", &instances.join(crate::work::WORK), e))?;
    let working = leftovers::working(&instances);
    // Interrupted, the copies made go before we die of the signal, which
    // is read between two copies.
    let blocked = crate::signals::block_interrupts().map_err(|e| Error::sys("block signals in", &instances, e))?;
    for (i, name) in names.iter().enumerate() {
        let made = clone_one(service, &template, name, at);
        let came = blocked.came();
        if made.is_err() || came.is_some() {
            take_back(service, &names[..=i]);
            if let Some(sig) = came {
                drop(working);
                drop(blocked);
                interrupted(sig);
            }
            return made;
        }
    }
    Ok(())
}

/// Say that a create was interrupted and is taken back, then die of the
/// signal that interrupted it.
fn interrupted(sig: nix::sys::signal::Signal) -> ! {
    crate::journal::exit();
    warn(
        msg("interrupted by ")
            .text(sig.as_str())
            .text(": undid the creation of what it had made"),
    );
    crate::signals::die_of(sig)
}

/// Copy the template for NAME under a hidden name, where it stays,
/// private, until s6i-link publishes it: neither s6's list nor its
/// create ever meets a copy that a killed chain left. The create record
/// says where it is (copy::Kept), for the steps after this one and for
/// the recovery of a killed chain. With `CopyAt::Name`, it is published
/// at once, marked pending (see crate::pending): a chain killed before
/// its link then leaves it there, for our next create or sync of the
/// name to remove (s6's create refuses the name meanwhile).
fn clone_one(service: &Service, template: &Loc, name: &OsStr, at: CopyAt) -> Result<(), Error> {
    let dst = service.instance_dir(name);
    let tmp = leftovers::hidden_sibling(&dst, "clone");
    // Root's alone until published, then given its owner and mode: what
    // is written into it before goes through the copy's own descriptor.
    let made = copy::copy_template(template, &tmp, || service.template_lock())
        .map_err(|e| Error::new(crate::diag::EXIT_SYS, e.message(template, &dst)))?;
    let record = made
        .inside()
        .and_then(|inside| crate::manifest::write(&inside))
        .and_then(|()| copy::Kept::record(&made))
        .map_err(|e| Error::sys("write into", &dst, e))
        .and_then(|record| {
            crate::journal::open(&service.instances(), "create", name.as_bytes(), &record).map_err(|e| {
                let work = service.instances().join(crate::work::WORK);
                Error::sys("write the intent log in", &work, e)
            })
        });
    if let Err(e) = record {
        made.discard();
        return Err(e);
    }
    if at == CopyAt::Name {
        let marked = made
            .inside()
            .and_then(|inside| pending::mark(&inside, &service.instances()));
        if let Err(e) = marked {
            made.discard();
            return Err(Error::sys("write into", &dst, e));
        }
        return publish(made, &dst);
    }
    // Its record answers for it now, not the work record.
    leftovers::answered_for(made.at());
    Ok(())
}

/// The instanced service this process's log is in, if it has begun one.
pub fn service_of_log() -> Option<Service> {
    let instances = crate::journal::instances()?;
    Service::new(instances.path().parent()?.as_os_str()).ok()
}

/// The copy of NAME that this chain keeps private (see `clone_one`), if
/// its create record is open here.
fn kept(name: &OsStr) -> Option<copy::Kept> {
    copy::Kept::parse(&crate::journal::extra("create", name.as_bytes())?)
}

/// Whether NAME's create record is open here and its copy is still
/// private: not yet published by s6i-link.
fn kept_private(service: &Service, name: &OsStr) -> Option<copy::Kept> {
    kept(name).filter(|k| !k.is_at(&service.instance_dir(name)))
}

/// Whether a copy of NAME that s6i-clone made in this chain awaits its
/// link: kept private, or published with `-p` and not linked yet.
pub fn is_kept(service: &Service, name: &OsStr) -> bool {
    kept(name).is_some() && !service.link(name).present()
}

/// Give the copy of NAME that awaits its link here (see `is_kept`) its
/// `env/` (see envdir::install_kept): false when there is none.
pub fn install_env(
    service: &Service,
    name: &OsStr,
    defaults: &crate::envdir::Env,
    own: &crate::envdir::Env,
) -> Result<bool, Error> {
    let dir = service.instance_dir(name);
    let Some(k) = kept_private(service, name) else {
        if !is_kept(service, name) {
            return Ok(false);
        }
        crate::envdir::install(&dir, defaults, own)?;
        return Ok(true);
    };
    let copy = k.reopen(&service.instances()).map_err(|e| match e {
        copy::SWAPPED => swapped(&service.instances().join(&k.hidden)),
        e => Error::sys("open", &dir, e),
    })?;
    crate::envdir::install_kept(&copy, &dir, defaults, own)?;
    Ok(true)
}

/// Remove the copies this chain still keeps private for `names`, and
/// close their records: a chain that ends (or fails) before s6i-link
/// leaves none of them. An instance already published is left.
pub fn forget_kept(service: &Service, names: &[&OsStr]) {
    for name in names {
        if let Some(k) = kept_private(service, name) {
            if let Ok(copy) = k.reopen(&service.instances()) {
                copy.discard();
            }
            crate::journal::close("create", name.as_bytes());
        }
    }
}

/// Remove the copies of `names` that this chain made and never linked,
/// private or published (`-p`), and close their records.
fn take_back(service: &Service, names: &[&OsStr]) {
    let _working = leftovers::working(&service.instances());
    forget_kept(service, names);
    for name in names {
        let dir = service.instance_dir(name);
        if kept(name).is_some_and(|k| k.is_at(&dir)) {
            let _ = copy::remove_tree(&dir);
        }
        crate::journal::close("create", name.as_bytes());
    }
}

/// `forget_kept` for every create record this process has open: what a
/// chain does as it ends.
pub fn forget_all_kept() {
    let names = crate::journal::open_names("create");
    let Some(service) = service_of_log() else {
        return;
    };
    let names: Vec<&OsStr> = names.iter().map(|n| n.as_os_str()).collect();
    forget_kept(&service, &names);
}

/// A hidden copy's name found leading elsewhere than the copy (exit 111).
pub fn swapped(at: &Loc) -> Error {
    msg("unable to publish ")
        .path(at)
        .text(": its name was swapped for something else meanwhile")
        .fatal(crate::diag::EXIT_SYS)
}

/// Refuse to make an instance where anything already is, a symlink
/// (even a dangling one) included (exit 100).
fn exists_check(dst: &Loc) -> Result<(), Error> {
    match dst.stat() {
        Ok(st) if crate::door::kind(&st) == nix::sys::stat::SFlag::S_IFDIR => Err(already_exists(dst)),
        Ok(_) => {
            let msg = msg("unexpected file preventing instance creation at ").path(dst);
            Err(msg.fatal(crate::diag::EXIT_USAGE))
        }
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::sys("stat", dst, e)),
    }
}

fn already_exists(dst: &(impl crate::diag::Shown + ?Sized)) -> Error {
    msg("instance appears to already exist at ")
        .path(dst)
        .fatal(crate::diag::EXIT_USAGE)
}

/// Make the instances visible to the nested scanner: each copy that
/// s6i-clone keeps private gets its `down` files (if it must start down)
/// and its event fifodirs, then, under the lock of `instances/`, its
/// owner and mode, its name, and its link, one right after the other;
/// then the scanner is poked. Once linked, an instance is whole and,
/// even if this chain dies now, gets its supervisor. On failure, the
/// links made are removed, and so are the copies. A name without a copy
/// kept here is a directory made otherwise (by hand, say): it is linked
/// as it is, unless a supervisor runs on it already (this step run
/// twice): that is refused before anything is done.
pub fn link(service: &Service, names: &[&OsStr], start: Start, event: EventDir) -> Result<(), Error> {
    for name in names {
        let dir = service.instance_dir(name);
        if kept_private(service, name).is_none() && supervise::is_running(&dir).map_err(sys("read lock of", &dir))? {
            return Err(already_exists(&dir));
        }
    }
    let mut linked = 0;
    // One copy open at a time: a wave may be larger than our descriptors.
    let r = names
        .iter()
        .try_for_each(|name| {
            let dir = service.instance_dir(name);
            match reopen_kept(service, name)? {
                Some(copy) => {
                    let inside = copy.inside().map_err(sys("open", &dir))?.shown_as(dir.path());
                    prepare(&inside, start, event, Some(copy.owner()))
                }
                None => prepare(&dir, start, event, None),
            }
        })
        .and_then(|()| {
            // A delete of the same name removes the directory only while
            // no link leads to it (see `remove`), and we link only while
            // the directory is there: under the lock, one or the other,
            // never a link left leading nowhere.
            let _locked = service.lock_instances()?;
            names.iter().try_for_each(|name| {
                let dir = service.instance_dir(name);
                match reopen_kept(service, name)? {
                    Some(copy) => publish(copy, &dir)?,
                    None if !dir.is_real_dir() => return Err(deleted_meanwhile("link", &dir)),
                    None => {}
                }
                let link = service.link(name);
                link.symlink(&Service::link_target(name))
                    .map_err(sys("make symlink", &link))?;
                linked += 1;
                Ok(())
            })
        });
    if r.is_err() {
        for name in &names[..linked] {
            let _ = service.link(name).unlink();
        }
        take_back(service, names);
        return r;
    }
    // Each `create` record stays open until its supervisor runs (see
    // s6i-wait-supervise): a command killed before is waited for by the
    // next sync told to wait.
    for name in names {
        pending::unmark_own(&service.instance_dir(name));
    }
    // The scanner may be gone: the next step finds out and says so.
    let _ = scandir::control(&service.scandir(), b"a");
    r
}

/// The copy of NAME kept private here, open (identity checked), if any.
fn reopen_kept(service: &Service, name: &OsStr) -> Result<Option<copy::Private>, Error> {
    let Some(k) = kept_private(service, name) else {
        return Ok(None);
    };
    let instances = service.instances();
    k.reopen(&instances).map(Some).map_err(|e| match e {
        copy::SWAPPED => swapped(&instances.join(&k.hidden)),
        Errno::ENOENT => deleted_meanwhile("link", &service.instance_dir(name)),
        e => Error::sys("open", &instances.join(&k.hidden), e),
    })
}

/// Give a kept copy its name: the instance is then whole, and what is
/// already at that name is left as it is (exit 100, as for a copy that
/// finds it at the start).
fn publish(copy: copy::Private, dir: &Loc) -> Result<(), Error> {
    let at = copy.at().clone();
    copy.publish_to(dir).or_else(|e| match e {
        Errno::EEXIST | Errno::ENOTEMPTY => exists_check(dir).and(Err(already_exists(dir))),
        copy::SWAPPED => Err(swapped(&at)),
        e => Err(Error::sys("rename into", dir, e)),
    })
}

/// Write the `down` files and make the event fifodirs of the instance at
/// `dir`, whose top is `owner`'s, when given (a private copy, root's
/// until it is published), else its own.
fn prepare(dir: &Loc, start: Start, event: EventDir, owner: Option<(u32, u32)>) -> Result<(), Error> {
    // Written into: a `log` symlink from the template is refused, not
    // followed (ELOOP).
    let dirs = supervise::with_logger(dir).map_err(|e| match e {
        Errno::ELOOP => Error::sys("write into", &dir.join("log"), e),
        e => Error::sys("read", dir, e),
    })?;
    for d in dirs {
        if start != Start::Up {
            let down = d.join("down");
            // Never through a link planted in the template (ELOOP), never
            // into a FIFO or a device.
            down.write_over(b"", 0o644).map_err(sys("create", &down))?;
        }
        let ev = supervise::eventdir(&d);
        match owner.filter(|_| d == *dir) {
            Some(owner) => supervise::make_eventdir_as(&d, event.public, event.force, owner),
            None => supervise::make_eventdir(&d, event.public, event.force),
        }
        .map_err(sys("make fifodir", &ev))?;
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
    let blocked =
        crate::signals::block_interrupts().map_err(|e| Error::sys("block signals in", &service.scandir(), e))?;
    match subscribe_and_wait(service, names, &subscribed, deadline, &blocked) {
        Ok(()) if start == Start::Down => {
            for name in names {
                for d in supervised_dirs(&service.instance_dir(name))? {
                    let _ = d.join("down").unlink();
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
                    drop(blocked);
                    interrupted(sig)
                }
            }
        }
    }
}

/// Wait until an s6-supervise runs on every supervised directory of the
/// named instances, linked by a command that is gone: as
/// `await_supervisors`, but nothing is undone on failure (they are not
/// ours to take back), and a signal that asks us to stop ends the wait.
pub fn await_left(service: &Service, names: &[&OsStr], deadline: Option<Instant>) -> Result<(), Error> {
    let subscribed: Vec<_> = names.iter().map(|name| identity(service, name)).collect();
    let blocked =
        crate::signals::block_interrupts().map_err(|e| Error::sys("block signals in", &service.scandir(), e))?;
    let _ = scandir::control(&service.scandir(), b"a");
    match subscribe_and_wait(service, names, &subscribed, deadline, &blocked) {
        Ok(()) => Ok(()),
        Err(Interrupted::Failed(e)) => Err(e),
        Err(Interrupted::By(sig)) => {
            drop(blocked);
            crate::journal::exit();
            crate::signals::die_of(sig)
        }
    }
}

/// Remove the link of NAME if it leads nowhere: our links all lead to
/// `../instances/NAME`, which is looked at itself, no link followed.
fn remove_dangling_link(service: &Service, name: &OsStr) {
    let link = service.link(name);
    if link.present() && !service.instance_dir(name).present() {
        let _ = link.unlink();
    }
}

/// The directory NAME is (device and inode), if it is linked.
fn identity(service: &Service, name: &OsStr) -> Option<(u64, u64)> {
    service.link(name).stat().ok()?;
    let st = service.instance_dir(name).stat().ok()?;
    Some((st.st_dev, st.st_ino))
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
    blocked: &crate::signals::Blocked,
) -> Result<(), Interrupted> {
    let scandir = service.scandir();
    let mut dirs = Vec::new();
    for name in names {
        dirs.extend(supervised_dirs(&service.instance_dir(name))?);
    }
    crate::wait::make_room_for(dirs.len());
    let mut pending: Vec<(Loc, Listener)> = Vec::new();
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
    // The inotify watches on the instances cost the process a grace
    // period of the kernel when it lets them go (closing an inotify
    // descriptor waits for one: milliseconds, more than a whole create
    // takes otherwise): only a wait that has been idle a first period
    // takes them, and looks once then.
    let mut watching = false;
    loop {
        let (mut scanner_exited, mut watch_now) = (false, false);
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
                // less and less often. Only the scanner reads; the first
                // time, the instances are watched (and looked at once).
                Wake::Idle => {
                    repoke.set((repoke.get() * 2).min(std::time::Duration::from_secs(1)));
                    if let Err(e) = scandir::control(&scandir, b"a") {
                        ended = Some(e.into());
                    }
                    watch_now = !watching;
                }
            }
            left == 0 || ended.is_some() || scanner_exited || watch_now
        });
        if let Some(e) = ended {
            return Err(e);
        }
        if watch_now && left > 0 {
            watch_instances(&mut waiter, service, names).map_err(fail)?;
            watching = true;
            if let Some(name) = deleted() {
                return Err(deleted_meanwhile("wait for s6-supervise to start on", &service.instance_dir(name)).into());
            }
            continue;
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
            e.error("s6-supervise to start on", &pending[late].0).into()
        });
    }
}

/// Watch each instance's link and directory for a delete: those two
/// paths, not the directories of all instances (see Waiter::watch_self);
/// those directories when out of inotify watches. One already gone is
/// for the caller's look to see.
fn watch_instances(waiter: &mut crate::wait::Waiter, service: &Service, names: &[&OsStr]) -> Result<(), Errno> {
    let mut selves = Ok(());
    for name in names {
        for path in [service.link(name), service.instance_dir(name)] {
            selves = selves.and_then(|()| match waiter.watch_self(&path, name) {
                Err(Errno::ENOENT) => Ok(()),
                r => r,
            });
        }
    }
    match selves {
        Err(Errno::ENOSPC) => {
            waiter.watch_entries(&service.scandir())?;
            waiter.watch_entries(&service.instances())
        }
        r => r,
    }
}

/// A delete of the same name got in first (exit 111).
fn deleted_meanwhile(verb: &str, dir: &(impl crate::diag::Shown + ?Sized)) -> Error {
    msg("unable to ")
        .text(verb)
        .text(" ")
        .path(dir)
        .text(": instance deleted meanwhile")
        .fatal(crate::diag::EXIT_SYS)
}

/// Take back a create that failed: remove the links, have the scanner
/// scan and then stop the supervisors no longer linked (`an`, as a
/// delete does), wait a while for them to exit, remove the directories.
/// The scanner stops them, after its scan: a supervisor that exited
/// before the scanner saw its link go would be, to s6 2.13, a service
/// that died, kept on its books for good, and a later instance whose
/// directory got the same inode number would never be started. Best
/// effort: every part is tried, whatever failed before.
pub fn undo_create(service: &Service, names: &[&OsStr]) {
    // Copies not yet published are only removed: the name is not ours.
    let (private, names): (Vec<&OsStr>, Vec<&OsStr>) = names.iter().partition(|n| kept_private(service, n).is_some());
    forget_kept(service, &private);
    // Watched before the scanner is told (see supervise::Exits).
    let dirs = names
        .iter()
        .flat_map(|n| supervise::with_own_logger(&service.instance_dir(n)).unwrap_or_default());
    let exits = supervise::Exits::watch(dirs);
    for name in &names {
        let _ = service.link(name).unlink();
    }
    let _ = scandir::control(&service.scandir(), b"an");
    // The command was told to stop, or failed: a short wait, not its -t.
    if let Ok(exits) = exits {
        let _ = exits.wait(Some(Instant::now() + UNDO_WAIT));
    }
    let _working = leftovers::working(&service.instances());
    for name in &names {
        let _ = copy::remove_tree(&service.instance_dir(name));
    }
}

/// How long taking back a create waits for its supervisors to exit.
const UNDO_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a wait for supervisors to start stays idle before it pokes
/// the scanner again (then twice as long each time, up to a second), and
/// how often it looks for its instances.
const IDLE_POKE: std::time::Duration = std::time::Duration::from_millis(50);

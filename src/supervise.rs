//! A service directory and its s6-supervise: `DIR/supervise/lock` says
//! whether the supervisor runs, `DIR/supervise/control` takes the s6-svc
//! letters, `DIR/event` is the fifodir where it announces events.

use nix::errno::Errno;

use crate::door::Loc;
use crate::{fifo, lock};

pub fn lockfile(svdir: &Loc) -> Loc {
    svdir.join("supervise/lock")
}

pub fn control_fifo(svdir: &Loc) -> Loc {
    svdir.join("supervise/control")
}

pub fn eventdir(svdir: &Loc) -> Loc {
    svdir.join("event")
}

/// Make the event fifodir of `svdir` (see fifodir::make), for its
/// supervisor to announce to: when the service directory is another
/// user's (the maker's `-u`, whose supervisors run as that user), the
/// fifodir is that user's too, or the supervisor could not read it.
pub fn make_eventdir(svdir: &Loc, public: bool, force: bool) -> Result<(), Errno> {
    let st = svdir.stat()?;
    make_eventdir_as(svdir, public, force, (st.st_uid, st.st_gid))
}

/// The same for a service directory that will be `owner`'s (a private
/// copy, root's until it is published).
pub fn make_eventdir_as(svdir: &Loc, public: bool, force: bool, owner: (u32, u32)) -> Result<(), Errno> {
    let foreign = (owner.0 != nix::unistd::geteuid().as_raw()).then_some(owner);
    crate::fifodir::make(&eventdir(svdir), public, force, foreign)
}

/// Whether an s6-supervise runs on `svdir`; a missing lock means no.
pub fn is_running(svdir: &Loc) -> Result<bool, Errno> {
    match lock::held(&lockfile(svdir)) {
        Err(Errno::ENOENT) => Ok(false),
        r => r,
    }
}

/// Whether an s6-supervise runs on `svdir` and has announced itself: it
/// takes its lock, then writes its first status, then sends `s`. Until
/// the status is there, the supervisor is still starting and its `s` is
/// yet to come.
pub fn has_started(svdir: &Loc) -> Result<bool, Errno> {
    Ok(is_running(svdir)? && svdir.join("supervise/status").present())
}

/// Send s6-svc command letters. Ok(false) when no supervisor listens.
pub fn control(svdir: &Loc, cmd: &[u8]) -> Result<bool, Errno> {
    match fifo::send(&control_fifo(svdir), cmd) {
        Err(Errno::ENOENT) => Ok(false),
        r => r,
    }
}

/// The service directory and, when it has one, its logger `log/`: the
/// directories that get an s6-supervise each once linked into a scandir.
/// For the steps that write into them (link, upgrade): a `log` that is a
/// symlink is refused (ELOOP), never written through; a `log` that is no
/// directory is ENOTDIR.
pub fn with_logger(svdir: &Loc) -> Result<Vec<Loc>, Errno> {
    logger(svdir, false)
}

/// The same for the steps that only stop supervisors, wait for them or
/// remove (delete, a create taken back, leftovers swept): a `log` that is
/// a symlink is left out, as no logger of ours. Nothing is written
/// through it, and an instance that has one (s6's own create copies it)
/// can still be deleted; a supervisor the scanner may have started there
/// is the scanner's to stop.
/// An instance directory that is itself a link (planted by its user)
/// is, to these, a directory with no logger: what they look at through
/// it is refused by the door, and its link is what a removal removes.
pub fn with_own_logger(svdir: &Loc) -> Result<Vec<Loc>, Errno> {
    logger(svdir, true)
}

fn logger(svdir: &Loc, lenient: bool) -> Result<Vec<Loc>, Errno> {
    use nix::sys::stat::SFlag;
    let log = svdir.join("log");
    match log.stat().map(|st| crate::door::kind(&st)) {
        Ok(SFlag::S_IFDIR) => Ok(vec![svdir.clone(), log]),
        Ok(SFlag::S_IFLNK) if lenient => Ok(vec![svdir.clone()]),
        Ok(SFlag::S_IFLNK) => Err(Errno::ELOOP),
        Ok(_) => Err(Errno::ENOTDIR),
        Err(Errno::ENOENT) => Ok(vec![svdir.clone()]),
        Err(Errno::ELOOP | Errno::ENOTDIR) if lenient => Ok(vec![svdir.clone()]),
        Err(e) => Err(e),
    }
}

/// Send s6-svc command letters to the supervisor of `svdir`, with the
/// diagnosis of the release's s6-svc when it cannot: no supervisor
/// listening, a `supervise/` that is not what it should be, or a
/// system call that failed. Up to s6 2.13 each is fatal (100, 100,
/// 111); from 2.14 each is a warning (102, 1, 111).
pub fn command(svdir: &Loc, cmds: &[u8]) -> Result<(), crate::diag::Error> {
    use crate::diag::{msg, Error, EXIT_SYS, EXIT_USAGE};
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let warns = crate::release::BUILT_FOR.svc_warns();
    let fail = |fatal_code: i32, warned_code: i32, msg: Vec<u8>| {
        if warns {
            Error::Warned { code: warned_code, msg }
        } else {
            Error::Fatal { code: fatal_code, msg }
        }
    };
    let not_listening = || {
        let msg = msg("unable to control ")
            .path(svdir.path())
            .text(": supervisor not listening");
        fail(EXIT_USAGE, 102, msg.into())
    };
    let failed = |e: Errno| fail(EXIT_SYS, EXIT_SYS, crate::diag::unable("control", svdir.path(), e));
    let fifo = control_fifo(svdir);
    let fd = match fifo::open_writer(&fifo) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Err(not_listening()),
        Err(e @ (Errno::ENOENT | Errno::ENOTDIR | Errno::EISDIR)) => {
            // Tell a missing service from a missing or broken supervise/.
            if let Err(e) = svdir.open(OFlag::O_PATH | OFlag::O_DIRECTORY) {
                return Err(failed(e));
            }
            return match svdir.join("supervise").open(OFlag::O_PATH | OFlag::O_DIRECTORY) {
                Err(Errno::ENOENT) => Err(not_listening()),
                _ => {
                    let msg = msg("something is wrong with the ")
                        .path(svdir.path())
                        .text("/supervise directory: ")
                        .reason(e);
                    Err(fail(EXIT_USAGE, 1, msg.into()))
                }
            };
        }
        Err(e) => return Err(failed(e)),
    };
    // A supervisor that exits between our open and our write (a delete
    // of the instance under way) is one that does not listen: EPIPE, not
    // a death by SIGPIPE without a word (see fifo::send).
    let written = fcntl(&fd, FcntlArg::F_SETFL(OFlag::empty())).and_then(|_| {
        crate::signals::ignoring_sigpipe(|| {
            let mut done = 0;
            while done < cmds.len() {
                done += nix::unistd::write(&fd, &cmds[done..])?;
            }
            Ok(())
        })
    });
    match written {
        Err(Errno::EPIPE) => Err(not_listening()),
        r => r.map_err(failed),
    }
}

/// The supervisors of some service directories that run now, watched
/// until they exit: each through its control FIFO, whose last reader
/// goes away only when the supervisor exits (killed rather than told,
/// too), and its lock file, held open: another instance, supervised, may
/// be put at the same path meanwhile (a delete and a create of the same
/// name), and it is not the one waited for. Nothing is written, so this
/// works on a full filesystem.
pub struct Exits {
    waiter: crate::wait::Waiter<'static>,
    running: Vec<(Loc, std::os::fd::OwnedFd)>,
}

impl Exits {
    /// Watch those of `dirs` whose supervisor runs, before anything
    /// tells them to exit.
    pub fn watch(dirs: impl IntoIterator<Item = Loc>) -> Result<Exits, crate::diag::Error> {
        use crate::diag::Error;
        let dirs: Vec<Loc> = dirs.into_iter().collect();
        crate::wait::make_room_for(dirs.len());
        let mut waiter = crate::wait::Waiter::new().map_err(|e| Error::sys("watch", std::path::Path::new("."), e))?;
        let mut running = Vec::new();
        for d in dirs {
            let lockfile = lockfile(&d);
            let lock = match lock::open(&lockfile) {
                Ok(fd) => fd,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(Error::sys("open", lockfile.path(), e)),
            };
            // Locked, but nobody reads its FIFO: it is starting (not yet
            // listening) or on its way out; either way not one to wait for.
            let held = lock::held_on(&lock).map_err(|e| Error::sys("read lock of", d.path(), e))?;
            if held
                && waiter
                    .watch_reader(&control_fifo(&d))
                    .map_err(|e| Error::sys("watch", d.path(), e))?
            {
                running.push((d, lock));
            }
        }
        Ok(Exits { waiter, running })
    }

    /// Wait until every supervisor watched has exited and let its lock
    /// go, or until `deadline`: then the error, and the first directory
    /// whose supervisor still runs.
    /// In a chain that holds the interrupts, one that comes ends the
    /// wait early, as if done, and is left pending for the chain to read
    /// (it finishes what is half done first).
    pub fn wait(mut self, deadline: Option<std::time::Instant>) -> Result<(), (Loc, crate::wait::WaitError)> {
        let mut gone = vec![false; self.running.len()];
        let mut left = self.running.len();
        if left > 0 {
            let blocked = crate::signals::interrupts_held()
                .then(crate::signals::block_interrupts)
                .and_then(Result::ok);
            if let Some(b) = &blocked {
                let _ = self.waiter.catch_interrupts(b);
            }
            let mut caught = None;
            let r = self.waiter.run(deadline, None, |wake| {
                match wake {
                    crate::wait::Wake::Gone(i) => {
                        gone[i] = true;
                        left -= 1;
                    }
                    crate::wait::Wake::Signal(sig) => caught = Some(sig),
                    _ => {}
                }
                left == 0 || caught.is_some()
            });
            if let Some(sig) = caught {
                crate::signals::put_back(sig);
                return Ok(());
            }
            if let Err(e) = r {
                let late = gone.iter().position(|g| !g).unwrap_or(0);
                return Err((self.running.swap_remove(late).0, e));
            }
        }
        // Its FIFO closed, a supervisor is exiting: its lock goes free a
        // moment later. Gone means that too, for whoever looks next.
        for (d, lock) in &self.running {
            crate::wait::lock_released(lock).map_err(|e| (d.clone(), crate::wait::WaitError::Sys(e)))?;
        }
        Ok(())
    }
}

/// The supervised directories of an instance: itself, and `log/` if
/// any, for a look, a wait or a removal: a `log` symlink is left out
/// (see with_own_logger).
pub fn supervised_dirs(dir: &Loc) -> Result<Vec<Loc>, crate::diag::Error> {
    with_own_logger(dir).map_err(crate::diag::sys("read", dir.path()))
}

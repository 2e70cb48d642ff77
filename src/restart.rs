//! Restarting instances without the second s6-supervise waits.
//!
//! After a service dies, s6-supervise starts it again only a second
//! later (unless it notified readiness more than a second before): its
//! guard against a crash loop, which makes `s6-svc -r` cost a second.
//! A restart that a command asks for is no crash, so it is done as a
//! down, a wait until down, then an up, which s6-supervise does at once.
//!
//! In between, the instances are wanted down. A signal that asks us to
//! stop (INT, TERM, HUP) is read in the wait: they are brought up, then
//! the process dies of it. Against any other death, their names are in
//! `instances/.s6i-work/PID.up` (see crate::leftovers) from before the
//! down until after the up: the next command that finishes leftovers
//! (create, delete, sync, upgrade) brings up those of a dead pid.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use crate::diag::{Error, EXIT_NOT_RUNNING, EXIT_SYS};
use crate::door::Loc;
use crate::layout::Service;
use crate::signals;
use crate::svwait::Watch;
use crate::wait::{WaitError, Waiter, Wake};

/// How the list of instances held down is named in `.s6i-work/`.
const HELD: &str = ".up";

/// The instances `names` of `service`, all up, taken down then up again.
/// Returns a watch on each, subscribed before the up, for the caller to
/// wait until they are up (or ready). Those not down by `deadline` are
/// named (exit 99), after every instance was told to be up again.
pub fn restart<'a>(
    service: &Service,
    names: &[&'a OsStr],
    deadline: Option<Instant>,
) -> Result<Vec<(&'a OsStr, Watch)>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let dirs: Vec<Loc> = names.iter().map(|n| service.instance_dir(n)).collect();
    let downs = dirs.iter().map(|d| Watch::start(d)).collect::<Result<Vec<_>, _>>()?;
    let blocked = signals::block_interrupts().map_err(|e| Error::sys("block signals for", &service.instances(), e))?;
    let held = Held::write(service, names)?;
    let mut waiter = Waiter::new().map_err(|e| Error::sys("wait for events of", &service.instances(), e))?;
    for w in &downs {
        waiter
            .listen(w.listener())
            .map_err(|e| Error::sys("wait for events of", &service.instances(), e))?;
    }
    waiter
        .catch_interrupts(&blocked)
        .map_err(|e| Error::sys("wait for events of", &service.instances(), e))?;
    let told = dirs.iter().try_for_each(|d| crate::supervise::command(d, b"d"));
    // Down: 0 not yet, 1 down, 2 its supervisor went (it cannot come up).
    // One down already (it died since the caller looked) is not waited
    // for: its events came before the subscription.
    let mut down: Vec<u8> = downs.iter().map(|w| u8::from(!w.is_up())).collect();
    let mut caught = None;
    let waited = match told {
        Err(e) => Err(e),
        Ok(()) if down.iter().all(|&d| d > 0) => Ok(()),
        Ok(()) => {
            let r = waiter.run(deadline, None, |wake| {
                match wake {
                    // Down and finished: an up during its finish script would
                    // be held back the second again.
                    Wake::Event(i, b'D') => down[i] = down[i].max(1),
                    Wake::Event(i, b'x') => down[i] = 2,
                    Wake::Signal(sig) => caught = Some(sig),
                    _ => {}
                }
                caught.is_some() || down.iter().all(|&d| d > 0)
            });
            match r {
                Ok(()) => Ok(()),
                Err(WaitError::Timeout) => {
                    let late = names.iter().zip(&down).filter(|(_, &d)| d == 0).map(|(n, _)| n);
                    Err(crate::svwait::late(late, "restarted"))
                }
                Err(WaitError::Sys(e)) => Err(Error::sys_code(EXIT_SYS, "wait for events of", &service.instances(), e)),
            }
        }
    };
    drop(waiter);
    // Subscribed before the up: its event cannot be missed.
    let ups = match waited {
        Ok(()) if caught.is_none() => dirs.iter().map(|d| Watch::start(d)).collect::<Result<Vec<_>, _>>(),
        Ok(()) => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    held.release(&dirs);
    if let Some(sig) = caught {
        crate::diag::warn(b"interrupted: the instances being restarted were told to start again");
        signals::die_of(sig);
    }
    drop(blocked);
    if let Some(i) = down.iter().position(|&d| d == 2) {
        return Err(crate::svwait::failed_permanently(&dirs[i]).fatal(EXIT_NOT_RUNNING));
    }
    Ok(names.iter().copied().zip(ups?).collect())
}

/// The list of instances this process holds down.
struct Held {
    at: Loc,
    instances: Loc,
}

impl Held {
    /// Written whole before anything is taken down: a list cut short by a
    /// kill would leave an instance down for good.
    fn write(service: &Service, names: &[&OsStr]) -> Result<Held, Error> {
        let instances = service.instances();
        let shown = instances.path().join(crate::work::WORK);
        let name = format!("{}{HELD}", std::process::id());
        let mut list = Vec::new();
        for name in names {
            list.extend_from_slice(name.as_bytes());
            list.push(b'\n');
        }
        // The directory goes when it is left empty, maybe between our
        // look and our write: once more then.
        let mut tries = 0;
        loop {
            let work = crate::work::dir(&instances).map_err(|e| Error::sys("open", &shown, e))?;
            let at = work.join(&name);
            let _ = at.unlink();
            match at.write_new(&list, 0o600) {
                Err(nix::errno::Errno::ENOENT) if tries < 3 => tries += 1,
                Err(e) => return Err(Error::sys("write", &at, e)),
                Ok(()) => return Ok(Held { at, instances }),
            }
        }
    }

    /// Tell every instance to be up again, then drop the list.
    fn release(self, dirs: &[Loc]) {
        for dir in dirs {
            let _ = crate::supervise::command(dir, b"u");
        }
        let _ = self.at.unlink();
        crate::work::tidy(&self.instances);
    }
}

/// Bring up the instances that a killed restart left down, listed in
/// `.s6i-work/PID.up` files whose process is gone. `work` is the
/// directory `instances/.s6i-work`, already read: its entries are
/// `names`.
pub fn finish_killed(service: &Service, work: &Loc, names: &[OsString]) {
    for name in names {
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_suffix(HELD))
            .and_then(|p| p.parse().ok())
        else {
            continue;
        };
        if pid <= 0 || !crate::work::process_gone(pid) {
            continue;
        }
        let at = work.join(name);
        let Ok(list) = at.read(LIST_MAX) else { continue };
        for instance in list.split(|&b| b == b'\n').filter(|n| crate::name::check(n).is_ok()) {
            let _ = crate::supervise::command(&service.instance_dir(OsStr::from_bytes(instance)), b"u");
        }
        let _ = at.unlink();
    }
}

/// The most a list of instances held down may hold.
const LIST_MAX: usize = 1 << 20;

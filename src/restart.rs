//! Restarting instances without the second s6-supervise waits.
//!
//! After a service dies, s6-supervise starts it again only a second
//! later (unless it notified readiness more than a second before): its
//! guard against a crash loop, which makes `s6-svc -r` cost a second.
//! A restart that a command asks for is no crash, so it is done as a
//! down, a wait until down, then an up, which s6-supervise does at once.
//!
//! In between, the instances are wanted down. Each is put back as it
//! was: wanted up (`u`), or, run once (`s6-svc -o`: up, not wanted up),
//! run once more (`o`). A signal that asks us to stop (INT, TERM, HUP)
//! is read in the wait: they are put back, then the process dies of it.
//! Against any other death, each is a `hold NAME STATE` record in the
//! command's intent log (crate::journal) from before the down until
//! after it is put back: the next command that changes instances puts
//! back those of a dead command (crate::recover).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use crate::diag::{Error, EXIT_NOT_RUNNING, EXIT_SYS};
use crate::door::Loc;
use crate::layout::Service;
use crate::signals;
use crate::svwait::Watch;
use crate::wait::{WaitError, Waiter, Wake};

/// How an instance restarted was before, to be put back so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// Up and wanted up.
    WantedUp,
    /// Up and not wanted up: run once.
    Once,
}

impl Before {
    fn word(self) -> &'static [u8] {
        match self {
            Before::WantedUp => b"up",
            Before::Once => b"once",
        }
    }

    /// The s6-svc command that puts it back.
    pub fn command(self) -> &'static [u8] {
        match self {
            Before::WantedUp => b"u",
            Before::Once => b"o",
        }
    }
}

/// The instances `names` of `service`, all up, taken down then put back
/// as they were (`before`, one each).
/// Returns a watch on each, subscribed before the up, for the caller to
/// wait until they are up (or ready). Those not down by `deadline` are
/// named (exit 99), after every instance was told to be up again.
pub fn restart<'a>(
    service: &Service,
    names: &[&'a OsStr],
    before: &[Before],
    deadline: Option<Instant>,
) -> Result<Vec<(&'a OsStr, Watch)>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let dirs: Vec<Loc> = names.iter().map(|n| service.instance_dir(n)).collect();
    let downs = dirs.iter().map(Watch::start).collect::<Result<Vec<_>, _>>()?;
    let blocked = signals::block_interrupts().map_err(|e| Error::sys("block signals for", &service.instances(), e))?;
    let held = Held::write(service, names, before)?;
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
        Ok(()) if caught.is_none() => dirs.iter().map(Watch::start).collect::<Result<Vec<_>, _>>(),
        Ok(()) => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    held.release(&dirs);
    if let Some(sig) = caught {
        crate::journal::exit();
        crate::diag::warn(b"interrupted: the instances being restarted were put back as they were");
        signals::die_of(sig);
    }
    drop(blocked);
    if let Some(i) = down.iter().position(|&d| d == 2) {
        return Err(crate::svwait::failed_permanently(&dirs[i]).fatal(EXIT_NOT_RUNNING));
    }
    Ok(names.iter().copied().zip(ups?).collect())
}

/// The instances this process holds down, each a `hold` record in its
/// log.
struct Held<'n, 'a> {
    names: &'n [&'a OsStr],
    before: &'n [Before],
}

impl<'n, 'a> Held<'n, 'a> {
    /// Every record written before anything is taken down: a kill
    /// between two downs leaves each down one recorded.
    fn write(service: &Service, names: &'n [&'a OsStr], before: &'n [Before]) -> Result<Held<'n, 'a>, Error> {
        let instances = service.instances();
        for (name, b) in names.iter().zip(before) {
            crate::journal::open(&instances, "hold", name.as_bytes(), b.word())
                .map_err(|e| Error::sys("write the intent log in", &instances.join(crate::work::WORK), e))?;
        }
        Ok(Held { names, before })
    }

    /// Put every instance back as it was, closing its record.
    fn release(self, dirs: &[Loc]) {
        for ((dir, name), b) in dirs.iter().zip(self.names).zip(self.before) {
            let _ = crate::supervise::command(dir, b.command());
            crate::journal::close("hold", name.as_bytes());
        }
    }
}

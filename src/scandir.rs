//! A scan directory and its s6-svscan: `DIR/.s6-svscan/lock` says whether
//! the scanner runs, `DIR/.s6-svscan/control` takes its commands.

use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::diag::{Error, EXIT_SYS};
use crate::door::Loc;
use crate::{fifo, lock};

pub const CTLDIR: &str = ".s6-svscan";

pub fn lockfile(scandir: &Loc) -> Loc {
    scandir.join(CTLDIR).join("lock")
}

pub fn control_fifo(scandir: &Loc) -> Loc {
    scandir.join(CTLDIR).join("control")
}

/// Whether an s6-svscan runs on `scandir`. A missing lock file is an
/// error here, as in s6: the scanner has never run there.
fn is_running(scandir: &Loc) -> Result<bool, Error> {
    let lf = lockfile(scandir);
    lock::held(&lf).map_err(|e| Error::sys("open", lf.path(), e))
}

/// Send scanner commands (`a` rescan, `n` prune...). Nobody listening is
/// an error (ENXIO), unless the scanner holds its lock: it takes the lock
/// a moment before it opens its FIFO, so a scanner just started gets up
/// to a second to listen, waited for in the kernel (inotify tells when
/// something in its control directory is opened).
pub fn control(scandir: &Loc, cmd: &[u8]) -> Result<(), Error> {
    let path = control_fifo(scandir);
    let failed = |e| Error::sys("write to", path.path(), e);
    let mut waiter: Option<crate::wait::Waiter> = None;
    let give_up = Instant::now() + Duration::from_secs(1);
    loop {
        match fifo::send(&path, cmd) {
            Ok(true) => return Ok(()),
            // The lock is looked at once: opening it would wake the wait.
            Ok(false) if Instant::now() < give_up && (waiter.is_some() || is_running(scandir).unwrap_or(false)) => {
                match waiter.as_mut() {
                    // Watched first, then tried again: an open in between
                    // is not missed.
                    None => {
                        let mut w = crate::wait::Waiter::new().map_err(failed)?;
                        w.watch_opens(&scandir.join(CTLDIR)).map_err(failed)?;
                        waiter = Some(w);
                    }
                    Some(w) => match w.run(Some(give_up), None, |_| true) {
                        Ok(()) | Err(crate::wait::WaitError::Timeout) => {}
                        Err(crate::wait::WaitError::Sys(e)) => return Err(failed(e)),
                    },
                }
            }
            Ok(false) => return Err(Error::sys_code(EXIT_SYS, "write to", path.path(), Errno::ENXIO)),
            Err(e) => return Err(failed(e)),
        }
    }
}

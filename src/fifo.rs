//! Command FIFOs (`supervise/control`, `.s6-svscan/control`): a writer
//! opens without blocking, so that nobody listening is an answer (ENXIO),
//! not a hang. A reader can also go away between our open and our write
//! (a supervisor that the scanner has just told to exit): that is the
//! same answer (EPIPE), not a death by SIGPIPE in the middle of a chain.

use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::stat::Mode;

/// Write `cmd` to the FIFO at `path`. Ok(false) when nobody listens.
pub fn send(path: &Path, cmd: &[u8]) -> Result<bool, Errno> {
    let fd = match open(
        path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENXIO) => return Ok(false),
        Err(e) => return Err(e),
    };
    // SIGPIPE is ignored for this one write, then given back exactly the
    // disposition the step received (or a listener set), which is what
    // the next program must get.
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no handler; the old action is put back as
    // it was.
    let old = unsafe { sigaction(Signal::SIGPIPE, &ignore) };
    let written = nix::unistd::write(&fd, cmd);
    if let Ok(old) = old {
        let _ = unsafe { sigaction(Signal::SIGPIPE, &old) };
    }
    match written {
        Ok(n) if n < cmd.len() => Err(Errno::EAGAIN),
        Ok(_) => Ok(true),
        Err(Errno::EPIPE) => Ok(false),
        Err(e) => Err(e),
    }
}

//! Command FIFOs (`supervise/control`, `.s6-svscan/control`): a writer
//! opens without blocking, so that nobody listening is an answer (ENXIO),
//! not a hang. A reader can also go away between our open and our write
//! (a supervisor that the scanner has just told to exit): that is the
//! same answer (EPIPE), not a death by SIGPIPE in the middle of a chain
//! (`signals::ignoring_sigpipe`).

use nix::errno::Errno;
use std::os::fd::OwnedFd;

use crate::door::Loc;

/// Open the FIFO at `fifo` for writing, without blocking: None when
/// nobody reads it (ENXIO). Nothing on the way is a link followed
/// (`supervise` in an instance belongs to the instance's user, who could
/// swap it for a link to anywhere), and anything but a FIFO there counts
/// as no listener, so that nothing is ever written into a file.
pub fn open_writer(fifo: &Loc) -> Result<Option<OwnedFd>, Errno> {
    match fifo.open_fifo_writer() {
        Err(crate::door::NOT_REGULAR) => Ok(None),
        r => r,
    }
}

/// Write `cmd` to the FIFO at `path`. Ok(false) when nobody listens.
pub fn send(path: &Loc, cmd: &[u8]) -> Result<bool, Errno> {
    let Some(fd) = open_writer(path)? else {
        return Ok(false);
    };
    // Not a death by SIGPIPE: the disposition the step received (or a
    // listener set) is put back after the write, for the next program.
    let written = crate::signals::ignoring_sigpipe(|| nix::unistd::write(&fd, cmd));
    match written {
        Ok(n) if n < cmd.len() => Err(Errno::EAGAIN),
        Ok(_) => Ok(true),
        Err(Errno::EPIPE) => Ok(false),
        Err(e) => Err(e),
    }
}

//! Command FIFOs (`supervise/control`, `.s6-svscan/control`): a writer
//! opens without blocking, so that nobody listening is an answer (ENXIO),
//! not a hang.

use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
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
    let n = nix::unistd::write(&fd, cmd)?;
    if n < cmd.len() {
        return Err(Errno::EAGAIN);
    }
    Ok(true)
}

//! Command FIFOs (`supervise/control`, `.s6-svscan/control`): a writer
//! opens without blocking, so that nobody listening is an answer (ENXIO),
//! not a hang. A reader can also go away between our open and our write
//! (a supervisor that the scanner has just told to exit): that is the
//! same answer (EPIPE), not a death by SIGPIPE in the middle of a chain
//! (`signals::ignoring_sigpipe`).

use std::path::Path;

use nix::errno::Errno;
use std::os::fd::OwnedFd;

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;

/// Open the FIFO at `path` for writing, without blocking: None when
/// nobody reads it (ENXIO). Neither the FIFO nor the directory that
/// holds it is reached through a symlink (`supervise` in an instance
/// belongs to the instance's user, who could swap it for a link to
/// anywhere), and anything but a FIFO there counts as no listener, so
/// that nothing is ever written into a file.
pub fn open_writer(path: &Path) -> Result<Option<OwnedFd>, Errno> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or(Errno::EINVAL)?;
    // O_PATH: a directory one may only search (a supervise/ that
    // s6-svperms opened to a group) is reached as by a plain path.
    let dir = open(
        parent,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| if e == Errno::ELOOP { Errno::ENOTDIR } else { e })?;
    let fd = match openat(
        &dir,
        name,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENXIO) => return Ok(None),
        Err(e) => return Err(e),
    };
    let is_fifo = nix::sys::stat::fstat(&fd)?.st_mode & libc::S_IFMT == libc::S_IFIFO;
    Ok(is_fifo.then_some(fd))
}

/// Write `cmd` to the FIFO at `path`. Ok(false) when nobody listens.
pub fn send(path: &Path, cmd: &[u8]) -> Result<bool, Errno> {
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

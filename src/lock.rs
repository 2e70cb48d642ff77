//! "Is it running?" s6-svscan and s6-supervise hold an fcntl record lock
//! on their `lock` file for as long as they live. Asking F_GETLK for a
//! read lock over the whole file tells whether someone holds it. This is
//! not flock(2), which does not see fcntl locks.

use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

/// Whether a process holds a lock on `lockfile`. Errors (ENOENT included)
/// are the caller's to interpret.
pub fn held(lockfile: &Path) -> Result<bool, Errno> {
    let fd = open(lockfile, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_RDLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    // SAFETY: fl is a valid flock struct and fd an open descriptor.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r == -1 {
        return Err(Errno::last());
    }
    Ok(fl.l_type != libc::F_UNLCK as _)
}

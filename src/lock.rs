//! Locks. "Is it running?" s6-svscan and s6-supervise hold an fcntl
//! record lock on their `lock` file for as long as they live. Asking
//! F_GETLK for a read lock over the whole file tells whether someone
//! holds it; flock(2) would not see it. Among themselves, our steps use
//! flock(2) on files in the root-only `.s6i-work` (see `crate::work`),
//! which no other user can open, so none can hold us up.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;

use crate::door::Loc;

/// Whether a process holds a lock on `lockfile`. Errors (ENOENT included)
/// are the caller's to interpret.
pub fn held(lockfile: &Loc) -> Result<bool, Errno> {
    held_on(&open(lockfile)?)
}

/// Open a lock file to ask about it later: the answer is then about that
/// file, whatever is renamed or made anew at its path meanwhile. A FIFO
/// or a link planted there is refused, not waited on or followed.
pub fn open(lockfile: &Loc) -> Result<OwnedFd, Errno> {
    lockfile.open_lock()
}

/// Whether a process holds a lock on the open lock file `fd`.
pub fn held_on(fd: &OwnedFd) -> Result<bool, Errno> {
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

/// flock(2) with `how` (LOCK_SH, LOCK_EX, with LOCK_NB or not) on the
/// open `fd`, tried again when a signal interrupts it. Only for locks
/// nobody but our own commands can open (see `crate::work`), as a
/// blocking one waits for whoever holds it.
pub fn flock(fd: &OwnedFd, how: libc::c_int) -> Result<(), Errno> {
    loop {
        // SAFETY: fd is an open descriptor.
        match unsafe { libc::flock(fd.as_raw_fd(), how) } {
            0 => return Ok(()),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(Errno::last()),
        }
    }
}

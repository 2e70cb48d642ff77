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

/// Take a shared flock(2) on the open directory `fd`, blocking while
/// someone holds it exclusively; it lasts as long as the descriptor.
/// Whether it was taken (a file system without flock says no).
pub fn shared_on(fd: &OwnedFd) -> bool {
    loop {
        // SAFETY: fd is an open descriptor.
        match unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_SH) } {
            0 => return true,
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return false,
        }
    }
}

/// Take an exclusive flock(2) on the open `fd`, blocking until it is
/// free. Only for locks nobody but our own commands can open (see
/// leftovers::workdir): nothing else can hold them.
pub fn exclusive_on(fd: &OwnedFd) -> Result<(), Errno> {
    loop {
        // SAFETY: fd is an open descriptor.
        match unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) } {
            0 => return Ok(()),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(Errno::last()),
        }
    }
}

/// Let go of a flock(2) taken on `fd`, which stays open.
pub fn unlock(fd: &OwnedFd) {
    // SAFETY: fd is an open descriptor.
    unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) };
}

//! `SV/instances/.s6i-work`: the directory of our own marks and locks,
//! in a directory that another user may own (the maker's `-u`). It is
//! made mode 0700 by the command's user, and checked on its descriptor
//! at each use: a link, anything but a directory, another owner or a
//! wider mode is never used (EPERM to a reader; one about to work there
//! renames it aside, removes it without following anything in it, and
//! makes its own). Nobody else can then open what it holds: a lock in it
//! cannot be taken by another user to stall us, nor a mark in it read or
//! planted. Commands of two users on one service each take it over in
//! turn: such a service is meant to be run by one of them.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::door::Loc;

/// Its name, in `instances/`.
pub const WORK: &str = ".s6i-work";

/// `.s6i-work`, made if missing (or not ours: see the top of this
/// file), checked, and reached from now on through its descriptor.
pub fn dir(instances: &Loc) -> Result<Loc, Errno> {
    let at = instances.join(WORK);
    for _ in 0..3 {
        match at.mkdir(0o700) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        match existing(instances) {
            Ok(Some(work)) => return Ok(work),
            Ok(None) => {}
            // Another user's: aside, and removed if we may (root may; a
            // user leaves root's to the next sweep of root's).
            Err(Errno::EPERM | Errno::EACCES) => {
                let mut name = format!(".s6i-remove:{}:", std::process::id()).into_bytes();
                name.extend_from_slice(&crate::random::suffix());
                let aside = instances.join(std::ffi::OsStr::from_bytes(&name));
                match at.rename(&aside) {
                    Ok(()) => {
                        let _ = aside.remove_tree();
                    }
                    Err(Errno::ENOENT) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EPERM)
}

/// `.s6i-work` if it is there (checked as `dir` does).
pub fn existing(instances: &Loc) -> Result<Option<Loc>, Errno> {
    let at = instances.join(WORK);
    let fd = match at.open_dir() {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP | Errno::ENOTDIR) => return Err(Errno::EPERM),
        Err(e) => return Err(e),
    };
    let st = nix::sys::stat::fstat(&fd)?;
    if st.st_uid != nix::unistd::geteuid().as_raw() || st.st_mode & 0o077 != 0 {
        return Err(Errno::EPERM);
    }
    Ok(Some(Loc::on(fd, at.path())))
}

/// The lock file `name` in `.s6i-work`, open (made if missing), for a
/// flock(2) of our commands among themselves.
pub fn lock_file(instances: &Loc, name: &str) -> Result<OwnedFd, Errno> {
    let at = dir(instances)?.join(name);
    match at.open(OFlag::O_RDONLY) {
        Err(Errno::ENOENT) => match at.create(0o600) {
            Err(Errno::EEXIST) => at.open(OFlag::O_RDONLY),
            r => r.and_then(|_| at.open(OFlag::O_RDONLY)),
        },
        r => r,
    }
}

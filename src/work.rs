//! `SV/instances/.s6i-work`: the directory of our own marks and locks,
//! in a directory that another user may own (the maker's `-u`). It is
//! made mode 0700 by the command's user, and checked on its descriptor
//! at each use: a link, anything but a directory, another owner or a
//! wider mode is never used (EPERM to a reader; one about to work there
//! renames it aside, removes it without following anything in it, and
//! makes its own). Nobody else can then open what it holds: a lock in it
//! cannot be taken by another user to stall us, nor a mark in it read or
//! planted. Commands of two users on one service each take it over in
//! turn: such a service is meant to be run by one of them. It is there
//! only while a command works: the last one out removes it.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use crate::door::Loc;

/// Its name, in `instances/`.
pub const WORK: &str = ".s6i-work";

/// `.s6i-work`, made if missing (or not ours: see the top of this
/// file), checked, and reached from now on through its descriptor.
pub fn dir(instances: &Loc) -> Result<Loc, Errno> {
    let at = instances.join(WORK);
    // Gone again between our mkdir and our open (the last command out
    // removes it when it is empty; many at once may do so in turn):
    // made again, as often as that takes, within reason.
    for _ in 0..64 {
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
                let mut name = format!(".s6i-remove:{}:", crate::random::token()).into_bytes();
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

/// A flock(2) on `.s6i-work` itself, held while this lives: how our
/// commands keep out of each other's way (a link and a removal of one
/// name, a template swap and the copies of the old template). Nobody
/// else can open the directory, so nobody else can hold it. When it
/// goes, so does `.s6i-work`, if it is left empty (see `tidy`).
pub struct Lock {
    fd: Option<OwnedFd>,
    instances: Loc,
}

impl Drop for Lock {
    fn drop(&mut self) {
        drop(self.fd.take());
        tidy(&self.instances);
    }
}

/// Take the lock, shared or exclusive, waiting for it (only our own
/// commands can hold it, for a few system calls or one copy). A
/// directory removed by `tidy` between our open and our lock is not the
/// one to hold: made again, and locked again.
pub fn lock(instances: &Loc, exclusive: bool) -> Result<Lock, Errno> {
    let how = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
    for _ in 0..16 {
        let fd = dir(instances)?.open_dir()?;
        crate::lock::flock(&fd, how)?;
        if still_there(instances, &fd) {
            return Ok(Lock {
                fd: Some(fd),
                instances: instances.clone(),
            });
        }
    }
    Err(Errno::EAGAIN)
}

/// Whether `.s6i-work` is still the directory open at `fd`.
fn still_there(instances: &Loc, fd: &OwnedFd) -> bool {
    let (Ok(named), Ok(held)) = (instances.join(WORK).stat(), nix::sys::stat::fstat(fd)) else {
        return false;
    };
    (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
}

/// Whether this process keeps a file in `.s6i-work` (its intent log):
/// the directory is not empty, and `tidy` need not look.
static OCCUPIED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Say whether this process keeps a file in `.s6i-work` (see crate::journal).
pub fn occupy(keeps: bool) {
    OCCUPIED.store(keeps, std::sync::atomic::Ordering::SeqCst);
}

/// Remove `.s6i-work` if it is empty and no command holds its lock (the
/// lock is taken, without waiting, for the removal): `instances/` holds
/// nothing of ours at rest.
pub fn tidy(instances: &Loc) {
    if OCCUPIED.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Ok(Some(work)) = existing(instances) else {
        return;
    };
    let Ok(fd) = work.open_dir() else {
        return;
    };
    if crate::lock::flock(&fd, libc::LOCK_EX | libc::LOCK_NB).is_ok() && still_there(instances, &fd) {
        let _ = instances.join(WORK).rmdir();
    }
}

//! Fifodirs: the `event/` directory where s6-supervise announces what
//! happens, one byte per event, to every FIFO named
//! `ftrig1:@<24 hex digits>:<6 characters>` it finds there.
//!
//! A listener makes its FIFO under a dotted name, opens it for reading
//! and once for writing (so it never sees end of file), then renames it
//! into place. Subscribe first, act, check the state, then wait: no event
//! is lost that way. The FIFO is removed when the listener is dropped,
//! or by a handler of `signals` when a fatal signal ends the step.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode};
use nix::unistd::{getegid, geteuid, mkfifoat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::door::Loc;

/// Make (or, with `force`, fix) a fifodir: mode 03730, group-owned by
/// our effective group, or public (01733) for anyone to subscribe. With
/// `owner` (the user the supervisor runs as, when not us: the maker's
/// `-u`), it is that user's, with that user's group, mode 03730: the
/// supervisor must read it to announce, and we, root, reach it anyway.
/// One already there is left alone when it is a directory of ours or of
/// `owner`'s; a link or anything else is refused, never followed.
pub fn make(dir: &Loc, public: bool, force: bool, owner: Option<(u32, u32)>) -> Result<(), Errno> {
    match dir.mkdir(0o700) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            let st = dir.stat()?;
            if crate::door::kind(&st) != nix::sys::stat::SFlag::S_IFDIR {
                return Err(Errno::ENOTDIR);
            }
            let ours = st.st_uid == geteuid().as_raw() || owner.is_some_and(|(uid, _)| uid == st.st_uid);
            if !ours {
                return Err(Errno::EACCES);
            }
            if !force {
                return Ok(());
            }
        }
        Err(e) => return Err(e),
    }
    // Owner and mode are changed through one descriptor of the directory
    // itself, never through a path something could swap in between.
    let fd = dir.open_dir()?;
    let st = fstat(&fd)?;
    let (uid, gid) = owner.unwrap_or((st.st_uid, getegid().as_raw()));
    if st.st_uid != uid && st.st_uid != geteuid().as_raw() {
        return Err(Errno::EACCES);
    }
    if !public || owner.is_some() {
        nix::unistd::fchown(&fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    }
    let mode = if public { 0o1733 } else { 0o3730 };
    nix::sys::stat::fchmod(&fd, Mode::from_bits_retain(mode))
}

/// Options of the event fifodir a step makes (`-P`, `-f`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventDir {
    pub public: bool,
    pub force: bool,
}

/// One subscription to a fifodir: the directory, open, and our FIFO in
/// it, reached through that descriptor only.
pub struct Listener {
    dir: OwnedFd,
    name: Vec<u8>,
    fd: OwnedFd,
    _keepalive: OwnedFd,
    slot: Option<usize>,
}

/// A TAI64N label: `@` and 24 hex digits.
fn tai64n_label() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "@{:016x}{:08x}",
        0x4000_0000_0000_000a_u64 + now.as_secs(),
        now.subsec_nanos()
    )
}

impl Listener {
    /// Subscribe to `eventdir`: a real directory, whoever owns it (the
    /// user of a `-u` service does), opened without following a link;
    /// everything after is done through that descriptor.
    pub fn subscribe(eventdir: &Loc) -> Result<Listener, Errno> {
        // O_PATH: a listener needs to write and search there, not read
        // (a fifodir is 03730: its group may subscribe, not list).
        let dir = eventdir.open(OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        loop {
            let mut name = format!("ftrig1:{}:", tai64n_label()).into_bytes();
            name.extend_from_slice(&crate::random::suffix());
            let tmp = [b".", &name[..]].concat();
            // Both names are known to the signal handler before the FIFO
            // exists under either: a signal at any point removes it.
            let (tmp_slot, slot) = (
                crate::signals::remove_on_signal(dir.as_fd(), &tmp),
                crate::signals::remove_on_signal(dir.as_fd(), &name),
            );
            let forget = || {
                crate::signals::forget_removal(tmp_slot);
                crate::signals::forget_removal(slot);
            };
            // s6's mode: the supervisor may run as another user than the
            // listener, and must be able to write to the FIFO.
            let old = nix::sys::stat::umask(Mode::empty());
            let made = mkfifoat(&dir, OsStr::from_bytes(&tmp), Mode::from_bits_retain(0o622));
            nix::sys::stat::umask(old);
            match made {
                Ok(()) => {}
                Err(Errno::EEXIST) => {
                    forget();
                    continue;
                }
                Err(e) => {
                    forget();
                    return Err(e);
                }
            }
            let opened = open_both(&dir, OsStr::from_bytes(&tmp)).and_then(|fds| {
                nix::fcntl::renameat(&dir, OsStr::from_bytes(&tmp), &dir, OsStr::from_bytes(&name)).map(|()| fds)
            });
            return match opened {
                Ok((fd, w)) => {
                    crate::signals::forget_removal(tmp_slot);
                    Ok(Listener {
                        dir,
                        name,
                        fd,
                        _keepalive: w,
                        slot,
                    })
                }
                Err(e) => {
                    let _ = unlinkat(&dir, OsStr::from_bytes(&tmp), UnlinkatFlags::NoRemoveDir);
                    forget();
                    Err(e)
                }
            };
        }
    }

    /// The reading end, for a wait.
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Read the events that arrived, without blocking.
    pub(crate) fn drain(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        match nix::unistd::read(&self.fd, buf) {
            Err(Errno::EAGAIN) => Ok(0),
            r => r,
        }
    }
}

/// The reading end, then a writing end held so that the reader never sees
/// end of file when s6-supervise closes its own: both of the FIFO just
/// made as `name` in `dir`, checked to be that FIFO (the directory may be
/// another user's, who could swap the name in between).
fn open_both(dir: &OwnedFd, name: &OsStr) -> Result<(OwnedFd, OwnedFd), Errno> {
    let made = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let flags = OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let r = openat(dir, name, OFlag::O_RDONLY | flags, Mode::empty())?;
    let w = openat(dir, name, OFlag::O_WRONLY | flags, Mode::empty())?;
    for fd in [&r, &w] {
        let st = fstat(fd)?;
        if (st.st_dev, st.st_ino) != (made.st_dev, made.st_ino)
            || crate::door::kind(&st) != nix::sys::stat::SFlag::S_IFIFO
        {
            return Err(crate::door::NOT_REGULAR);
        }
    }
    Ok((r, w))
}

impl Drop for Listener {
    fn drop(&mut self) {
        crate::signals::forget_removal(self.slot);
        let _ = unlinkat(&self.dir, OsStr::from_bytes(&self.name), UnlinkatFlags::NoRemoveDir);
    }
}

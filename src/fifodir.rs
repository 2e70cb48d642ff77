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
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{getegid, getuid, mkdir, mkfifo};

/// Make (or, with `force`, fix) a fifodir. Owned by our effective group
/// with mode 03730, or public (01733) for anyone to subscribe.
pub fn make(dir: &Path, public: bool, force: bool) -> Result<(), Errno> {
    let old = umask(Mode::empty());
    let made = mkdir(dir, Mode::S_IRWXU);
    umask(old);
    match made {
        Ok(()) => {}
        Err(Errno::EEXIST) if !force => {
            // Left as it is, once we know it is a directory of ours; a
            // symlink is not a fifodir.
            let md = std::fs::symlink_metadata(dir).map_err(|e| crate::diag::errno_of(&e))?;
            return if md.uid() != getuid().as_raw() {
                Err(Errno::EACCES)
            } else if !md.is_dir() {
                Err(Errno::ENOTDIR)
            } else {
                Ok(())
            };
        }
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    // Owner and mode are checked and changed through one descriptor of
    // the directory itself, never through a path that something could
    // swap for a symlink in between. O_NOFOLLOW on a symlink: ELOOP.
    let fd = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| if e == Errno::ELOOP { Errno::ENOTDIR } else { e })?;
    if nix::sys::stat::fstat(&fd)?.st_uid != getuid().as_raw() {
        return Err(Errno::EACCES);
    }
    if !public {
        nix::unistd::fchown(&fd, None, Some(getegid()))?;
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

/// One subscription to a fifodir.
pub struct Listener {
    path: PathBuf,
    fd: OwnedFd,
    _keepalive: OwnedFd,
    slot: Option<usize>,
}

use crate::wait::WaitError;

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
    /// Subscribe to `eventdir`.
    pub fn subscribe(eventdir: &Path) -> Result<Listener, Errno> {
        loop {
            let mut name = format!("ftrig1:{}:", tai64n_label()).into_bytes();
            name.extend_from_slice(&crate::random::suffix());
            let path = eventdir.join(OsStr::from_bytes(&name));
            let tmp = eventdir.join(OsStr::from_bytes(&[b".", &name[..]].concat()));
            // Both names are known to the signal handler before the FIFO
            // exists under either: a signal at any point removes it.
            let (tmp_slot, slot) = (
                crate::signals::remove_on_signal(&tmp),
                crate::signals::remove_on_signal(&path),
            );
            // s6's mode: the supervisor may run as another user than the
            // listener, and must be able to write to the FIFO.
            let old = umask(Mode::empty());
            let made = mkfifo(&tmp, Mode::S_IRUSR | Mode::S_IWUSR | Mode::S_IWGRP | Mode::S_IWOTH);
            umask(old);
            match made {
                Ok(()) => {}
                Err(e) => {
                    crate::signals::forget_removal(tmp_slot);
                    crate::signals::forget_removal(slot);
                    match e {
                        Errno::EEXIST => continue,
                        e => return Err(e),
                    }
                }
            }
            let opened = open_both(&tmp).and_then(|fds| {
                std::fs::rename(&tmp, &path)
                    .map(|()| fds)
                    .map_err(|e| crate::diag::errno_of(&e))
            });
            return match opened {
                Ok((fd, w)) => {
                    crate::signals::forget_removal(tmp_slot);
                    Ok(Listener {
                        path,
                        fd,
                        _keepalive: w,
                        slot,
                    })
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    crate::signals::forget_removal(tmp_slot);
                    crate::signals::forget_removal(slot);
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
/// end of file when s6-supervise closes its own.
fn open_both(fifo: &Path) -> Result<(OwnedFd, OwnedFd), Errno> {
    let r = open(
        fifo,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let w = open(fifo, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok((r, w))
}

impl Drop for Listener {
    fn drop(&mut self) {
        crate::signals::forget_removal(self.slot);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Wait on several listeners until `event(index, byte)` says the wait is
/// over (returns true), or until `deadline`. Every byte read is passed to
/// `event`, those after the one that ended the wait included.
pub fn wait(
    listeners: &[&Listener],
    deadline: Option<Instant>,
    event: impl FnMut(usize, u8) -> bool,
) -> Result<(), WaitError> {
    wait_or(listeners, deadline, None, || false, event)
}

/// `wait`, and every `period` without events, ask `idle` whether the
/// wait is over anyway.
pub fn wait_or(
    listeners: &[&Listener],
    deadline: Option<Instant>,
    period: Option<Duration>,
    mut idle: impl FnMut() -> bool,
    mut event: impl FnMut(usize, u8) -> bool,
) -> Result<(), WaitError> {
    let mut waiter = crate::wait::Waiter::new().map_err(WaitError::Sys)?;
    for l in listeners {
        waiter.listen(l).map_err(WaitError::Sys)?;
    }
    let period = period.map(std::cell::Cell::new);
    waiter.run(deadline, period.as_ref(), |wake| match wake {
        crate::wait::Wake::Event(i, b) => event(i, b),
        crate::wait::Wake::Idle => idle(),
        _ => false,
    })
}

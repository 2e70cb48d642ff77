//! Fifodirs: the `event/` directory where s6-supervise announces what
//! happens, one byte per event, to every FIFO named
//! `ftrig1:@<24 hex digits>:<6 characters>` it finds there.
//!
//! A listener makes its FIFO under a dotted name, opens it for reading
//! and once for writing (so it never sees end of file), then renames it
//! into place. Subscribe first, act, check the state, then wait: no event
//! is lost that way. The FIFO is removed when the listener is dropped.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{chown, getegid, getuid, mkdir, mkfifo};

/// Make (or, with `force`, fix) a fifodir. Owned by our effective group
/// with mode 03730, or public (01733) for anyone to subscribe.
pub fn make(dir: &Path, public: bool, force: bool) -> Result<(), Errno> {
    let old = umask(Mode::empty());
    let made = mkdir(dir, Mode::S_IRWXU);
    umask(old);
    if let Err(e) = made {
        if e != Errno::EEXIST {
            return Err(e);
        }
        let md = std::fs::metadata(dir).map_err(|e| crate::diag::errno_of(&e))?;
        if md.uid() != getuid().as_raw() {
            return Err(Errno::EACCES);
        }
        if !md.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !force {
            return Ok(());
        }
    }
    if !public {
        chown(dir, None, Some(getegid()))?;
    }
    let mode = if public { 0o1733 } else { 0o3730 };
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        dir,
        Mode::from_bits_retain(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// One subscription to a fifodir.
pub struct Listener {
    path: PathBuf,
    fd: OwnedFd,
    _keepalive: OwnedFd,
}

/// Why a wait ended without what it waited for.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    Timeout,
    Sys(Errno),
}

/// Six random characters from a file-name-safe alphabet.
pub fn random_suffix() -> [u8; 6] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 6];
    // SAFETY: raw is a valid 6-byte buffer.
    let n = unsafe { libc::getrandom(raw.as_mut_ptr().cast(), raw.len(), 0) };
    if n != raw.len() as isize {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mix = t as u64 ^ ((std::process::id() as u64) << 32);
        raw = mix.to_le_bytes()[..6].try_into().unwrap_or_default();
    }
    raw.map(|b| ALPHABET[(b & 63) as usize])
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
    /// Subscribe to `eventdir`.
    pub fn subscribe(eventdir: &Path) -> Result<Listener, Errno> {
        loop {
            let base = format!("ftrig1:{}:", tai64n_label());
            let mut name = base.into_bytes();
            name.extend_from_slice(&random_suffix());
            let mut dotted = b".".to_vec();
            dotted.extend_from_slice(&name);
            let path = eventdir.join(std::ffi::OsStr::from_bytes(&name));
            let tmp = eventdir.join(std::ffi::OsStr::from_bytes(&dotted));
            match mkfifo(&tmp, Mode::S_IRUSR | Mode::S_IWUSR) {
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            let opened = open(
                &tmp,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .and_then(|fd| Ok((fd, open(&tmp, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?)))
            .and_then(|fds| {
                std::fs::rename(&tmp, &path)
                    .map(|()| fds)
                    .map_err(|e| crate::diag::errno_of(&e))
            });
            return match opened {
                Ok((fd, w)) => Ok(Listener {
                    path,
                    fd,
                    _keepalive: w,
                }),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(e)
                }
            };
        }
    }

    /// Read the events that arrived, without blocking.
    fn drain(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        match nix::unistd::read(&self.fd, buf) {
            Err(Errno::EAGAIN) => Ok(0),
            r => r,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Wait on several listeners until `event(index, byte)` says the wait is
/// over (returns true), or until `deadline`.
pub fn wait(
    listeners: &[&Listener],
    deadline: Option<Instant>,
    mut event: impl FnMut(usize, u8) -> bool,
) -> Result<(), WaitError> {
    let mut buf = [0u8; 64];
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(WaitError::Timeout);
                }
                PollTimeout::try_from(left.as_millis().clamp(1, i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds: Vec<PollFd> = listeners
            .iter()
            .map(|l| PollFd::new(l.fd.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, timeout) {
            Err(Errno::EINTR) | Ok(0) => continue,
            Err(e) => return Err(WaitError::Sys(e)),
            Ok(_) => {}
        }
        let ready: Vec<usize> = (0..fds.len())
            .filter(|&i| fds[i].revents().is_some_and(|r| !r.is_empty()))
            .collect();
        for i in ready {
            let n = listeners[i].drain(&mut buf).map_err(WaitError::Sys)?;
            for &b in &buf[..n] {
                if event(i, b) {
                    return Ok(());
                }
            }
        }
    }
}

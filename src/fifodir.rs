//! Fifodirs: the `event/` directory where s6-supervise announces what
//! happens, one byte per event, to every FIFO named
//! `ftrig1:@<24 hex digits>:<6 characters>` it finds there.
//!
//! A listener makes its FIFO under a dotted name, opens it for reading
//! and once for writing (so it never sees end of file), then renames it
//! into place. Subscribe first, act, check the state, then wait: no event
//! is lost that way. The FIFO is removed when the listener is dropped.

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
            let (tmp_slot, slot) = (cleanup::register(&tmp), cleanup::register(&path));
            // s6's mode: the supervisor may run as another user than the
            // listener, and must be able to write to the FIFO.
            let old = umask(Mode::empty());
            let made = mkfifo(&tmp, Mode::S_IRUSR | Mode::S_IWUSR | Mode::S_IWGRP | Mode::S_IWOTH);
            umask(old);
            match made {
                Ok(()) => {}
                Err(e) => {
                    cleanup::unregister(tmp_slot);
                    cleanup::unregister(slot);
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
                    cleanup::unregister(tmp_slot);
                    Ok(Listener {
                        path,
                        fd,
                        _keepalive: w,
                        slot,
                    })
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    cleanup::unregister(tmp_slot);
                    cleanup::unregister(slot);
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
        cleanup::unregister(self.slot);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Give the signals caught for listeners back their default actions,
/// once no listener is left: as an exec would, when a chain goes on
/// in-process.
pub fn forget_signal_handlers() {
    cleanup::uninstall();
}

/// Listener FIFOs must not outlive a step killed by a signal while it
/// waits. Their paths are kept where a signal handler can reach them
/// without locking; the handler unlinks them (unlink is
/// async-signal-safe), then dies of the same signal. Only signals whose
/// default action is to end the process are caught, and only those the
/// step did not inherit ignored: an ignored signal stays ignored, as it
/// would through an exec (a background job of a shell has SIGINT
/// ignored, and must keep ignoring it). SIGKILL cannot be caught.
mod cleanup {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::null_mut;
    use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

    const SLOTS: usize = 4096;
    static LIVE: [AtomicPtr<libc::c_char>; SLOTS] = [const { AtomicPtr::new(null_mut()) }; SLOTS];
    /// One bit per signal number that we caught (they were at SIG_DFL).
    static CAUGHT: AtomicU64 = AtomicU64::new(0);
    /// Whether the handlers have been set up since the last uninstall.
    static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// The catchable signals whose default action ends the process.
    fn fatal_signals() -> impl Iterator<Item = libc::c_int> {
        [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGABRT,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGUSR1,
            libc::SIGSEGV,
            libc::SIGUSR2,
            libc::SIGPIPE,
            libc::SIGALRM,
            libc::SIGTERM,
            libc::SIGSTKFLT,
            libc::SIGXCPU,
            libc::SIGXFSZ,
            libc::SIGVTALRM,
            libc::SIGPROF,
            libc::SIGIO,
            libc::SIGPWR,
            libc::SIGSYS,
        ]
        .into_iter()
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
        .filter(|&sig| (1..=64).contains(&sig))
    }

    fn bit(sig: libc::c_int) -> u64 {
        1u64 << (sig - 1)
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        for slot in &LIVE {
            let p = slot.swap(null_mut(), Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: p is a NUL-terminated path leaked by register.
                unsafe { libc::unlink(p) };
            }
        }
        // SAFETY: restoring the default action and raising are
        // async-signal-safe. The signal is blocked while we handle it, so
        // it is delivered, with its default action, when we return.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    /// Catch every fatal signal that is at its default action.
    fn install() {
        // SAFETY: plain sigaction calls on zeroed, then filled, structs;
        // on_signal only calls async-signal-safe functions.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut act.sa_mask);
            for sig in fatal_signals() {
                libc::sigaddset(&mut act.sa_mask, sig);
            }
            // One call per signal sets ours and reads what was there; one
            // that was not the default (ignored, say) gets it back. Blocked
            // meanwhile, a signal cannot reach our handler in between: it
            // waits, and is dropped if it is ignored again.
            let mut blocked = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_BLOCK, &act.sa_mask, &mut blocked);
            let mut caught = 0;
            for sig in fatal_signals() {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &act, &mut old) == 0 {
                    if old.sa_sigaction == libc::SIG_DFL {
                        caught |= bit(sig);
                    } else {
                        libc::sigaction(sig, &old, std::ptr::null_mut());
                    }
                }
            }
            CAUGHT.store(caught, Ordering::SeqCst);
            libc::sigprocmask(libc::SIG_SETMASK, &blocked, std::ptr::null_mut());
        }
    }

    /// Remember `path` for the handler (None if every slot is taken: the
    /// FIFO is then only removed on a normal exit).
    pub fn register(path: &Path) -> Option<usize> {
        if !INSTALLED.swap(true, Ordering::SeqCst) {
            install();
        }
        let c = CString::new(path.as_os_str().as_bytes()).ok()?.into_raw();
        for (i, slot) in LIVE.iter().enumerate() {
            if slot
                .compare_exchange(null_mut(), c, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Some(i);
            }
        }
        // SAFETY: c came from into_raw just above.
        drop(unsafe { CString::from_raw(c) });
        None
    }

    /// Give back the default action of every signal we caught: exactly
    /// what the step found, as after an exec.
    pub fn uninstall() {
        if INSTALLED.swap(false, Ordering::SeqCst) {
            let caught = CAUGHT.swap(0, Ordering::SeqCst);
            for sig in fatal_signals().filter(|&s| caught & bit(s) != 0) {
                // SAFETY: SIG_DFL installs no handler.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
    }

    pub fn unregister(slot: Option<usize>) {
        if let Some(i) = slot {
            let p = LIVE[i].swap(null_mut(), Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: p came from into_raw in register.
                drop(unsafe { CString::from_raw(p) });
            }
        }
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

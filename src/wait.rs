//! Waiting, in one place: every wait of a step sleeps in epoll until
//! something it watches happens or the caller's deadline passes. What a
//! wait can watch:
//!
//! - events of supervisors, read from our FIFOs in their fifodirs
//!   (`fifodir::Listener`);
//! - a process that listens on a control FIFO (an s6-supervise on
//!   `supervise/control`, an s6-svscan on `.s6-svscan/control`) going
//!   away: we hold the FIFO open for writing, and the kernel reports an
//!   error on our end once the last reader has closed its own, which
//!   happens when that process exits, however it dies. Nothing is
//!   written to the FIFO, and nothing is made on disk, so this works on
//!   a full filesystem too;
//! - entries of a directory removed or renamed (inotify), for a wait on
//!   an instance that a delete may take away;
//! - SIGINT, SIGTERM and SIGHUP (a signalfd, while
//!   `signals::block_interrupts` holds them), for a wait that must undo
//!   its work when it is interrupted.
//!
//! A wait can also wake up every so often with nothing new (`period`),
//! for a caller that must nudge another process (a scanner that may
//! have missed a rescan). `deadline()` makes a step's `-t` into the
//! instant waits end.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::diag::{msg, Error, EXIT_TIMEOUT};
use crate::fifodir::Listener;

/// The deadline of a step's `-t ms` (0: none, wait for ever).
pub fn deadline(ms: u32) -> Option<Instant> {
    (ms > 0).then(|| Instant::now() + Duration::from_millis(u64::from(ms)))
}

/// Why a wait ended without what it waited for.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    Timeout,
    Sys(Errno),
}

impl WaitError {
    /// The error a step stops with: `timed out waiting for WHAT PATH`
    /// (exit 99), or the system's.
    pub fn error(self, what: &str, path: &(impl crate::diag::Shown + ?Sized)) -> Error {
        match self {
            WaitError::Timeout => msg("timed out waiting for ")
                .text(what)
                .text(" ")
                .path(path)
                .fatal(EXIT_TIMEOUT),
            WaitError::Sys(e) => Error::sys("wait for events in", path, e),
        }
    }
}

/// What woke a wait up.
#[derive(Debug)]
pub enum Wake<'a> {
    /// Listener `i` read an event byte.
    Event(usize, u8),
    /// The process behind watched control FIFO `i` is gone.
    Gone(usize),
    /// An entry of that name left a watched directory, or another took
    /// its place.
    Entry(&'a OsStr),
    /// A signal that asks us to stop.
    Signal(Signal),
    /// A `period` went by with nothing else.
    Idle,
}

const LISTENERS: u64 = 0;
const GONE: u64 = 1 << 32;
const INOTIFY: u64 = 2 << 32;
const SIGNALS: u64 = 3 << 32;
const INDEX: u64 = (1 << 32) - 1;

/// A listener a wait reads: one the caller keeps, or one handed over
/// (`hold`), dropped (its FIFO removed) by `release` or with the wait.
enum Held<'l> {
    Borrowed(&'l Listener),
    Owned(Listener),
}

impl Held<'_> {
    fn get(&self) -> &Listener {
        match self {
            Held::Borrowed(l) => l,
            Held::Owned(l) => l,
        }
    }
}

/// A set of things to wait on; see the module's comment.
pub struct Waiter<'l> {
    epoll: Epoll,
    /// By index; a released one leaves a hole, which `hold` fills again.
    listeners: Vec<Option<Held<'l>>>,
    gone: Vec<Option<OwnedFd>>,
    inotify: Option<Inotify>,
    /// The paths watched themselves (`watch_self`): watch descriptor,
    /// and the name a wake-up says.
    selves: Vec<(i32, std::ffi::OsString)>,
    signals: Option<SignalFd>,
}

impl<'l> Waiter<'l> {
    pub fn new() -> Result<Waiter<'l>, Errno> {
        Ok(Waiter {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            listeners: Vec::new(),
            gone: Vec::new(),
            inotify: None,
            selves: Vec::new(),
            signals: None,
        })
    }

    /// Wait on `listener`'s events; they come as `Wake::Event(i, byte)`,
    /// `i` counting the listeners in the order added.
    pub fn listen(&mut self, listener: &'l Listener) -> Result<usize, Errno> {
        self.add_listener(Held::Borrowed(listener))
    }

    /// Wait on `listener`'s events for as long as the caller wants: the
    /// wait keeps it until `release(i)` (or its own end) drops it. `i`
    /// may be one a released listener had.
    pub fn hold(&mut self, listener: Listener) -> Result<usize, Errno> {
        self.add_listener(Held::Owned(listener))
    }

    fn add_listener(&mut self, held: Held<'l>) -> Result<usize, Errno> {
        let i = match self.listeners.iter().position(Option::is_none) {
            Some(i) if matches!(held, Held::Owned(_)) => i,
            _ => self.listeners.len(),
        };
        self.epoll.add(
            held.get().fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, LISTENERS | i as u64),
        )?;
        if i == self.listeners.len() {
            self.listeners.push(Some(held));
        } else {
            self.listeners[i] = Some(held);
        }
        Ok(i)
    }

    /// Stop waiting on listener `i`; one handed over by `hold` is dropped
    /// (its FIFO removed).
    pub fn release(&mut self, i: usize) {
        if let Some(held) = self.listeners.get_mut(i).and_then(Option::take) {
            let _ = self.epoll.delete(held.get().fd());
        }
    }

    /// Drop every listener handed over by `hold` (their FIFOs removed),
    /// for a wait that ends here.
    pub fn release_all(&mut self) {
        for i in 0..self.listeners.len() {
            self.release(i);
        }
    }

    /// Watch the process that reads `fifo` (a control FIFO): it comes as
    /// `Wake::Gone(i)`, `i` counting these watches in the order added.
    /// Returns false (and watches nothing) when nobody reads it already,
    /// or there is no such FIFO.
    pub fn watch_reader(&mut self, fifo: &crate::door::Loc) -> Result<bool, Errno> {
        let fd = match crate::fifo::open_writer(fifo) {
            Ok(Some(fd)) => fd,
            Ok(None) | Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.watch_gone(fd).map(|_| true)
    }

    /// Watch the readers of the pipe that `fd` writes to (a step's
    /// standard output): `Wake::Gone(i)` once the last one has closed
    /// it, before anything is written there. Ok(None), and nothing
    /// watched, when `fd` is no pipe (a file, a terminal, a socket: a
    /// write says when those are gone).
    pub fn watch_pipe(&mut self, fd: std::os::fd::BorrowedFd) -> Result<Option<usize>, Errno> {
        if !nix::sys::stat::SFlag::from_bits_truncate(nix::sys::stat::fstat(fd)?.st_mode)
            .contains(nix::sys::stat::SFlag::S_IFIFO)
        {
            return Ok(None);
        }
        let dup = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor, ours alone.
        let dup = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) };
        self.watch_gone(dup).map(Some)
    }

    fn watch_gone(&mut self, fd: OwnedFd) -> Result<usize, Errno> {
        // No EPOLLOUT: the end is always writable. An error is always
        // reported, and is what we wait for.
        let i = self.gone.len();
        self.epoll
            .add(fd.as_fd(), EpollEvent::new(EpollFlags::empty(), GONE | i as u64))?;
        self.gone.push(Some(fd));
        Ok(i)
    }

    /// Watch `dir` for entries removed or renamed away, and for entries
    /// renamed over (a name made anew): `Wake::Entry(name)`.
    pub fn watch_entries(&mut self, dir: &crate::door::Loc) -> Result<(), Errno> {
        self.watch_dir(
            dir,
            AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM | AddWatchFlags::IN_MOVED_TO,
        )
    }

    /// Watch `dir` for entries made, removed, or renamed in or out
    /// (links of a scan directory): `Wake::Entry(name)`. What happened is
    /// for the caller to look up: the name is there now or is not.
    pub fn watch_names(&mut self, dir: &crate::door::Loc) -> Result<(), Errno> {
        self.watch_dir(
            dir,
            AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM,
        )
    }

    /// Watch `dir` for entries made or opened: `Wake::Entry(name)`.
    pub fn watch_opens(&mut self, dir: &crate::door::Loc) -> Result<(), Errno> {
        self.watch_dir(dir, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_OPEN)
    }

    fn watch_dir(&mut self, dir: &crate::door::Loc, flags: AddWatchFlags) -> Result<(), Errno> {
        let inotify = self.inotify()?;
        dir.inotify_watch(inotify, flags | AddWatchFlags::IN_ONLYDIR).map(drop)
    }

    /// Watch `path` itself, a link not followed: `Wake::Entry(name)`
    /// once it is removed or renamed, or its link count changes. Unlike
    /// a watch on its directory, this costs nothing in proportion to
    /// the directory's entries: the kernel marks every entry of a
    /// watched directory when the watch is added and again when it goes,
    /// holding up the scanner and the supervisors in a directory of
    /// thousands of instances.
    pub fn watch_self(&mut self, path: &crate::door::Loc, name: &OsStr) -> Result<(), Errno> {
        let flags = AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DONT_FOLLOW;
        let wd = path.inotify_watch(self.inotify()?, flags)?;
        self.selves.push((wd.as_raw(), name.to_owned()));
        Ok(())
    }

    fn inotify(&mut self) -> Result<&Inotify, Errno> {
        if self.inotify.is_none() {
            let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
            self.epoll
                .add(inotify.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, INOTIFY))?;
            self.inotify = Some(inotify);
        }
        Ok(self.inotify.as_ref().expect("made above"))
    }

    /// Take SIGINT, SIGTERM and SIGHUP as `Wake::Signal`: the caller
    /// holds them blocked (`signals::block_interrupts`) for as long as it needs.
    /// One that a step inherited ignored stays ignored: it is never
    /// pending, so never read.
    pub fn catch_interrupts(&mut self, _blocked: &crate::signals::Blocked) -> Result<(), Errno> {
        let sfd = SignalFd::with_flags(
            &crate::signals::interrupts(),
            SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
        )?;
        self.epoll
            .add(sfd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, SIGNALS))?;
        self.signals = Some(sfd);
        Ok(())
    }

    /// Wait until `on` says the wait is over (returns true), or until
    /// `deadline`. Every event byte read is handed to `on`, those after
    /// the one that ended the wait included: read from its FIFO, it would
    /// be lost otherwise. With `period`, `on(Wake::Idle)` is called after
    /// each `period` without anything else (`on` may change it).
    pub fn run(
        &mut self,
        deadline: Option<Instant>,
        period: Option<&std::cell::Cell<Duration>>,
        mut on: impl FnMut(Wake) -> bool,
    ) -> Result<(), WaitError> {
        let mut ready = vec![EpollEvent::empty(); (self.listeners.len() + self.gone.len()).clamp(4, 256)];
        let mut buf = [0u8; 64];
        let mut names = [0u8; 4096];
        loop {
            // Past the deadline, what is already there is still read (a
            // wait on many reaches the later ones late): one last look
            // that does not block.
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let period = period.map(std::cell::Cell::get);
            let late = left.is_some_and(|l| l.is_zero());
            let timeout = match (left, period) {
                _ if late => PollTimeout::ZERO,
                (None, None) => PollTimeout::NONE,
                (Some(t), None) | (None, Some(t)) => millis(t),
                (Some(a), Some(b)) => millis(a.min(b)),
            };
            let n = match self.epoll.wait(&mut ready, timeout) {
                Ok(0) if late => return Err(WaitError::Timeout),
                Ok(0) if period.is_some() && on(Wake::Idle) => return Ok(()),
                Err(Errno::EINTR) | Ok(0) => continue,
                Err(e) => return Err(WaitError::Sys(e)),
                Ok(n) => n,
            };
            let mut over = false;
            for ev in &ready[..n] {
                let (kind, i) = (ev.data() & !INDEX, (ev.data() & INDEX) as usize);
                match kind {
                    LISTENERS => {
                        let Some(Some(held)) = self.listeners.get(i) else {
                            continue;
                        };
                        let got = held.get().drain(&mut buf).map_err(WaitError::Sys)?;
                        for &b in &buf[..got] {
                            over |= on(Wake::Event(i, b));
                        }
                    }
                    GONE => {
                        // Once: the end stays in error.
                        if let Some(fd) = self.gone[i].take() {
                            let _ = self.epoll.delete(fd.as_fd());
                            over |= on(Wake::Gone(i));
                        }
                    }
                    INOTIFY => over |= self.read_entries(&mut names, &mut on)?,
                    _ => {
                        if let Some(sfd) = &self.signals {
                            while let Ok(Some(info)) = sfd.read_signal() {
                                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                                    over |= on(Wake::Signal(sig));
                                }
                            }
                        }
                    }
                }
            }
            if over {
                return Ok(());
            }
        }
    }

    /// Hand every name that inotify reported to `on`. Read by hand: the
    /// events of a whole batch of deletes come at once, and an overflow
    /// of the queue is said as a wake-up for every name (an empty one).
    fn read_entries(&self, buf: &mut [u8], on: &mut impl FnMut(Wake) -> bool) -> Result<bool, WaitError> {
        let Some(inotify) = &self.inotify else {
            return Ok(false);
        };
        let mut over = false;
        loop {
            let got = match nix::unistd::read(inotify.as_fd(), buf) {
                Ok(n) => n,
                Err(Errno::EAGAIN) => return Ok(over),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(WaitError::Sys(e)),
            };
            let mut at = 0;
            while at + 16 <= got {
                // struct inotify_event: wd, mask, cookie, len, name.
                let field = |k: usize| u32::from_ne_bytes(buf[at + k..at + k + 4].try_into().expect("4 bytes"));
                let (wd, mask, len) = (field(0) as i32, field(4), field(12) as usize);
                let raw = &buf[at + 16..(at + 16 + len).min(got)];
                let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
                let this = self.selves.iter().find(|(w, _)| *w == wd);
                if mask & libc::IN_Q_OVERFLOW != 0 {
                    over |= on(Wake::Entry(OsStr::new("")));
                } else if let (true, Some((_, own))) = (name.is_empty(), this) {
                    over |= on(Wake::Entry(own));
                } else if !name.is_empty() {
                    use std::os::unix::ffi::OsStrExt;
                    over |= on(Wake::Entry(OsStr::from_bytes(name)));
                }
                at += 16 + len;
            }
        }
    }
}

fn millis(d: Duration) -> PollTimeout {
    PollTimeout::try_from(d.as_millis().clamp(1, i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}

/// Wait for a lock on the open lock file `fd` to be free, sleeping in
/// fcntl(F_SETLKW) rather than looking again and again, then let it go
/// at once. For a process known to be exiting (its control FIFO has no
/// reader left): its descriptors close one by one, and its lock may
/// outlive its FIFO by a moment.
pub fn lock_released(fd: &OwnedFd) -> Result<(), Errno> {
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_RDLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    loop {
        // SAFETY: fl is a valid flock struct and fd an open descriptor.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLKW, &mut fl) };
        if r == 0 {
            break;
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(e),
        }
    }
    fl.l_type = libc::F_UNLCK as _;
    // SAFETY: as above.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    Ok(())
}

/// Wait on several listeners until `event(index, byte)` says the wait is
/// over (returns true), or until `deadline`. Every byte read is passed to
/// `event`, those after the one that ended the wait included.
pub fn events(
    listeners: &[&Listener],
    deadline: Option<Instant>,
    mut event: impl FnMut(usize, u8) -> bool,
) -> Result<(), WaitError> {
    let mut waiter = Waiter::new().map_err(WaitError::Sys)?;
    for l in listeners {
        waiter.listen(l).map_err(WaitError::Sys)?;
    }
    waiter.run(deadline, None, |wake| match wake {
        Wake::Event(i, b) => event(i, b),
        _ => false,
    })
}

/// The soft limit on open descriptors a step started with, kept when a
/// bulk wait raises it, to be put back for the next program.
static STARTED_WITH: std::sync::Mutex<Option<(u64, u64)>> = std::sync::Mutex::new(None);

/// Before a wait on `n` things opens anything: raise the soft limit on
/// descriptors to the hard one if `n` of them (a listener takes two, a
/// watch one, and a bulk wait holds a lock file per supervisor too) may
/// not fit. The limit the step started with is remembered, for
/// `restore_fd_limit`.
pub fn make_room_for(n: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let want = (4 * n as u64).saturating_add(64);
    if want <= soft || soft >= hard {
        return;
    }
    let mut kept = STARTED_WITH.lock().unwrap_or_else(|e| e.into_inner());
    if kept.is_none() {
        *kept = Some((soft, hard));
    }
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
}

/// Give the next program the descriptor limit this step started with.
pub fn restore_fd_limit() {
    let kept = STARTED_WITH.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((soft, hard)) = kept {
        let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, soft, hard);
    }
}

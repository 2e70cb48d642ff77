//! s6i-watch: one live stream of the state of every instance of an
//! instanced service (or of the named ones), or a wait until all of
//! them are up, ready, down or finished.
//!
//! Order that loses nothing: the nested scan directory is watched
//! (inotify) before it is listed; each instance is subscribed to (its
//! `event/` fifodir) before its status record is read. After every
//! wake-up the record of each instance that had events is read again,
//! and what changed since the last line printed for it is printed: the
//! last line for an instance always says what its record says, even
//! when event bytes were lost to a full FIFO.
//!
//! The lines (a contract, see s6i-watch(1)):
//!
//! - `NAME created`, `NAME deleted`: its link in the scan directory
//!   appeared or went;
//! - `NAME up PID`, `NAME ready`: a run started, it said it is ready;
//! - `NAME down exitcode N`, `NAME down signal SIGNAME`: a run ended
//!   (or, at start or when created, the instance is down);
//! - `NAME failed`: its finish script asked for no restart (exit 125:
//!   s6-supervise's `O` event).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::diag::{self, Error, EXIT_NOT_RUNNING, EXIT_SYS, EXIT_TIMEOUT};
use crate::door::Loc;
use crate::fifodir::Listener;
use crate::getopt::{number, Getopt};
use crate::layout::Service;
use crate::release::BUILT_FOR;
use crate::svstatus::Status;
use crate::wait::{self, WaitError, Waiter, Wake};
use crate::{scandir, signals, supervise};

pub const USAGE: &str = "s6i-watch [ -u | -U | -d | -D ] [ -t timeout ] service [ name... ]";

/// What a set-wide wait waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Up,
    Ready,
    Down,
    Finished,
}

impl Target {
    fn words(self) -> &'static str {
        match self {
            Target::Up => "up",
            Target::Ready => "up and ready",
            Target::Down => "down",
            Target::Finished => "down and finished",
        }
    }

    fn reached(self, st: &Status) -> bool {
        match self {
            Target::Up => st.is_up(),
            Target::Ready => st.is_up() && st.ready,
            Target::Down => !st.is_up(),
            Target::Finished => !st.is_up() && !st.finishing,
        }
    }
}

/// The last state printed for an instance.
#[derive(Default)]
struct Shown {
    /// A state line has been printed.
    known: bool,
    /// The pid of its `up` line, while up.
    up: Option<i32>,
    ready: bool,
    /// The record's stamp at the last line.
    stamp: crate::svstatus::Tain,
}

/// An instance that exists (its link is in the scan directory).
struct Inst {
    /// Its listener's index in the waiter; None when its event fifodir
    /// could not be subscribed to (said once, then nothing more).
    slot: Option<usize>,
    /// The directory subscribed to.
    tree: Option<Tree>,
    shown: Shown,
    /// Its last record, if it has one.
    status: Option<Status>,
    /// Event bytes since its record was last read.
    dirty: bool,
    saw_up: bool,
    saw_failed: bool,
    /// Its finish script asked for no restart since its last run
    /// started (for the waits on up).
    failed: bool,
    /// Its supervisor said it exits (`x`).
    exiting: bool,
}

/// Why the watch ends.
enum End {
    Done,
    Fail(Error),
    /// A signal to die of, once every FIFO is removed.
    Signal(Signal),
    /// Whoever read standard output is gone.
    ReaderGone,
}

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut target = None;
    let mut timeout = 0;
    let mut opts = Getopt::new(&argv, "uUdDt:");
    for opt in opts.by_ref() {
        match opt? {
            (b'u', _) => target = Some(Target::Up),
            (b'U', _) => target = Some(Target::Ready),
            (b'd', _) => target = Some(Target::Down),
            (b'D', _) => target = Some(Target::Finished),
            (b't', Some(v)) => timeout = number(v)?,
            _ => return Err(Error::Usage),
        }
    }
    let (service, named) = crate::layout::service_then_names(opts.rest())?;
    service.check_live()?;
    let named = (!named.is_empty()).then(|| named.iter().cloned().collect::<std::collections::BTreeSet<_>>());
    // Interrupts are read in the wait, and end it once every FIFO is
    // removed; held until then.
    let blocked = signals::block_interrupts().map_err(|e| Error::sys("block signals", service.root(), e))?;
    let end = {
        let mut w = Watch {
            service: &service,
            named,
            target,
            insts: BTreeMap::new(),
            slots: Vec::new(),
            out: Vec::new(),
            scanner_gone: false,
        };
        let mut waiter = Waiter::new().map_err(|e| Error::sys("watch", service.root(), e))?;
        let end = w.run(&mut waiter, &blocked, wait::deadline(timeout));
        // Every listener dropped, every FIFO removed, before anything else.
        waiter.release_all();
        end
    };
    match end {
        End::Done => Ok(Vec::new()),
        End::Fail(e) => Err(e),
        End::Signal(sig) => signals::die_of(sig),
        End::ReaderGone => {
            // As a write to a dead pipe ends s6's programs: SIGPIPE; when
            // it is ignored, a quiet end (the reader chose to stop).
            signals::raise_sigpipe();
            Ok(Vec::new())
        }
    }
}

struct Watch<'a> {
    service: &'a Service,
    named: Option<std::collections::BTreeSet<OsString>>,
    target: Option<Target>,
    insts: BTreeMap<OsString, Inst>,
    /// The name of each listener slot of the waiter.
    slots: Vec<Option<OsString>>,
    out: Vec<u8>,
    scanner_gone: bool,
}

/// Watches of the waiter other than listeners.
const SCANNER: usize = 0;

impl Watch<'_> {
    fn run(&mut self, waiter: &mut Waiter, blocked: &signals::Blocked, deadline: Option<Instant>) -> End {
        match self.start(waiter, blocked) {
            Ok(()) => {}
            Err(e) => return End::Fail(e),
        }
        if let Err(end) = self.flush(blocked) {
            return end;
        }
        loop {
            if let Some(end) = self.over() {
                return end;
            }
            let (mut entries, mut signal, mut gone) = (Vec::new(), None, Vec::new());
            let (slots, insts) = (&self.slots, &mut self.insts);
            let r = waiter.run(deadline, None, |wake| {
                match wake {
                    Wake::Event(i, byte) => {
                        if let Some(inst) = slots.get(i).and_then(Option::as_ref).and_then(|n| insts.get_mut(n)) {
                            inst.dirty = true;
                            match byte {
                                b'u' => inst.saw_up = true,
                                b'O' => (inst.saw_failed, inst.failed) = (true, true),
                                b'x' => inst.exiting = true,
                                b's' => inst.exiting = false,
                                _ => {}
                            }
                        }
                    }
                    Wake::Entry(name) => entries.push(name.to_os_string()),
                    Wake::Signal(sig) => signal = Some(sig),
                    Wake::Gone(i) => gone.push(i),
                    Wake::Idle => return false,
                }
                true
            });
            match r {
                Ok(()) => {}
                Err(WaitError::Timeout) if self.target.is_none() => return End::Done,
                Err(WaitError::Timeout) => return End::Fail(self.timed_out()),
                Err(WaitError::Sys(e)) => return End::Fail(Error::sys("wait for events of", self.service.root(), e)),
            }
            if let Some(sig) = signal {
                return End::Signal(sig);
            }
            if gone.iter().any(|&i| i != SCANNER) {
                return End::ReaderGone;
            }
            if !gone.is_empty() {
                self.scanner_gone = true;
            }
            // What the records say first, then the links made and gone:
            // an instance's last lines come before its `deleted`.
            self.read_dirty();
            if let Err(e) = self.entries(waiter, &entries) {
                return End::Fail(e);
            }
            if self.scanner_gone {
                self.drop_exited(waiter);
            }
            if let Err(end) = self.flush(blocked) {
                return end;
            }
        }
    }

    /// Watch the scan directory, then list it, subscribe to each
    /// instance, read its record: the snapshot.
    fn start(&mut self, waiter: &mut Waiter, blocked: &signals::Blocked) -> Result<(), Error> {
        let scan = self.service.scandir();
        let failed = |e| Error::sys("watch", &scan, e);
        // The scanner's exit is watch 0 (SCANNER); standard output's
        // readers, watch 1 when it is a pipe and lines are printed.
        if !waiter.watch_reader(&scandir::control_fifo(&scan)).map_err(failed)? {
            // Its lock is held (checked) but nobody reads its FIFO: a
            // scanner starting or on its way out.
            return Err(self.not_running());
        }
        // A wait prints nothing: whoever reads its output does not matter.
        if self.target.is_none() {
            waiter.watch_pipe(std::io::stdout().as_fd()).map_err(failed)?;
        }
        waiter.catch_interrupts(blocked).map_err(failed)?;
        waiter.watch_names(&scan).map_err(failed)?;
        // Trees swapped in `instances/` (an upgrade) come by name too.
        let instances = self.service.instances();
        match waiter.watch_names(&instances) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys("watch", &instances, e)),
        }
        let mut names = self.service.instance_names()?;
        if let Some(named) = &self.named {
            names.retain(|n| named.contains(n));
        }
        names.sort();
        wait::make_room_for(names.len());
        for name in &names {
            self.add(waiter, name)?;
        }
        for name in &names {
            self.read(name);
        }
        Ok(())
    }

    /// Subscribe to a new instance. Its state is read by the caller.
    fn add(&mut self, waiter: &mut Waiter, name: &OsStr) -> Result<(), Error> {
        let (slot, tree) = self.subscribe(waiter, name)?;
        let inst = Inst {
            slot,
            tree,
            shown: Shown::default(),
            status: None,
            dirty: false,
            saw_up: false,
            saw_failed: false,
            failed: false,
            exiting: false,
        };
        self.insts.insert(name.to_os_string(), inst);
        Ok(())
    }

    /// A listener in the event fifodir of instance `name`, in the slot
    /// the waiter gives it, and which directory that is.
    fn subscribe(&mut self, waiter: &mut Waiter, name: &OsStr) -> Result<(Option<usize>, Option<Tree>), Error> {
        let dir = self.service.instance_dir(name);
        // Looked at before the subscription: a tree swapped in between is
        // seen as swapped again, and subscribed to once more.
        let tree = tree_of(&dir);
        let slot = match subscribe(&dir) {
            Ok(l) => {
                let slot = waiter.hold(l).map_err(|e| Error::sys("watch", &dir, e))?;
                if self.slots.len() <= slot {
                    self.slots.resize(slot + 1, None);
                }
                self.slots[slot] = Some(name.to_os_string());
                Some(slot)
            }
            // Gone already (a delete between the listing and now): its
            // link's removal comes next.
            Err(Errno::ENOENT) => None,
            Err(e) => {
                diag::warn(diag::unable("subscribe to events for", &dir, e));
                None
            }
        };
        Ok((slot, tree))
    }

    /// An instance whose directory is another tree now (an upgrade
    /// swaps a new copy in, or puts the old one back): its supervisor
    /// from now on is the one in that tree, whose fifodir is subscribed
    /// to in place of the old one. Ok(false) when it is the same tree.
    fn follow(&mut self, waiter: &mut Waiter, name: &OsStr) -> Result<bool, Error> {
        let Some(inst) = self.insts.get_mut(name) else {
            return Ok(false);
        };
        let now = tree_of(&self.service.instance_dir(name));
        if now.is_none() || now == inst.tree {
            return Ok(false);
        }
        if let Some(slot) = inst.slot.take() {
            waiter.release(slot);
            self.slots[slot] = None;
        }
        let (slot, tree) = self.subscribe(waiter, name)?;
        if let Some(inst) = self.insts.get_mut(name) {
            (inst.slot, inst.tree) = (slot, tree);
            (inst.exiting, inst.failed, inst.saw_failed) = (false, false, false);
        }
        Ok(true)
    }

    /// Read an instance's record and print what changed since its last
    /// line.
    fn read(&mut self, name: &OsStr) {
        let Some(inst) = self.insts.get_mut(name) else {
            return;
        };
        inst.dirty = false;
        // No record (its supervisor has not started yet, or the instance
        // is being removed): nothing to say yet.
        let st = Status::read(&self.service.instance_dir(name)).ok();
        inst.status = st;
        let out = &mut self.out;
        let mut line = |words: &[u8]| {
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(words);
            out.push(b'\n');
        };
        let stream = self.target.is_none();
        let shown = &mut inst.shown;
        if let Some(st) = st {
            let death = || format!("down {}", st.death(BUILT_FOR));
            if st.is_up() {
                match shown.up {
                    Some(pid) if pid == st.pid => {}
                    // A new run since the last `up`: the one before died
                    // in between, and the record still says how.
                    Some(_) => {
                        if stream {
                            line(death().as_bytes());
                            line(format!("up {}", st.pid).as_bytes());
                        }
                        shown.ready = false;
                    }
                    None => {
                        if stream {
                            line(format!("up {}", st.pid).as_bytes());
                        }
                        shown.ready = false;
                    }
                }
                if st.ready && !shown.ready {
                    if stream {
                        line(b"ready");
                    }
                    shown.ready = true;
                }
                shown.up = Some(st.pid);
                inst.failed = false;
            } else {
                // Down now: said when it was up at the last line, at the
                // first look, or when a whole run came and went between
                // two looks (a `u` read, and the record changed since).
                let news = shown.up.is_some() || !shown.known || (inst.saw_up && st.stamp != shown.stamp);
                if news && stream {
                    line(death().as_bytes());
                }
                shown.up = None;
                shown.ready = false;
            }
            shown.known = true;
            shown.stamp = st.stamp;
        }
        inst.saw_up = false;
        if inst.saw_failed {
            inst.saw_failed = false;
            if stream {
                line(b"failed");
            }
        }
    }

    fn read_dirty(&mut self) {
        let dirty: Vec<OsString> = self
            .insts
            .iter()
            .filter(|(_, i)| i.dirty)
            .map(|(n, _)| n.clone())
            .collect();
        for name in dirty {
            self.read(&name);
        }
    }

    /// Links made or gone in the scan directory (an empty name: the
    /// kernel's queue overflowed, look at every one).
    fn entries(&mut self, waiter: &mut Waiter, names: &[OsString]) -> Result<(), Error> {
        let mut names: Vec<OsString> = names.to_vec();
        if names.iter().any(|n| n.is_empty()) {
            names = self.service.instance_names()?;
            names.extend(self.insts.keys().cloned());
        }
        names.sort();
        names.dedup();
        for name in names {
            if name.as_bytes().first() == Some(&b'.') || self.named.as_ref().is_some_and(|n| !n.contains(&name)) {
                continue;
            }
            let there = self.service.link(&name).present();
            match (self.insts.contains_key(&name), there) {
                (false, true) if !self.scanner_gone => {
                    wait::make_room_for(self.insts.len() + 1);
                    self.add(waiter, &name)?;
                    if self.target.is_none() {
                        self.line(&name, b"created");
                    }
                    self.read(&name);
                }
                (true, false) => {
                    if let Some(inst) = self.insts.remove(&name) {
                        if let Some(slot) = inst.slot {
                            waiter.release(slot);
                            self.slots[slot] = None;
                        }
                    }
                    if self.target.is_none() {
                        self.line(&name, b"deleted");
                    }
                }
                // Another tree in its place, or a link put in another's
                // place: subscribed to anew if need be, read again.
                (true, true) => {
                    self.follow(waiter, &name)?;
                    self.read(&name);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Once the nested scanner is gone, its supervisors follow: each is
    /// let go once it said it exits (or runs no more).
    fn drop_exited(&mut self, waiter: &mut Waiter) {
        let service = self.service;
        self.insts.retain(|name, inst| {
            let dir = service.instance_dir(name);
            let keep = !inst.exiting && supervise::is_running(&dir).unwrap_or(false);
            if !keep {
                if let Some(slot) = inst.slot.take() {
                    waiter.release(slot);
                }
            }
            keep
        });
        self.slots.iter_mut().for_each(|s| {
            if s.as_ref().is_some_and(|n| !self.insts.contains_key(n)) {
                *s = None;
            }
        });
    }

    fn line(&mut self, name: &OsStr, words: &[u8]) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(words);
        self.out.push(b'\n');
    }

    /// Write the lines of one wake-up at once. A reader that does not
    /// read blocks the write: SIGTERM, SIGINT and SIGHUP are let through
    /// meanwhile, and still end the watch (their handler removes the
    /// FIFOs).
    fn flush(&mut self, blocked: &signals::Blocked) -> Result<(), End> {
        let mut done = 0;
        while done < self.out.len() {
            let written = blocked.let_through(|| nix::unistd::write(std::io::stdout(), &self.out[done..]));
            match written {
                Ok(n) => done += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EPIPE) => return Err(End::ReaderGone),
                Err(e) => {
                    let msg = format!("unable to write to stdout: {}", diag::reason(e));
                    return Err(End::Fail(Error::new(EXIT_SYS, msg)));
                }
            }
        }
        self.out.clear();
        Ok(())
    }

    /// The names a wait still waits for.
    fn waiting(&self, target: Target) -> Vec<&OsStr> {
        let present = self
            .insts
            .iter()
            .filter(|(_, i)| !i.status.is_some_and(|st| target.reached(&st)))
            .map(|(n, _)| n.as_os_str());
        let absent = self
            .named
            .iter()
            .flatten()
            .filter(|n| !self.insts.contains_key(*n))
            .map(OsString::as_os_str);
        let mut names: Vec<&OsStr> = present.chain(absent).collect();
        names.sort();
        names
    }

    /// Whether the watch is over before the next wait.
    fn over(&self) -> Option<End> {
        let gone = self.scanner_gone && self.insts.is_empty();
        let Some(target) = self.target else {
            return gone.then(|| End::Fail(self.not_running()));
        };
        let waiting = self.waiting(target);
        if waiting.is_empty() {
            return Some(End::Done);
        }
        if gone {
            return Some(End::Fail(self.not_running()));
        }
        // One that can no longer get there: its finish script asked for no
        // restart (while up is waited for), or its supervisor exits while
        // its link is still there.
        let lost: Vec<&OsStr> = waiting
            .iter()
            .copied()
            .filter(|n| {
                self.insts.get(*n).is_some_and(|i| {
                    let up_wanted = matches!(target, Target::Up | Target::Ready);
                    let linked = || self.service.link(n).present();
                    (i.failed && up_wanted) || (i.exiting && !self.scanner_gone && linked())
                })
            })
            .collect();
        if !lost.is_empty() {
            let msg = diag::msg("some instances reported permanent failure or their supervisor died:");
            return Some(End::Fail(msg.names(&lost).fatal(EXIT_NOT_RUNNING)));
        }
        None
    }

    fn timed_out(&self) -> Error {
        let target = self.target.unwrap_or(Target::Up);
        let head = diag::msg("timed out waiting for ").text(target.words()).text(" on ");
        let head = head.path(self.service.root()).text(":");
        head.names(self.waiting(target)).fatal(EXIT_TIMEOUT)
    }

    fn not_running(&self) -> Error {
        let msg = diag::msg("instanced service not running on ").path(self.service.root());
        msg.fatal(EXIT_NOT_RUNNING)
    }
}

/// Which directory is at a path: device and inode.
type Tree = (u64, u64);

fn tree_of(dir: &Loc) -> Option<Tree> {
    dir.stat().ok().map(|st| (st.st_dev, st.st_ino))
}

/// Subscribe to the events of instance directory `dir`, making its
/// fifodir as s6 does if it has none yet. One there is used whoever owns
/// it (the user of a `-u` service does), if it is a real directory: a
/// link or anything else is refused, and not subscribed to.
fn subscribe(dir: &Loc) -> Result<Listener, Errno> {
    let ev = supervise::eventdir(dir);
    if ev.stat() == Err(Errno::ENOENT) {
        match supervise::make_eventdir(dir, false, false) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(Errno::ENOENT) if !dir.present() => return Err(Errno::ENOENT),
            Err(e) => return Err(e),
        }
    }
    Listener::subscribe(&ev)
}

//! Signal state, in one place, because a chainloading step must hand the
//! next program the dispositions and mask it was given, as an exec
//! would (an ignored signal stays ignored, SIGPIPE at its default stays
//! so): everything that changes them is here, and so is what puts them
//! back. In between, a step may:
//!
//! - catch the fatal signals for as long as it has FIFOs in fifodirs,
//!   to remove them before it dies (`remove_on_signal`), given back by
//!   `restore_defaults` before the next step;
//! - hold SIGINT, SIGTERM and SIGHUP blocked, for a wait that reads them
//!   and undoes its work first (`block_interrupts`, read through
//!   `wait::Waiter::catch_interrupts`), then die of the one that came
//!   (`die_of`);
//! - hold them blocked across the steps of a chain that changes
//!   instances (`hold_interrupts`), so that one that comes between two
//!   pieces of work is read at the next boundary (`interrupt_came`) and
//!   what is half done undone or finished first; released before any
//!   step that does not change instances, and before a real exec;
//! - ignore SIGPIPE for one write to a command FIFO whose reader may
//!   just have gone (`ignoring_sigpipe`), or raise it as a write to a
//!   dead pipe would (`raise_sigpipe`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};

/// The signals a wait with `catch_interrupts` turns into `Wake::Signal`.
pub fn interrupts() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    set
}

/// SIGINT, SIGTERM and SIGHUP held blocked, for a step that reads them
/// in its wait and must finish undoing its work before it dies of one:
/// the mask it had is put back when this is dropped, and those that
/// came meanwhile, unread, are delivered then.
pub struct Blocked {
    old: SigSet,
}

pub fn block_interrupts() -> Result<Blocked, Errno> {
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&interrupts()), Some(&mut old))?;
    Ok(Blocked { old })
}

impl Blocked {
    /// The interrupt that came since they were blocked, if one did, taken
    /// without waiting: for work done a piece at a time, which stops and
    /// undoes itself between two pieces.
    pub fn came(&self) -> Option<Signal> {
        interrupt_came()
    }

    /// Run `f` with the interrupts let through as they were before they
    /// were blocked: for a call that may block in the kernel outside a
    /// wait (a write to a pipe nobody reads from), which one of them must
    /// still end. Caught there, they reach the handler that removes our
    /// FIFOs, then end the process.
    pub fn let_through<T>(&self, f: impl FnOnce() -> T) -> T {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
        let r = f();
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&interrupts()), None);
        r
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// The mask before the chain held the interrupts, while it does.
static HELD: std::sync::Mutex<Option<SigSet>> = std::sync::Mutex::new(None);

fn held() -> std::sync::MutexGuard<'static, Option<SigSet>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hold SIGINT, SIGTERM and SIGHUP blocked from now on, until
/// `release_interrupts`: for the steps of a chain that change instances.
pub fn hold_interrupts() {
    let mut held = held();
    if held.is_none() {
        let mut old = SigSet::empty();
        if nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&interrupts()), Some(&mut old)).is_ok() {
            *held = Some(old);
        }
    }
}

/// Give the mask back as it was before `hold_interrupts`: one that came
/// meanwhile, unread, is delivered then.
pub fn release_interrupts() {
    if let Some(old) = held().take() {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

/// Whether the chain holds the interrupts.
pub fn interrupts_held() -> bool {
    held().is_some()
}

/// The interrupt that came while they were held, if one did, taken
/// without waiting.
pub fn interrupt_came() -> Option<Signal> {
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid signal set, no siginfo wanted, a zero timeout.
    let sig = unsafe { libc::sigtimedwait(interrupts().as_ref(), std::ptr::null_mut(), &zero) };
    Signal::try_from(sig).ok()
}

/// Make `sig` pending again (held, it is not delivered): a wait that read
/// it to end early leaves it for the chain's next boundary.
pub fn put_back(sig: Signal) {
    let _ = nix::sys::signal::raise(sig);
}

/// End the process by `sig`, as its default action would have, once a
/// step has undone what it must: the caller of a step sees it killed by
/// the signal it sent. The handlers that remove our FIFOs run first.
pub fn die_of(sig: Signal) -> ! {
    let mut set = SigSet::empty();
    set.add(sig);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    let _ = nix::sys::signal::raise(sig);
    // Ignored (it could not have been read then) or handled: exit as a
    // shell reports a death by that signal.
    std::process::exit(128 + sig as i32)
}

/// Raise SIGPIPE, as a write to a pipe nobody reads does: the end of the
/// process, unless the step was given SIGPIPE ignored.
pub fn raise_sigpipe() {
    let _ = nix::sys::signal::raise(Signal::SIGPIPE);
}

/// Run `f` (one write) with SIGPIPE ignored, then give SIGPIPE back
/// exactly the disposition it had.
pub fn ignoring_sigpipe<T>(f: impl FnOnce() -> T) -> T {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no handler; the old action is put back as
    // it was.
    let old = unsafe { sigaction(Signal::SIGPIPE, &ignore) };
    let r = f();
    if let Ok(old) = old {
        let _ = unsafe { sigaction(Signal::SIGPIPE, &old) };
    }
    r
}

// Listener FIFOs must not outlive a step killed by a signal while it
// waits. Their names, with the descriptor of their directory, are kept
// where a signal handler can reach them without locking; the handler
// unlinks them (unlinkat is async-signal-safe), then dies of the same
// signal. Only signals whose
// default action is to end the process are caught, and only those the
// step did not inherit ignored: an ignored signal stays ignored, as it
// would through an exec (a background job of a shell has SIGINT
// ignored, and must keep ignoring it). SIGKILL cannot be caught.

const SLOTS: usize = 4096;
/// A FIFO to remove: the directory that holds it, open, and its name.
struct Removal {
    dir: libc::c_int,
    name: CString,
}
static LIVE: [AtomicPtr<Removal>; SLOTS] = [const { AtomicPtr::new(null_mut()) }; SLOTS];
/// One bit per signal number that we caught (they were at SIG_DFL).
static CAUGHT: AtomicU64 = AtomicU64::new(0);
/// Whether the handlers have been set up since the last restore_defaults.
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
            // SAFETY: p is a Removal leaked by remove_on_signal, whose
            // directory its listener holds open while the slot is set.
            unsafe { libc::unlinkat((*p).dir, (*p).name.as_ptr(), 0) };
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

/// Have `name` in `dir` (a FIFO of ours) removed if a fatal signal ends
/// the step; `dir` must stay open until `forget_removal`, which the slot
/// returned is for. None if every slot is taken: the FIFO is then only
/// removed on a normal exit.
pub fn remove_on_signal(dir: BorrowedFd, name: &[u8]) -> Option<usize> {
    if !INSTALLED.swap(true, Ordering::SeqCst) {
        install();
    }
    let name = CString::new(name).ok()?;
    let c = Box::into_raw(Box::new(Removal {
        dir: dir.as_raw_fd(),
        name,
    }));
    for (i, slot) in LIVE.iter().enumerate() {
        if slot
            .compare_exchange(null_mut(), c, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Some(i);
        }
    }
    // SAFETY: c came from into_raw just above.
    drop(unsafe { Box::from_raw(c) });
    None
}

/// Give the signals caught for listeners back their default actions,
/// exactly what the step found, once no listener is left: as an exec
/// would, when a chain goes on in-process.
pub fn restore_defaults() {
    if INSTALLED.swap(false, Ordering::SeqCst) {
        let caught = CAUGHT.swap(0, Ordering::SeqCst);
        for sig in fatal_signals().filter(|&s| caught & bit(s) != 0) {
            // SAFETY: SIG_DFL installs no handler.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

/// The FIFO in `slot` is gone, or is no longer ours to remove.
pub fn forget_removal(slot: Option<usize>) {
    if let Some(i) = slot {
        let p = LIVE[i].swap(null_mut(), Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: p came from into_raw in remove_on_signal.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

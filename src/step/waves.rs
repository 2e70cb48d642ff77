//! s6i-waves: run a block once per wave of names, as execline's forx
//! runs one per word: `s6i-waves [ -p max ] { name... } { prog... }
//! rest...` splits the names into waves of at most `max` (all in one
//! when `max` is 0 or not given; none at all when there are no names),
//! and for each, forks a child that runs the block with its words
//! `$wave` replaced by the wave's names (one word each, behind the
//! block's leading spaces, as s6i-args substitutes), and waits for it.
//! A child that fails ends the step with its exit code (it has said
//! why); one killed by a signal ends it by the same signal. SIGINT,
//! SIGTERM and SIGHUP sent to this step are passed on to the child, and
//! this step then dies of the signal once the child has ended (after
//! what the child undoes on such a signal, see s6i-wait-supervise).
//! Once every wave is done, rest is executed.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::diag::{Error, EXIT_SYS};
use crate::getopt::{number, Getopt};

pub const USAGE: &str = "s6i-waves [ -p max ] { name... } { prog... } [ rest... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut max = 0usize;
    let mut opts = Getopt::new(&argv, "p:");
    for opt in opts.by_ref() {
        match opt? {
            (b'p', Some(v)) => max = number(v)? as usize,
            _ => return Err(Error::Usage),
        }
    }
    let (names, after) = block(opts.rest())?;
    for name in &names {
        crate::name::check(name.as_bytes())?;
    }
    let (prog, rest) = block(after)?;
    if prog.is_empty() {
        return Err(Error::Usage);
    }
    let size = if max == 0 { names.len().max(1) } else { max };
    for wave in names.chunks(size) {
        let vars = [(b"wave".to_vec(), wave.to_vec())];
        run_wave(crate::args::substitute(&prog, &vars))?;
    }
    Ok(rest.to_vec())
}

/// An execline block at the start of `words`, as execlineb hands it on
/// (each word behind a space, an empty word to close): its words, one
/// space taken off each, and what follows it.
fn block(words: &[OsString]) -> Result<(Vec<OsString>, &[OsString]), Error> {
    let end = words.iter().position(|w| w.is_empty()).ok_or(Error::Usage)?;
    let inside = words[..end]
        .iter()
        .map(|w| match w.as_bytes() {
            [b' ', rest @ ..] => Ok(OsString::from_vec(rest.to_vec())),
            _ => Err(Error::Usage),
        })
        .collect::<Result<_, _>>()?;
    Ok((inside, &words[end + 1..]))
}

/// The signals passed on to the child: those not ignored when we
/// started (an ignored one stays ignored, as an exec would leave it).
fn passed_on() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: a query (no new action); sigaction with a null act
        // changes nothing.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        let ignored = unsafe { libc::sigaction(sig as libc::c_int, std::ptr::null(), &mut old) } == 0
            && old.sa_sigaction == libc::SIG_IGN;
        if !ignored {
            set.add(sig);
        }
    }
    set
}

/// Fork a child that runs `prog`, wait for it, pass it the signals.
fn run_wave(prog: Vec<OsString>) -> Result<(), Error> {
    let sys = |verb: &'static str| move |e| Error::new(EXIT_SYS, format!("unable to {verb}: {}", crate::diag::reason(e)));
    let passed = passed_on();
    let mut caught = passed;
    caught.add(Signal::SIGCHLD);
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&caught), Some(&mut old)).map_err(sys("block signals"))?;
    let restore = |old: &SigSet| {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(old), None);
    };
    // SAFETY: single-threaded; the child only runs the chain.
    let child = match unsafe { fork() } {
        Err(e) => {
            restore(&old);
            return Err(sys("fork")(e));
        }
        Ok(ForkResult::Child) => {
            restore(&old);
            child(prog)
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    let r = wait_for(child, &passed);
    restore(&old);
    match r? {
        (WaitStatus::Signaled(_, sig, _), _) | (_, Some(sig)) => crate::wait::die_of(sig),
        (WaitStatus::Exited(_, 0), None) => Ok(()),
        (WaitStatus::Exited(_, code), None) => Err(Error::Exit(code)),
        _ => Err(Error::new(EXIT_SYS, "unable to wait for a wave: unexpected status")),
    }
}

/// Wait until `child` ends, passing it the signals of `passed` that
/// come meanwhile; the last one is returned with its status.
fn wait_for(child: Pid, passed: &SigSet) -> Result<(WaitStatus, Option<Signal>), Error> {
    let sys = |e| Error::new(EXIT_SYS, format!("unable to wait for a wave: {}", crate::diag::reason(e)));
    let mut mask = *passed;
    mask.add(Signal::SIGCHLD);
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).map_err(sys)?;
    let mut got = None;
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)).map_err(sys)? {
            WaitStatus::StillAlive => {}
            status => return Ok((status, got)),
        }
        match sfd.read_signal() {
            Ok(Some(info)) => {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    if sig != Signal::SIGCHLD {
                        let _ = nix::sys::signal::kill(child, sig);
                        got = Some(sig);
                    }
                }
            }
            Ok(None) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(sys(e)),
        }
    }
}

/// In the child: run the block, as a chain of ours runs.
fn child(prog: Vec<OsString>) -> ! {
    // What the parent set for itself does not reach the block.
    let _ = SigHandler::SigDfl;
    if let Some(step) = crate::chain::step_beside_me(&prog) {
        crate::chain::as_if_executed();
        crate::chain::run(step, prog)
    }
    match crate::chain::chain(&prog) {
        Ok(()) => std::process::exit(0),
        Err(e) => crate::diag::die(USAGE.as_bytes(), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn blocks() {
        let words = v(&[" a", " b", "", " prog", "  $wave", " ", "", "rest"]);
        let (names, after) = block(&words).unwrap();
        assert_eq!(names, v(&["a", "b"]));
        let (prog, rest) = block(after).unwrap();
        assert_eq!(prog, v(&["prog", " $wave", ""]));
        assert_eq!(rest, &v(&["rest"])[..]);
        let vars = [(b"wave".to_vec(), v(&["x", "y"]))];
        assert_eq!(crate::args::substitute(&prog, &vars), v(&["prog", " x", " y", ""]));
        assert_eq!(block(&v(&["", "x"])).unwrap().0, v(&[]));
        assert_eq!(block(&v(&[" a"])).err(), Some(Error::Usage));
        assert_eq!(block(&v(&["a", ""])).err(), Some(Error::Usage));
    }
}

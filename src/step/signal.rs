//! s6i-signal: send s6-svc commands to an instance's supervisor, and
//! optionally wait until the instance reaches a state.

use crate::door::Loc;
use std::ffi::OsString;
use std::time::Instant;

use crate::diag::{warn, Error, EXIT_NOT_RUNNING, EXIT_TIMEOUT, EXIT_USAGE};
use crate::getopt::{number, Getopt};
use crate::layout;
use crate::release::{too_new, Release, BUILT_FOR};
use crate::supervise;
use crate::svstatus::sig_number;
use crate::svwait::failed_permanently;
use crate::svwait::{Target, Watch};
use crate::wait::deadline;

/// The usage line: s6-svc's commands, as the release we were built for
/// lists them.
pub const USAGE: &str = if BUILT_FOR.svc_reload() {
    "s6i-signal [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -s signal | -abqhkti12pcyrlPCK ] [ -oduDUxOQ ] service name|{ name... } [ prog... ]"
} else if BUILT_FOR.svc_group_signals() {
    "s6i-signal [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -s signal | -abqhkti12pcyrPCK ] [ -oduDUxOQ ] service name|{ name... } [ prog... ]"
} else if BUILT_FOR.svc_signal_names() {
    "s6i-signal [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -s signal | -abqhkti12pcy ] [ -roduDUxOQ ] service name|{ name... } [ prog... ]"
} else {
    "s6i-signal [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -abqhkti12pcyroduDUxOQ ] service name|{ name... } [ prog... ]"
};
/// Every command letter some release of s6-svc knows; the release we
/// were built for may know fewer (`Release::svc_knows`).
const OPTSTRING: &str = "s:abqhkti12pcyrlPCKoduDUxOQT:w:";
/// s6-svc's limit on commands in one call.
const MAX_COMMANDS: usize = 62;

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut cmds, mut wait, mut timeout) = (Vec::new(), None, 0);
    let mut opts = Getopt::new(&argv, OPTSTRING);
    for opt in opts.by_ref() {
        match opt? {
            (b'T', Some(v)) => timeout = number(v)?,
            (b'w', Some(v)) => match v.as_encoded_bytes().first() {
                Some(&c) if b"dDuUrR".contains(&c) => wait = Some(c),
                _ => return Err(Error::Usage),
            },
            (c, arg) => {
                if !BUILT_FOR.svc_knows(c) {
                    return Err(too_new(c, Release::svc_since(c)));
                }
                let c = match arg {
                    Some(sig) => signal_command(sig.as_encoded_bytes())?,
                    None => c,
                };
                if cmds.len() >= MAX_COMMANDS {
                    return Err(Error::new(EXIT_USAGE, "too many commands"));
                }
                cmds.push(c);
            }
        }
    }
    let (service, names, prog) = layout::service_and_instances(opts.rest())?;
    // A killed restart's instances are put back as they were first:
    // this command, given after it, has the last word.
    crate::recover::finish(&service);
    let dirs: Vec<Loc> = names.iter().map(|n| service.instance(n)).collect();
    signal_all(&dirs, &cmds, wait, timeout).map_err(|e| service.explain(e))?;
    Ok(prog.to_vec())
}

/// Send `cmds` to the supervisors of `dirs`, then wait (wait letter
/// `wait`, within `timeout` ms) until each gets there.
fn signal_all(dirs: &[Loc], cmds: &[u8], wait: Option<u8>, timeout: u32) -> Result<(), Error> {
    let Some(w) = wait else {
        return send(dirs, cmds);
    };
    // Subscribe before sending, so the answer cannot be missed; an
    // instance that is not there fails here, before any warning about it.
    let mut watches = Vec::with_capacity(dirs.len());
    for dir in dirs {
        watches.push(Watch::start(dir)?);
    }
    let mut waits = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let readiness = matches!(w, b'U' | b'R') && !readiness_notified(dir)?;
        waits.push(if readiness { w.to_ascii_lowercase() } else { w });
    }
    if !cmds.is_empty() {
        send(dirs, cmds)?;
    }
    // One deadline for all: each supervisor's events wait in its own
    // FIFO while we wait on another's.
    let deadline = deadline(timeout);
    if let [watch] = &mut watches[..] {
        return match reach(watch, waits[0], !cmds.is_empty(), deadline)? {
            true => Ok(()),
            false => Err(failed_permanently(&dirs[0]).fatal(EXIT_NOT_RUNNING)),
        };
    }
    // Several: each one that does not get there is named, and the exit
    // code says the worst: 99 if any timed out, else 1.
    let (mut failed, mut late) = (0, 0);
    for ((watch, &w), dir) in watches.iter_mut().zip(&waits).zip(dirs) {
        match reach(watch, w, !cmds.is_empty(), deadline) {
            Ok(true) => {}
            Ok(false) => {
                warn(failed_permanently(dir));
                failed += 1;
            }
            Err(Error::Fatal {
                code: EXIT_TIMEOUT,
                msg,
            }) => {
                warn(msg);
                late += 1;
            }
            Err(e) => return Err(e),
        }
    }
    match (failed, late) {
        (0, 0) => Ok(()),
        (_, 0) => Err(Error::new(
            EXIT_NOT_RUNNING,
            format!("{failed} of {} instances failed", dirs.len()),
        )),
        _ => Err(Error::new(
            EXIT_TIMEOUT,
            format!("{} of {} instances failed or timed out", failed + late, dirs.len()),
        )),
    }
}

/// Wait until a service reaches the state of wait letter `w`. A restart
/// is a way down, then up: after commands, down means finished (as
/// s6-svlisten1 waits); with none, just down (s6-svwait). False when the
/// service cannot get there any more.
fn reach(watch: &mut Watch, w: u8, after_commands: bool, deadline: Option<Instant>) -> Result<bool, Error> {
    if matches!(w, b'r' | b'R') {
        let down = Target {
            up: false,
            ready: after_commands,
        };
        if !watch.until(down, deadline)? {
            return Ok(false);
        }
    }
    let target = Target {
        up: matches!(w, b'u' | b'U' | b'r' | b'R'),
        ready: w.is_ascii_uppercase(),
    };
    watch.until(target, deadline)
}

/// Send the commands to every supervisor. Up to s6 2.13, s6-svc stops at
/// the first that fails; from 2.14 it warns for each and exits with the
/// last one's code: so do we.
fn send(dirs: &[Loc], cmds: &[u8]) -> Result<(), Error> {
    let mut last = Ok(());
    for dir in dirs {
        if let Err(e) = supervise::command(dir, cmds) {
            match e {
                Error::Warned { code, msg } => {
                    if let Err(Error::Warned { msg, .. }) = last {
                        warn(msg);
                    }
                    last = Err(Error::Warned { code, msg });
                }
                e => return Err(e),
            }
        }
    }
    last
}

/// Whether the service notifies readiness; without `notification-fd`, a
/// wait for readiness becomes a wait for up, with a warning, as in s6.
fn readiness_notified(dir: &Loc) -> Result<bool, Error> {
    let fd_file = dir.join("notification-fd");
    match fd_file.stat() {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::ENOENT) => {
            warn(
                crate::diag::Msg::default()
                    .path(&fd_file)
                    .text(" not present - ignoring request for readiness notification"),
            );
            Ok(false)
        }
        Err(e) => Err(Error::sys("access", &fd_file, e)),
    }
}

/// The command letter for `-s signal`: s6-svc sends only the signals it
/// has a letter for.
pub(crate) fn signal_command(sig: &[u8]) -> Result<u8, Error> {
    const LETTERS: [(i32, u8); 12] = [
        (libc::SIGALRM, b'a'),
        (libc::SIGABRT, b'b'),
        (libc::SIGQUIT, b'q'),
        (libc::SIGHUP, b'h'),
        (libc::SIGKILL, b'k'),
        (libc::SIGTERM, b't'),
        (libc::SIGINT, b'i'),
        (libc::SIGUSR1, b'1'),
        (libc::SIGUSR2, b'2'),
        (libc::SIGSTOP, b'p'),
        (libc::SIGCONT, b'c'),
        (libc::SIGWINCH, b'y'),
    ];
    let n = sig_number(sig).ok_or_else(|| crate::diag::msg("invalid signal: ").text(sig).fatal(EXIT_USAGE))?;
    LETTERS.iter().find(|(s, _)| *s == n).map(|&(_, c)| c).ok_or_else(|| {
        let msg = crate::diag::msg(sig).text(" is not in the list of user-available signals");
        msg.fatal(EXIT_USAGE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        for (s, c) in [
            ("TERM", b't'),
            ("sigterm", b't'),
            ("15", b't'),
            ("SIG1", b'h'),
            ("iot", b'b'),
            ("WINCH", b'y'),
        ] {
            assert_eq!(signal_command(s.as_bytes()), Ok(c), "{s}");
        }
        for s in ["", "FOO", "SIG", "-1", "1x", "SIGSIGTERM"] {
            assert_eq!(signal_command(s.as_bytes()).unwrap_err().code(), EXIT_USAGE, "{s}");
        }
        let e = signal_command(b"100").unwrap_err();
        assert_eq!(
            e,
            Error::new(EXIT_USAGE, "100 is not in the list of user-available signals")
        );
        assert_eq!(
            signal_command(b"FOO").unwrap_err(),
            Error::new(EXIT_USAGE, "invalid signal: FOO")
        );
    }
}

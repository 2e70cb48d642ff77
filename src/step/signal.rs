//! s6i-signal: send s6-svc commands to an instance's supervisor, and
//! optionally wait until the instance reaches a state.

use std::ffi::OsString;

use crate::diag::{bytes, errno_of, warn, Error, EXIT_NOT_RUNNING, EXIT_USAGE};
use crate::getopt::{deadline, number, operands, Getopt};
use crate::layout;
use crate::supervise;
use crate::svwait::{Target, Watch};

pub const USAGE: &str = "s6i-signal [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -abqhkti12pcyroduDUxO ] service name [ prog... ]";
const COMMANDS: &str = "abqhkti12pcyroduDUxO";
/// s6-svc's limit on commands in one call.
const MAX_COMMANDS: usize = 62;

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut cmds, mut wait, mut timeout) = (Vec::new(), None, 0);
    let mut opts = Getopt::new(&argv, "abqhkti12pcyroduDUxOT:w:");
    for opt in opts.by_ref() {
        match opt? {
            (b'T', Some(v)) => timeout = number(v)?,
            (b'w', Some(v)) => match v.as_encoded_bytes().first() {
                Some(&c) if b"dDuUrR".contains(&c) => wait = Some(c),
                _ => return Err(Error::Usage),
            },
            (c, None) if COMMANDS.as_bytes().contains(&c) => {
                if cmds.len() >= MAX_COMMANDS {
                    return Err(Error::new(EXIT_USAGE, "too many commands"));
                }
                cmds.push(c);
            }
            _ => return Err(Error::Usage),
        }
    }
    let (ops, prog) = operands(opts.rest(), 2)?;
    let (service, name) = layout::service_and_name(ops)?;
    let dir = service.link(name);
    let Some(mut w) = wait else {
        supervise::command(&dir, &cmds)?;
        return Ok(prog.to_vec());
    };
    if matches!(w, b'U' | b'R') && !readiness_notified(&dir)? {
        w = w.to_ascii_lowercase();
    }
    // Subscribe before sending, so the answer cannot be missed.
    let mut watch = Watch::start(&dir)?;
    if !cmds.is_empty() {
        supervise::command(&dir, &cmds)?;
    }
    let deadline = deadline(timeout);
    let ready = w.is_ascii_uppercase();
    let mut ok = true;
    if matches!(w, b'r' | b'R') {
        // A restart is a way down, then up. After commands, down means
        // finished (s6-svlisten1); with none, just down (s6-svwait).
        ok = watch.until(
            Target {
                up: false,
                ready: !cmds.is_empty(),
            },
            deadline,
        )?;
    }
    if ok {
        ok = watch.until(
            Target {
                up: matches!(w, b'u' | b'U' | b'r' | b'R'),
                ready,
            },
            deadline,
        )?;
    }
    if !ok {
        let mut msg = bytes(&dir).to_vec();
        msg.extend_from_slice(b" failed permanently or its supervisor died");
        return Err(Error::new(EXIT_NOT_RUNNING, msg));
    }
    Ok(prog.to_vec())
}

/// Whether the service notifies readiness; without `notification-fd`, a
/// wait for readiness becomes a wait for up, with a warning, as in s6.
fn readiness_notified(dir: &std::path::Path) -> Result<bool, Error> {
    let fd_file = dir.join("notification-fd");
    match std::fs::metadata(&fd_file) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut msg = bytes(&fd_file).to_vec();
            msg.extend_from_slice(b" not present - ignoring request for readiness notification");
            warn(msg);
            Ok(false)
        }
        Err(e) => Err(Error::sys("access", &fd_file, errno_of(&e))),
    }
}

//! s6i-change: give instances already there the `env/` that s6i-plan's
//! set says (`-S fd`), then restart them, signal them or leave them
//! alone (`-R`), and wait for the restarted ones to be back up (or up
//! and ready, `-w U`). With `-v`, says `~name` for each.
//!
//! One step, not a chain of smaller ones: each instance's
//! `.s6i-changed` mark is written before its `env/` is swapped and
//! removed once the service is told, so that a chain killed in between
//! leaves the instance for the next sync to change again (see
//! s6-instance-steps(7)).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use crate::diag::Error;
use crate::envdir::{self, Env};
use crate::layout::Service;
use crate::restart::Before;

pub const USAGE: &str =
    "s6i-change [ -e ] [ -v ] [ -R action ] [ -w u | -w U ] [ -t timeout ] -S fd service name|{ name... } [ prog... ]";

/// What a changed instance gets once its new `env/` is in (`-R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A down then an up (crate::restart), then wait per `-w`.
    Restart,
    /// Nothing: the service reads its new `env/` when it next starts.
    Nothing,
    /// An s6-svc signal letter.
    Signal(u8),
}

/// `-R`'s argument.
pub fn action(v: &[u8]) -> Result<Action, Error> {
    match v {
        b"restart" => Ok(Action::Restart),
        b"none" => Ok(Action::Nothing),
        sig => crate::step::signal::signal_command(sig).map(Action::Signal),
    }
}

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut act, mut ready, mut set) = (Action::Restart, false, None);
    let n = super::names::parse(&argv, "evt:R:w:S:", |c, v| {
        match (c, v.map(OsStr::as_bytes)) {
            (b'R', Some(v)) => act = action(v)?,
            (b'w', Some(b"u")) => ready = false,
            (b'w', Some(b"U")) => ready = true,
            (b'S', Some(_)) => set = v,
            _ => return Err(Error::Usage),
        }
        Ok(())
    })?;
    let set = super::saved::load(set.ok_or(Error::Usage)?)?;
    if !n.names.is_empty() {
        change(
            &n.service,
            &|name| set.get(name),
            &n.list(),
            act,
            ready,
            n.verbose,
            n.deadline(),
        )?;
    }
    Ok(n.next())
}

/// Swap in the new env/ of each instance of a wave, then restart or
/// signal those whose service is up, as `act` says, say `~name` for each
/// (with `say`), and wait for the restarted ones.
pub fn change<'s>(
    service: &Service,
    env_of: &dyn Fn(&OsStr) -> Option<&'s Env>,
    wave: &[&OsStr],
    act: Action,
    ready: bool,
    say: bool,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let mut restart = Vec::new();
    let defaults = envdir::defaults(service, wave.iter().any(|&n| env_of(n).is_some()))?;
    for &name in wave {
        let dir = service.instance_dir(name);
        // Marked until the service is told (see envdir::CHANGED).
        if act != Action::Nothing {
            envdir::mark_changed(&dir)?;
        }
        if let Some(env) = env_of(name) {
            if envdir::differs(&dir, &defaults, env)? {
                envdir::install(&dir, &defaults, env)?;
            }
        }
        // Up, and how it is wanted: a restart puts it back so. One down
        // (wanted so, or dying and about to be restarted by its
        // supervisor) starts on its new env/ when it next starts.
        let status = crate::supervise::is_running(&dir)
            .unwrap_or(false)
            .then(|| crate::svstatus::Status::read(&dir).ok())
            .flatten()
            .filter(|st| st.is_up());
        match (act, status) {
            (Action::Signal(c), Some(_)) => crate::supervise::command(&dir, &[c])?,
            (Action::Restart, Some(st)) => {
                restart.push((name, if st.wantup { Before::WantedUp } else { Before::Once }))
            }
            _ => {}
        }
    }
    // A down then an up: see crate::restart.
    let (names, before): (Vec<&OsStr>, Vec<Before>) = restart.into_iter().unzip();
    let back = crate::restart::restart(service, &names, &before, deadline)?;
    if act != Action::Nothing {
        for &name in wave {
            envdir::clear_changed(&service.instance_dir(name))?;
        }
    }
    if say {
        super::names::say(b'~', wave)?;
    }
    super::wait_supervise::wait_up(service, back, ready, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(action(b"restart"), Ok(Action::Restart));
        assert_eq!(action(b"none"), Ok(Action::Nothing));
        assert_eq!(action(b"HUP"), Ok(Action::Signal(b'h')));
        assert_eq!(action(b"SIGUSR1"), Ok(Action::Signal(b'1')));
        assert_eq!(action(b"BOGUS").unwrap_err().code(), 100);
        assert_eq!(action(b"SIGCHLD").unwrap_err().code(), 100);
    }
}

//! Waiting for a supervised service to reach a state, from the events
//! its s6-supervise announces in `event/`: `u` up, `U` up and ready, `d`
//! down, `D` down and finished, `O` will not restart, `x` exiting.

use std::time::Instant;

use crate::diag::{Error, EXIT_SYS, EXIT_TIMEOUT};
use crate::door::Loc;
use crate::fifodir::Listener;
use crate::svstatus::Status;
use crate::wait::WaitError;

/// A state to wait for: up or down, and whether ready (for a down
/// service, ready means its finish script is done).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub up: bool,
    pub ready: bool,
}

/// `DIR failed permanently or its supervisor died`: a wait for up that
/// ends with `O` (will not restart) or `x` (supervisor exiting).
pub fn failed_permanently(dir: &(impl crate::diag::Shown + ?Sized)) -> crate::diag::Msg {
    crate::diag::Msg::default()
        .path(dir)
        .text(" failed permanently or its supervisor died")
}

/// Services that did not reach a state in time: exit 99, naming them.
pub fn late<N: AsRef<std::ffi::OsStr>>(names: impl IntoIterator<Item = N>, state: &str) -> Error {
    crate::diag::msg("timed out waiting for instances to be ")
        .text(state)
        .text(":")
        .names(names)
        .fatal(EXIT_TIMEOUT)
}

/// A subscription to one service's events, with its last known state.
pub struct Watch {
    dir: Loc,
    listener: Listener,
    up: bool,
    ready: bool,
}

impl Watch {
    /// Subscribe to `svdir`'s events, then read its state: the order that
    /// loses nothing in between.
    pub fn start(svdir: &Loc) -> Result<Watch, Error> {
        let ev = crate::supervise::eventdir(svdir);
        // s6-supervise makes event/ when it starts; make it if it has
        // not. Whatever is refused there is then refused by the
        // subscription too (it opens only a real directory).
        let _ = crate::supervise::make_eventdir(svdir, false, false);
        let listener = Listener::subscribe(&ev).map_err(|e| Error::sys("subscribe to events for", svdir, e))?;
        let st = Status::read(svdir).map_err(|e| Error::sys("read status for", svdir, e))?;
        Ok(Watch {
            dir: svdir.clone(),
            listener,
            up: st.is_up(),
            ready: st.ready,
        })
    }

    /// Its subscription, for a wait on many services at once; that wait
    /// reads the events, so this watch's state is stale afterwards.
    pub fn listener(&self) -> &Listener {
        &self.listener
    }

    /// Whether the service was up, as last known.
    pub fn is_up(&self) -> bool {
        self.up
    }

    fn reached(&self, t: Target) -> bool {
        self.up == t.up && (!t.ready || self.ready)
    }

    /// Wait until the service reaches `target`. Ok(false) when it cannot
    /// any more: its supervisor exits, or it will not be restarted.
    pub fn until(&mut self, target: Target, deadline: Option<Instant>) -> Result<bool, Error> {
        if self.reached(target) {
            return Ok(true);
        }
        let (mut failed, mut done) = (false, false);
        let listener = &self.listener;
        let (up, ready) = (&mut self.up, &mut self.ready);
        // Events read after the one that ends the wait still move the
        // state on, for the next wait on this service.
        let r = crate::wait::events(&[listener], deadline, |_, ev| {
            match ev {
                b'd' | b'D' | b'u' | b'U' => {
                    *up = ev.eq_ignore_ascii_case(&b'u');
                    *ready = ev.is_ascii_uppercase();
                }
                b'x' | b'O' if !done && (ev == b'x' || target.up) => {
                    // Nothing more will happen: stop waiting, as a failure
                    // unless the service already is where it was wanted.
                    failed |= ev == b'O' || *up != target.up || *ready != target.ready;
                    (*up, *ready) = (target.up, target.ready);
                    done = true;
                }
                _ => {}
            }
            done |= *up == target.up && (!target.ready || *ready);
            done
        });
        match r {
            Ok(()) => Ok(!failed),
            Err(WaitError::Timeout) => {
                let state = match (target.up, target.ready) {
                    (true, false) => "up",
                    (true, true) => "up and ready",
                    (false, false) => "down",
                    (false, true) => "down and finished",
                };
                let msg = crate::diag::msg(format!("timed out waiting for {state} on ")).path(&self.dir);
                Err(msg.fatal(EXIT_TIMEOUT))
            }
            Err(WaitError::Sys(e)) => Err(Error::sys_code(EXIT_SYS, "wait for events of", &self.dir, e)),
        }
    }
}

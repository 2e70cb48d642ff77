//! s6i-wait-supervise: have the nested scanner start a supervisor on a
//! linked instance, and wait until it runs; with `-w u` or `-w U`, then
//! until the new instances are up, or up and ready.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use crate::create::{self, Start};
use crate::diag::{Error, EXIT_NOT_RUNNING, EXIT_TIMEOUT};
use crate::layout::Service;
use crate::svwait::{Target, Watch};

pub const USAGE: &str =
    "s6i-wait-supervise [ -e ] [ -v ] [ -d | -D ] [ -t timeout ] [ -w u | -w U ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut up: Option<bool> = None;
    let n = super::names::parse(&argv, "evdDt:w:", |c, v| {
        match (c, v.map(OsStr::as_bytes)) {
            (b'w', Some(b"u")) => up = Some(false),
            (b'w', Some(b"U")) => up = Some(true),
            _ => return Err(Error::Usage),
        }
        Ok(())
    })?;
    if n.names.is_empty() {
        return Ok(n.next());
    }
    let names = n.list();
    let deadline = n.deadline();
    let waited = create::await_supervisors(&n.service, &names, n.start, deadline)
        .and_then(|()| {
            if n.verbose {
                super::names::say(b'+', &names)
            } else {
                Ok(())
            }
        })
        .and_then(|()| match (up, n.start) {
            (Some(ready), Start::Up) => wait_for_up(&n.service, &names, ready, deadline),
            _ => Ok(()),
        });
    // Done with, made or taken back (see crate::recover).
    for name in &names {
        crate::journal::close("create", name.as_bytes());
    }
    waited?;
    Ok(n.next())
}

/// Wait until the named instances are up (and ready, with `ready`),
/// but those their template makes normally down.
fn wait_for_up(service: &Service, names: &[&OsStr], ready: bool, deadline: Option<Instant>) -> Result<(), Error> {
    let mut watches = Vec::with_capacity(names.len());
    for name in names {
        let dir = service.instance_dir(name);
        if !dir.join("down").present() {
            watches.push((*name, Watch::start(&dir)?));
        }
    }
    wait_up(service, watches, ready, deadline)
}

/// For a sync told to wait: the instances of the set that commands
/// killed since made and linked but never saw supervised, or up, are
/// waited for as the new ones are, so that its exit 0 says the whole
/// set is up.
pub fn settle(service: &Service, names: &[&OsStr], ready: bool, deadline: Option<Instant>) -> Result<(), Error> {
    if names.is_empty() {
        return Ok(());
    }
    create::await_left(service, names, deadline)?;
    wait_for_up(service, names, ready, deadline)
}

/// Wait until every instance watched is up (and ready, with `ready`, if
/// it notifies readiness): one deadline for all. Those that are not in
/// time are named, exit 99; one that cannot come up any more, exit 1.
pub fn wait_up(
    service: &Service,
    watches: Vec<(&OsStr, Watch)>,
    ready: bool,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let mut late = Vec::new();
    for (name, mut watch) in watches {
        let dir = service.instance_dir(name);
        let target = Target {
            up: true,
            ready: ready && dir.join("notification-fd").present(),
        };
        match watch.until(target, deadline) {
            Ok(true) => {}
            Ok(false) => return Err(failed(service, name)),
            Err(e) if e.code() == EXIT_TIMEOUT => late.push(name),
            Err(e) => return Err(e),
        }
    }
    if late.is_empty() {
        return Ok(());
    }
    Err(crate::svwait::late(&late, if ready { "up and ready" } else { "up" }))
}

fn failed(service: &Service, name: &OsStr) -> Error {
    crate::svwait::failed_permanently(&service.instance_dir(name)).fatal(EXIT_NOT_RUNNING)
}

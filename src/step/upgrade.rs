//! s6i-upgrade: move running instances onto the current template, a
//! batch at a time, and put back the batch when one does not come up on
//! it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::diag::{self, Error};
use crate::getopt::{number, Getopt};
use crate::layout::Service;
use crate::upgrade::{self, Outcome, Wait};

pub const USAGE: &str = "s6i-upgrade [ -p max ] [ -w u|U ] [ -m minup ] [ -t timeout ] service [ name... ]";

/// How long a new run without readiness must stay up, by default:
/// s6-supervise's own pause between two runs of a service that dies.
const MIN_UP: u32 = 1000;

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut parallel, mut wait, mut timeout, mut min_up) = (1, None, 0, MIN_UP);
    let mut opts = Getopt::new(&argv, "p:w:m:t:");
    for opt in opts.by_ref() {
        match opt? {
            (b'p', Some(v)) => parallel = number(v)?.max(1) as usize,
            (b'w', Some(v)) => {
                wait = match v.as_bytes() {
                    b"u" => Some(Wait::Up),
                    b"U" => Some(Wait::Ready),
                    _ => return Err(Error::Usage),
                }
            }
            (b't', Some(v)) => timeout = number(v)?,
            (b'm', Some(v)) => min_up = number(v)?,
            _ => return Err(Error::Usage),
        }
    }
    let (service, names) = opts.rest().split_first().ok_or(Error::Usage)?;
    for name in names {
        crate::name::check(name.as_bytes())?;
        crate::name::not_an_option(name.as_bytes())?;
    }
    let service = Service::new(service)?;
    service.check_live()?;
    // A batch's new supervisors start while the old ones still run: only
    // as many at a time as the nested scanner has room for, and none if
    // it is full, said at once rather than waited for.
    let mut room_for_two = true;
    if let Some(room) = service.capacity()? {
        let used = room.services(service.instance_names()?.len());
        let free = room.max.saturating_sub(used) / room.per_instance;
        if free == 0 {
            return Err(room.refuse("upgrade", used + room.per_instance));
        }
        parallel = parallel.min(free);
        room_for_two = 2 * parallel <= free;
    }
    // A batch of one is staged during the wait for the one before, where
    // the scanner has room for both: the scanner's work is then most of
    // a move. A larger batch's own starts are, and a staged batch's
    // would only compete with them for the processors.
    let ahead = parallel == 1 && room_for_two;
    let names: Vec<&OsStr> = names.iter().map(|n| n.as_os_str()).collect();
    let timeout = (timeout > 0).then(|| Duration::from_millis(u64::from(timeout)));
    let min_up = Duration::from_millis(u64::from(min_up));
    let report = upgrade::upgrade(&service, &names, parallel, ahead, wait, min_up, timeout)?;
    let mut out = Vec::new();
    for (name, outcome) in report {
        if outcome == Outcome::Upgraded {
            out.extend_from_slice(name.as_os_str().as_bytes());
            out.extend_from_slice(b": upgraded\n");
        }
    }
    diag::write_stdout(&out)?;
    Ok(Vec::new())
}

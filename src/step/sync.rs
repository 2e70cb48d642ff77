//! s6i-sync: make the set of instances of an instanced service exactly
//! the set given: create the missing ones, delete the extra ones, and
//! leave the others alone, whatever their state. A set given as set
//! lines (`-f file`, or `-f -` on stdin) or as envdirs (`-E`) also says each
//! instance's `env/` (see crate::envdir): the instances whose `env/`
//! differs get the new one swapped in, then are restarted, signalled or
//! left alone (`-R`). New and restarted instances can be started a few
//! at a time (`-p`), each wave waited for (`-w`) before the next.
//!
//! The whole of a sync in one step, kept for the scripts that call it:
//! s6-instance-sync is now a chain of the steps that do each part
//! (s6i-plan, s6i-waves, s6i-clone, s6i-env, s6i-link,
//! s6i-wait-supervise, s6i-change, s6i-unlink, s6i-remove), whose code
//! this step shares.

use std::ffi::{OsStr, OsString};
use std::time::Instant;

use crate::create::{self, Start};
use crate::delete;
use crate::diag::{self, Error};
use crate::fifodir::EventDir;
use crate::layout::Service;
use crate::svwait::Watch;
use crate::wait::deadline;

use super::change;
use super::plan::{lines, plan, refs, Set, SyncOpts};

pub const USAGE: &str = "s6i-sync [ -d | -D ] [ -t timeout ] [ -n ] [ -e ] [ -p max ] [ -w u | -w U ] [ -R action ] [ -f file | -E dir | -N count ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut o, rest) = SyncOpts::parse(&argv, "dDt:nep:w:R:f:E:N:")?;
    let (service, set, prog) = std::mem::take(&mut o.source).read(rest)?;
    service.check_live()?;
    super::plan::refuse_empty(&service, &set, o.empty_ok)?;
    sync(&service, set, &o)?;
    Ok(prog.to_vec())
}

/// Do it: plan, then (unless a dry run) create, change, delete.
fn sync(service: &Service, mut set: Set, o: &SyncOpts) -> Result<(), Error> {
    let p = plan(service, &mut set, o.dry_run)?;
    if o.dry_run {
        return p.print();
    }
    let delete_first = p.delete_first(service, set.len())?;
    p.prepare(service)?;
    let (missing, changed, extra, left) = (refs(&p.missing), refs(&p.changed), refs(&p.extra), refs(&p.left));
    let deadline_now = || deadline(o.shared.timeout);
    if delete_first {
        delete(service, &extra, &left, deadline_now())?;
    }
    // As create and delete do, in bulk: one copy each, one scanner poke,
    // one wait; a create that fails leaves none of the new instances of
    // its wave.
    for wave in waves(&missing, o.parallel) {
        let deadline = deadline_now();
        create::clone(service, wave, create::CopyAt::Hidden, deadline)?;
        // Their env/ goes into the copies before they are linked: they
        // start with it.
        for name in wave {
            if let Some(Some(env)) = set.get(*name) {
                if let Err(e) = create::install_env(service, name, &p.defaults, env) {
                    create::undo_create(service, wave);
                    return Err(e);
                }
            }
        }
        create::link(service, wave, o.shared.start, EventDir::default())?;
        create::await_supervisors(service, wave, o.shared.start, deadline)?;
        super::names::say(b'+', wave)?;
        if o.wait_new && o.shared.start == Start::Up {
            // Those the template makes normally down are not waited for.
            let mut watches = Vec::with_capacity(wave.len());
            for name in wave {
                let dir = service.instance_dir(name);
                if !dir.join("down").present() {
                    watches.push((*name, Watch::start(&dir)?));
                }
            }
            super::wait_supervise::wait_up(service, watches, o.ready, deadline)?;
        }
    }
    let env_of = |name: &OsStr| set.get(name).and_then(Option::as_ref);
    for wave in waves(&changed, o.parallel) {
        change::change(service, &env_of, wave, o.action, o.ready, true, deadline_now())?;
    }
    if !delete_first {
        delete(service, &extra, &left, deadline_now())?;
    }
    Ok(())
}

/// `names` by waves of at most `max` (all in one when `max` is 0).
fn waves<'a, 'b>(names: &'b [&'a OsStr], max: usize) -> impl Iterator<Item = &'b [&'a OsStr]> {
    names.chunks(if max == 0 { names.len().max(1) } else { max })
}

/// Delete the instances `extra` in bulk and say which went; and those
/// killed chains `left`, unsaid.
fn delete(service: &Service, extra: &[&OsStr], left: &[&OsStr], deadline: Option<Instant>) -> Result<(), Error> {
    let all: Vec<&OsStr> = extra.iter().chain(left).copied().collect();
    if all.is_empty() {
        return Ok(());
    }
    delete::unlink(service, &all, true, deadline)?;
    let kept = delete::remove(service, &all)?;
    let removed: Vec<OsString> = extra
        .iter()
        .filter(|n| !kept.contains(n))
        .map(|n| n.to_os_string())
        .collect();
    diag::write_stdout(&lines(b'-', &removed))
}

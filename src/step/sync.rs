//! s6i-sync: make the set of instances of an instanced service exactly
//! the names given: create the missing ones in bulk, then delete the
//! extra ones in bulk, and leave the others alone, whatever their state.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::diag::{self, Error, EXIT_SYS};
use crate::getopt::{deadline, number, Getopt};
use crate::instance::{self, EventDir, Start};
use crate::layout;

pub const USAGE: &str = "s6i-sync [ -d | -D ] [ -t timeout ] [ -n ] service name|{ name... } [ prog... ]";

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let (mut start, mut timeout, mut dry_run) = (Start::Up, 0, false);
    let mut opts = Getopt::new(&argv, "dDt:n");
    for opt in opts.by_ref() {
        match opt? {
            (c @ (b'd' | b'D'), _) => start.set(c),
            (b't', Some(v)) => timeout = number(v)?,
            (b'n', _) => dry_run = true,
            _ => return Err(Error::Usage),
        }
    }
    let (service, mut names, prog) = layout::service_and_names(opts.rest())?;
    // `-` alone: the names are the lines of standard input, each checked
    // before anything is done.
    if names.len() == 1 && names[0] == "-" {
        names = names_from_stdin()?;
        for name in &names {
            crate::name::check(name.as_bytes())?;
        }
    }
    for name in &names {
        crate::name::not_an_option(name.as_bytes())?;
    }
    service.check_live()?;
    let wanted: BTreeSet<OsString> = names.into_iter().collect();
    let there: BTreeSet<OsString> = service.instance_names()?.into_iter().collect();
    let missing: Vec<&OsStr> = wanted.difference(&there).map(|n| n.as_os_str()).collect();
    let extra: Vec<&OsStr> = there.difference(&wanted).map(|n| n.as_os_str()).collect();
    // Instances that killed deletes (or creates) left unlinked are not
    // listed, and not part of the set: those not named go with the extra
    // ones, unsaid. Those named are finished by the create phase.
    let left = instance::left_unlinked(&service)?;
    let left: Vec<&OsStr> = left
        .iter()
        .map(|n| n.as_os_str())
        .filter(|n| !wanted.contains(*n))
        .collect();
    let kept: Vec<&OsStr> = wanted.intersection(&there).map(|n| n.as_os_str()).collect();
    if dry_run {
        diag::write_stdout(&plan(b'+', &missing))?;
        diag::write_stdout(&plan(b'-', &extra))?;
        return Ok(prog.to_vec());
    }
    // The nested scanner supervises so many services at most: a set that
    // cannot fit is refused before anything is done, and one that fits
    // only once the extra instances are gone has them deleted first.
    let room = service.capacity()?;
    let delete_first = match room {
        Some(room) if room.services(wanted.len()) > room.max => {
            return Err(room.refuse("sync", room.services(wanted.len())))
        }
        Some(room) => room.services(there.len() + missing.len()) > room.max,
        None => false,
    };
    let deadline = deadline(timeout);
    // What killed commands left: hidden trees (swept by the creates
    // below when there are any), stale marks, unannounced links.
    if missing.is_empty() {
        crate::leftovers::finish(&service);
    }
    instance::tidy_kept(&service, &kept);
    if delete_first {
        delete(&service, &extra, &left, deadline)?;
    }
    // As create and delete do, in bulk: one copy each, one scanner poke,
    // one wait; a create that fails leaves none of the new instances.
    if !missing.is_empty() {
        service.make_instances_dir()?;
        instance::clone(&service, &missing, deadline)?;
        instance::link(&service, &missing, start, EventDir::default())?;
        instance::await_supervisors(&service, &missing, start, deadline)?;
        diag::write_stdout(&plan(b'+', &missing))?;
    }
    if !delete_first {
        delete(&service, &extra, &left, deadline)?;
    }
    Ok(prog.to_vec())
}

/// Delete the instances `extra` in bulk and say which went; and those
/// killed chains `left`, unsaid.
fn delete(
    service: &layout::Service,
    extra: &[&OsStr],
    left: &[&OsStr],
    deadline: Option<std::time::Instant>,
) -> Result<(), Error> {
    let all: Vec<&OsStr> = extra.iter().chain(left).copied().collect();
    if all.is_empty() {
        return Ok(());
    }
    instance::unlink(service, &all, true, deadline)?;
    let kept = instance::remove(service, &all)?;
    let removed: Vec<&OsStr> = extra.iter().copied().filter(|n| !kept.contains(n)).collect();
    diag::write_stdout(&plan(b'-', &removed))
}

/// `+name` or `-name`, a line each.
fn plan(sign: u8, names: &[&OsStr]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        out.push(sign);
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out
}

/// One name per line of standard input (a last line without a newline
/// counts too).
fn names_from_stdin() -> Result<Vec<OsString>, Error> {
    let mut input = Vec::new();
    std::io::stdin().lock().read_to_end(&mut input).map_err(|e| {
        Error::new(
            EXIT_SYS,
            format!("unable to read stdin: {}", diag::reason(diag::errno_of(&e))),
        )
    })?;
    // No input is no name; a lone newline is one empty name (refused).
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let input = input.strip_suffix(b"\n").unwrap_or(&input);
    Ok(input
        .split(|&b| b == b'\n')
        .map(|l| OsString::from_vec(l.to_vec()))
        .collect())
}

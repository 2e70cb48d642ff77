//! s6i-sync: make the set of instances of an instanced service exactly
//! the set given: create the missing ones, delete the extra ones, and
//! leave the others alone, whatever their state. A set given as set
//! lines (`-f`, or `-` on stdin) or as envdirs (`-E`) also says each
//! instance's `env/` (see crate::envdir): the instances whose `env/`
//! differs get the new one swapped in, then are restarted, signalled or
//! left alone (`-R`). New and restarted instances can be started a few
//! at a time (`-p`), each wave waited for (`-w`) before the next.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::Instant;

use crate::create::{self, Start};
use crate::diag::{self, Error, EXIT_NOT_RUNNING, EXIT_SYS, EXIT_TIMEOUT, EXIT_USAGE};
use crate::envdir::{self, Env};
use crate::fifodir::EventDir;
use crate::getopt::{number, Getopt};
use crate::layout::{self, Service};
use crate::svwait::{Target, Watch};
use crate::wait::deadline;
use crate::{delete, pending};

pub const USAGE: &str = "s6i-sync [ -d | -D ] [ -t timeout ] [ -n ] [ -p max ] [ -w u | -w U ] [ -R action ] [ -f file | -E dir | -N count ] service name|{ name... } [ prog... ]";

/// Where the set comes from.
enum Source {
    /// Names on the command line (`-` alone: set lines on stdin).
    Names,
    /// `-f file`: set lines.
    File(OsString),
    /// `-E dir`: a subdirectory per instance, each an envdir.
    Dirs(OsString),
    /// `-N count`: the names 1 to count.
    Count(u32),
}

/// What a changed instance gets once its new `env/` is in (`-R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// `s6-svc -r`, then wait per `-w`.
    Restart,
    /// Nothing: the service reads its new `env/` when it next starts.
    Nothing,
    /// An s6-svc signal letter.
    Signal(u8),
}

/// The options of one run.
struct Opts {
    start: Start,
    timeout: u32,
    dry_run: bool,
    /// Instances started at a time; 0: all at once.
    parallel: usize,
    /// `-w U`: up and ready, not only up.
    ready: bool,
    /// `-p` or `-w` given: new instances are waited for too.
    wait_new: bool,
    action: Action,
}

/// The set: each name, with its `env/` when the set manages it.
type Set = BTreeMap<OsString, Option<Env>>;

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let mut o = Opts {
        start: Start::Up,
        timeout: 0,
        dry_run: false,
        parallel: 0,
        ready: false,
        wait_new: false,
        action: Action::Restart,
    };
    let mut source = Source::Names;
    let mut sources = BTreeSet::new();
    let mut opts = Getopt::new(&argv, "dDt:np:w:R:f:E:N:");
    for opt in opts.by_ref() {
        match opt? {
            (c @ (b'd' | b'D'), _) => o.start.set(c),
            (b't', Some(v)) => o.timeout = number(v)?,
            (b'n', _) => o.dry_run = true,
            (b'p', Some(v)) => {
                o.parallel = number(v)? as usize;
                o.wait_new = true;
            }
            (b'w', Some(v)) => {
                o.ready = match v.as_bytes() {
                    b"u" => false,
                    b"U" => true,
                    _ => return Err(Error::Usage),
                };
                o.wait_new = true;
            }
            (b'R', Some(v)) => o.action = action(v.as_bytes())?,
            (c @ b'f', Some(v)) => {
                sources.insert(c);
                source = Source::File(v.to_owned());
            }
            (c @ b'E', Some(v)) => {
                sources.insert(c);
                source = Source::Dirs(v.to_owned());
            }
            (c @ b'N', Some(v)) => {
                sources.insert(c);
                source = Source::Count(number(v)?);
            }
            _ => return Err(Error::Usage),
        }
    }
    if sources.len() > 1 {
        return Err(Error::Usage);
    }
    let (service, set, prog) = match source {
        Source::Names => {
            // No name at all (an empty block) is a usage error here.
            if opts.rest().get(1).is_some_and(|w| w.is_empty()) {
                return Err(Error::Usage);
            }
            let (service, mut names, prog) = layout::service_and_names(opts.rest())?;
            // `-` alone: set lines on standard input, as with -f.
            if names.len() == 1 && names[0] == "-" {
                (service, set_lines(&read_stdin()?)?, prog)
            } else {
                for name in &names {
                    crate::name::not_an_option(name.as_bytes())?;
                }
                names.sort();
                (service, names.into_iter().map(|n| (n, None)).collect(), prog)
            }
        }
        Source::File(f) => {
            let (service, prog) = service_alone(opts.rest())?;
            (service, set_lines(&read_file(Path::new(&f))?)?, prog)
        }
        Source::Dirs(d) => {
            let (service, prog) = service_alone(opts.rest())?;
            (service, set_dirs(Path::new(&d))?, prog)
        }
        Source::Count(n) => {
            let (service, prog) = service_alone(opts.rest())?;
            let set = (1..=n).map(|i| (OsString::from(i.to_string()), None)).collect();
            (service, set, prog)
        }
    };
    service.check_live()?;
    sync(&service, set, &o)?;
    Ok(prog.to_vec())
}

/// `-R`'s argument.
fn action(v: &[u8]) -> Result<Action, Error> {
    match v {
        b"restart" => Ok(Action::Restart),
        b"none" => Ok(Action::Nothing),
        sig => crate::step::signal::signal_command(sig).map(Action::Signal),
    }
}

/// The operands when the set comes from an option: the service, then
/// no names (an empty block, `{ }`, as a script passes an empty list,
/// or nothing at all), then prog.
fn service_alone(rest: &[OsString]) -> Result<(Service, &[OsString]), Error> {
    let (service, after) = rest.split_first().ok_or(Error::Usage)?;
    let prog = match after.split_first() {
        None => after,
        Some((w, prog)) if w.is_empty() => prog,
        Some(_) => return Err(Error::Usage),
    };
    Ok((Service::new(service)?, prog))
}

/// Do it: plan, then (unless a dry run) create, change, delete.
fn sync(service: &Service, mut set: Set, o: &Opts) -> Result<(), Error> {
    let managed = set.values().any(Option::is_some);
    if managed {
        // Every instance's env/: the template's, with its own added.
        let defaults = envdir::template_env(&service.template()?)?;
        for env in set.values_mut().flatten() {
            *env = envdir::overlay(&defaults, std::mem::take(env));
        }
    }
    let there: BTreeSet<OsString> = service.instance_names()?.into_iter().collect();
    let missing: Vec<&OsStr> = set
        .keys()
        .filter(|n| !there.contains(*n))
        .map(|n| n.as_os_str())
        .collect();
    let extra: Vec<&OsStr> = there
        .iter()
        .filter(|n| !set.contains_key(*n))
        .map(|n| n.as_os_str())
        .collect();
    // Instances that killed deletes (or creates) left unlinked are not
    // listed, and not part of the set: those not named go with the extra
    // ones, unsaid. Those named are finished by the create phase.
    let left = pending::left_unlinked(service)?;
    let left: Vec<&OsStr> = left
        .iter()
        .map(|n| n.as_os_str())
        .filter(|n| !set.contains_key(*n))
        .collect();
    let kept: Vec<&OsStr> = there
        .iter()
        .filter(|n| set.contains_key(*n))
        .map(|n| n.as_os_str())
        .collect();
    // The instances kept whose env/ is not what the set says.
    let mut changed: Vec<&OsStr> = Vec::new();
    for (name, env) in &set {
        if let (Some(env), true) = (env, there.contains(name)) {
            if !o.dry_run {
                envdir::sweep(&service.instance_dir(name));
            }
            // A killed sync may have swapped env/ in without telling the
            // service: its mark makes the instance changed again.
            let dir = service.instance_dir(name);
            if envdir::differs(&dir, env)? || envdir::changed_by_dead_chain(&dir) {
                changed.push(name);
            }
        }
    }
    if o.dry_run {
        diag::write_stdout(&plan(b'+', &missing))?;
        diag::write_stdout(&plan(b'~', &changed))?;
        diag::write_stdout(&plan(b'-', &extra))?;
        return Ok(());
    }
    // The nested scanner supervises so many services at most: a set that
    // cannot fit is refused before anything is done, and one that fits
    // only once the extra instances are gone has them deleted first.
    let room = service.capacity()?;
    let delete_first = match room {
        Some(room) if room.services(set.len()) > room.max => return Err(room.refuse("sync", room.services(set.len()))),
        Some(room) => room.services(there.len() + missing.len()) > room.max,
        None => false,
    };
    let deadline_now = || deadline(o.timeout);
    // What killed commands left: hidden trees (swept by the creates
    // below when there are any), stale marks, unannounced links.
    if missing.is_empty() {
        crate::leftovers::finish(service);
    }
    pending::tidy_kept(service, &kept);
    if delete_first {
        delete(service, &extra, &left, deadline_now())?;
    }
    // As create and delete do, in bulk: one copy each, one scanner poke,
    // one wait; a create that fails leaves none of the new instances of
    // its wave.
    if !missing.is_empty() {
        service.make_instances_dir()?;
    }
    for wave in waves(&missing, o.parallel) {
        let deadline = deadline_now();
        create::clone(service, wave, deadline)?;
        // Their env/ goes into the copies before they are linked: they
        // start with it.
        for name in wave {
            if let Some(Some(env)) = set.get(*name) {
                if let Err(e) = envdir::install(&service.instance_dir(name), env) {
                    create::undo_create(service, wave);
                    return Err(e);
                }
            }
        }
        create::link(service, wave, o.start, EventDir::default())?;
        create::await_supervisors(service, wave, o.start, deadline)?;
        diag::write_stdout(&plan(b'+', wave))?;
        if o.wait_new && o.start == Start::Up {
            // Those the template makes normally down are not waited for.
            let mut watches = Vec::with_capacity(wave.len());
            for name in wave {
                let dir = service.instance_dir(name);
                if std::fs::symlink_metadata(dir.join("down")).is_err() {
                    watches.push((*name, Watch::start(&dir)?));
                }
            }
            wait_wave(service, watches, o.ready, deadline)?;
        }
    }
    for wave in waves(&changed, o.parallel) {
        let deadline = deadline_now();
        change(service, &set, wave, o, deadline)?;
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

/// Swap in the new env/ of each instance of a wave, then restart or
/// signal those whose service is up, as `-R` says, say `~name` for each,
/// and wait for the restarted ones.
fn change(service: &Service, set: &Set, wave: &[&OsStr], o: &Opts, deadline: Option<Instant>) -> Result<(), Error> {
    let mut restart = Vec::new();
    for &name in wave {
        let dir = service.instance_dir(name);
        // Marked until the service is told (see envdir::CHANGED).
        if o.action != Action::Nothing {
            envdir::mark_changed(&dir)?;
        }
        if let Some(Some(env)) = set.get(name) {
            if envdir::differs(&dir, env)? {
                envdir::install(&dir, env)?;
            }
        }
        let up = crate::supervise::is_running(&dir).unwrap_or(false)
            && crate::svstatus::Status::read(&dir).is_ok_and(|st| st.is_up());
        match o.action {
            Action::Signal(c) if up => crate::supervise::command(&dir, &[c])?,
            Action::Restart if up => restart.push(name),
            _ => {}
        }
    }
    let back = crate::restart::restart(service, &restart, deadline)?;
    if o.action != Action::Nothing {
        for &name in wave {
            envdir::clear_changed(&service.instance_dir(name))?;
        }
    }
    diag::write_stdout(&plan(b'~', wave))?;
    wait_wave(service, back, o.ready, deadline)
}

/// Wait until every instance of a wave is up (and ready, with `ready`,
/// if it notifies readiness): one deadline for the wave. Those that are
/// not in time are named, exit 99.
fn wait_wave(
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
            ready: ready && dir.join("notification-fd").exists(),
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
    Err(timed_out(&late, if ready { "up and ready" } else { "up" }))
}

fn failed(service: &Service, name: &OsStr) -> Error {
    crate::svwait::failed_permanently(&service.instance_dir(name)).fatal(EXIT_NOT_RUNNING)
}

/// A wave that did not get there in time: exit 99, naming its late
/// instances; the waves before it stay done.
fn timed_out(late: &[&OsStr], state: &str) -> Error {
    let msg = diag::msg("timed out waiting for instances to be ")
        .text(state)
        .text(":");
    msg.names(late).fatal(EXIT_TIMEOUT)
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
    let removed: Vec<&OsStr> = extra.iter().copied().filter(|n| !kept.contains(n)).collect();
    diag::write_stdout(&plan(b'-', &removed))
}

/// `+name`, `~name` or `-name`, a line each.
fn plan(sign: u8, names: &[&OsStr]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        out.push(sign);
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out
}

/// A bad set line (exit 100).
fn bad_line(n: usize, why: impl AsRef<[u8]>) -> Error {
    diag::msg(format!("invalid set line {n}: ")).text(why).fatal(EXIT_USAGE)
}

/// The reason in a name check's refusal.
fn reason_of(e: Error) -> Vec<u8> {
    match e {
        Error::Fatal { msg, .. } | Error::Warned { msg, .. } => msg,
        Error::Usage | Error::UsageLine(_) => b"invalid instance name".to_vec(),
    }
}

/// Set lines: `NAME [KEY=VALUE]...`, words separated by spaces or tabs;
/// blank lines and lines whose first word begins with `#` ignored. All
/// checked before anything is done.
fn set_lines(input: &[u8]) -> Result<Set, Error> {
    let mut set = Set::new();
    let input = input.strip_suffix(b"\n").unwrap_or(input);
    if input.is_empty() {
        return Ok(set);
    }
    for (i, line) in input.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let mut words = line.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty());
        let Some(name) = words.next() else { continue };
        if name.starts_with(b"#") {
            continue;
        }
        crate::name::check(name)
            .and_then(|()| crate::name::not_an_option(name))
            .map_err(|e| bad_line(n, reason_of(e)))?;
        let mut env = Env::new();
        for word in words {
            let (key, value) = envdir::parse_var(word).map_err(|why| bad_line(n, why))?;
            if env.contains_key(&key) {
                return Err(bad_line(n, diag::msg("key given twice: ").text(key.as_bytes())));
            }
            env.insert(key, value);
        }
        let name = OsString::from_vec(name.to_vec());
        if set.contains_key(&name) {
            return Err(bad_line(n, diag::msg("name given twice: ").text(name.as_bytes())));
        }
        set.insert(name, Some(env));
    }
    Ok(set)
}

/// `-E dir`: each subdirectory an instance, its files its variables
/// (any bytes). Entries beginning with a dot are left out; any other
/// that is not a directory (a link to one included), or a subdirectory
/// holding anything but regular files, is refused (exit 100).
fn set_dirs(dir: &Path) -> Result<Set, Error> {
    let bad = |name: &[u8], why: &[u8]| {
        let msg = diag::msg("invalid set entry ").path(&dir.join(OsStr::from_bytes(name)));
        msg.text(": ").text(why).fatal(EXIT_USAGE)
    };
    let entries = std::fs::read_dir(dir).map_err(|e| Error::sys("read", dir, diag::errno_of(&e)))?;
    let mut set = Set::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::sys("read", dir, diag::errno_of(&e)))?;
        let name = entry.file_name();
        let b = name.as_bytes();
        if b.starts_with(b".") {
            continue;
        }
        crate::name::check(b)
            .and_then(|()| crate::name::not_an_option(b))
            .map_err(|e| bad(b, &reason_of(e)))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir {
            return Err(bad(b, b"not a directory"));
        }
        let path = entry.path();
        let env = match envdir::read_path(&path).map_err(|e| Error::sys("read", &path, e))? {
            envdir::Found::Env(env) => env,
            envdir::Found::NotRegular(file) => {
                let why = diag::msg("not a regular file: ").text(file.as_bytes());
                return Err(bad(b, why.as_ref()));
            }
        };
        for key in env.keys() {
            envdir::check_key(key.as_bytes()).map_err(|why| bad(b, &why))?;
        }
        set.insert(name, Some(env));
    }
    Ok(set)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::sys("read", path, diag::errno_of(&e)))
}

fn read_stdin() -> Result<Vec<u8>, Error> {
    let mut input = Vec::new();
    std::io::stdin().lock().read_to_end(&mut input).map_err(|e| {
        Error::new(
            EXIT_SYS,
            format!("unable to read stdin: {}", diag::reason(diag::errno_of(&e))),
        )
    })?;
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(e: Error) -> String {
        match e {
            Error::Fatal { code: 100, msg } => String::from_utf8_lossy(&msg).into_owned(),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn set_lines_and_their_refusals() {
        let set = set_lines(b"# comment\n\nweb-1 PORT=8081  A=x=y\n\t web-2\tPORT=8082\nweb-3").unwrap();
        let names: Vec<_> = set.keys().map(|k| k.to_str().unwrap()).collect();
        assert_eq!(names, ["web-1", "web-2", "web-3"]);
        let env = set[OsStr::new("web-1")].as_ref().unwrap();
        assert_eq!(env[OsStr::new("PORT")], b"8081\n");
        assert_eq!(env[OsStr::new("A")], b"x=y\n");
        assert!(set[OsStr::new("web-3")].as_ref().unwrap().is_empty());
        for (input, msg) in [
            (&b"a\nb X\n"[..], "invalid set line 2: word without =: X"),
            (b"a =1", "invalid set line 1: empty key"),
            (b"a\n\nb a/b=1", "invalid set line 3: invalid key: a/b"),
            (b"a\na", "invalid set line 2: name given twice: a"),
            (b"a K=1 K=2", "invalid set line 1: key given twice: K"),
            (b"a K=1\0", "invalid set line 1: value of K holds a NUL byte"),
            (b".a", "invalid set line 1: invalid instance name: \".a\""),
            (b"x/y", "invalid set line 1: invalid instance name: \"x/y\""),
        ] {
            assert_eq!(said(set_lines(input).unwrap_err()), msg);
        }
        assert!(said(set_lines(b"-n").unwrap_err()).starts_with("invalid set line 1: invalid instance name: \"-n\""));
    }

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

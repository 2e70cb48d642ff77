//! s6i-plan: read the set of instances an instanced service must have,
//! as s6i-sync does (names, set lines from `-f file` or standard input,
//! envdirs from `-E dir`, the names 1 to count from `-N`), work out what
//! to create, change and delete, do the work that comes before (see
//! `prepare`), and hand the lists on to the rest of the command line:
//! its words `$create`, `$change`, `$first` and `$delete` become the
//! names, one word each (behind the leading spaces of a word inside an
//! execline block, as s6i-args substitutes); `$set` becomes `-S` and the
//! number of a descriptor holding the set's environments, open across
//! exec, for s6i-env and s6i-change; `$up` becomes `-w u` or `-w U`, as
//! `-p` and `-w` ask the new instances to be waited for, or nothing.
//! With `-n`, it prints the plan instead and stops the chain.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::diag::{self, Error, EXIT_SYS, EXIT_USAGE};
use crate::envdir::{self, Env};
use crate::getopt::{number, Getopt};
use crate::layout::Service;
use crate::wait::deadline;

pub const USAGE: &str = "s6i-plan [ -n ] [ -e ] [ -t timeout ] [ -p max ] [ -w u | -w U ] [ -R action ] [ -f file | -E dir | -N count ] service name|{ name... } prog...";

/// The set: each name, with its `env/` when the set manages it.
pub type Set = BTreeMap<OsString, Option<Env>>;

/// Where the set comes from.
pub enum Source {
    /// Names on the command line (`-` alone: names on stdin).
    Names,
    /// `-f file`: set lines (`-f -`: on stdin).
    File(OsString),
    /// `-E dir`: a subdirectory per instance, each an envdir.
    Dirs(OsString),
    /// `-N count`: the names 1 to count.
    Count(u32),
}

/// The set options `-f`, `-E` and `-N`, at most one of them.
#[derive(Default)]
pub struct SourceOpts {
    source: Option<Source>,
    given: BTreeSet<u8>,
}

impl SourceOpts {
    /// Take option `c` if it is one of the set's: Ok(true).
    pub fn take(&mut self, c: u8, v: Option<&OsStr>) -> Result<bool, Error> {
        let source = match (c, v) {
            (b'f', Some(v)) => Source::File(v.to_owned()),
            (b'E', Some(v)) => Source::Dirs(v.to_owned()),
            (b'N', Some(v)) => Source::Count(number(v)?),
            _ => return Ok(false),
        };
        self.given.insert(c);
        self.source = Some(source);
        Ok(true)
    }

    /// Read the set from where the options say, and the operands:
    /// the service, the names (none, as an empty block or nothing at
    /// all, with an option), then prog. Every check is made before
    /// anything is looked at.
    pub fn read(self, rest: &[OsString]) -> Result<(Service, Set, &[OsString]), Error> {
        if self.given.len() > 1 {
            return Err(Error::Usage);
        }
        Ok(match self.source.unwrap_or(Source::Names) {
            Source::Names => {
                // No name at all (an empty block) is a usage error here.
                if rest.get(1).is_some_and(|w| w.is_empty()) {
                    return Err(Error::Usage);
                }
                let (service, mut names, prog) = crate::layout::service_and_names(rest)?;
                // `-` alone: names on standard input, one a line, as on
                // the command line (what s6-instance-list prints).
                if names.len() == 1 && names[0] == "-" {
                    (service, name_lines(&read_stdin()?)?, prog)
                } else {
                    for name in &names {
                        crate::name::not_an_option(name.as_bytes())?;
                    }
                    names.sort();
                    (service, names.into_iter().map(|n| (n, None)).collect(), prog)
                }
            }
            Source::File(f) => {
                let (service, prog) = service_alone(rest)?;
                // `-f -`: set lines on standard input.
                let input = if f == "-" {
                    read_stdin()?
                } else {
                    read_file(Path::new(&f))?
                };
                (service, set_lines(&input)?, prog)
            }
            Source::Dirs(d) => {
                let (service, prog) = service_alone(rest)?;
                (service, set_dirs(Path::new(&d))?, prog)
            }
            Source::Count(n) => {
                let (service, prog) = service_alone(rest)?;
                let set = (1..=n).map(|i| (OsString::from(i.to_string()), None)).collect();
                (service, set, prog)
            }
        })
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

/// What a sync does.
pub struct Plan {
    /// In the set, not there: to create.
    pub missing: Vec<OsString>,
    /// There and in the set, whose `env/` is not the set's: to change.
    pub changed: Vec<OsString>,
    /// There, not in the set: to delete, and say so.
    pub extra: Vec<OsString>,
    /// Left unlinked by killed chains, not in the set: to delete, unsaid.
    pub left: Vec<OsString>,
    /// There and in the set.
    pub kept: Vec<OsString>,
    /// How many instances are there.
    pub there: usize,
    /// The template's `env/`: every instance's defaults (empty when the
    /// set gives no variables).
    pub defaults: Env,
}

/// Work out the plan. The set's environments are each instance's own
/// values; the template's `env/` gives the defaults (see crate::envdir).
/// Unless `dry_run`, what killed `env/` swaps left in the kept instances
/// goes.
pub fn plan(service: &Service, set: &mut Set, dry_run: bool) -> Result<Plan, Error> {
    let defaults = envdir::defaults(service, set.values().any(Option::is_some))?;
    let there: BTreeSet<OsString> = service.instance_names()?.into_iter().collect();
    let missing = set.keys().filter(|n| !there.contains(*n)).cloned().collect();
    let extra = there.iter().filter(|n| !set.contains_key(*n)).cloned().collect();
    // Instances that killed deletes (or creates) left unlinked are not
    // listed, and not part of the set: those not named go with the extra
    // ones, unsaid. Those named are finished by the create phase.
    let left = crate::pending::left_unlinked(service)?
        .into_iter()
        .filter(|n| !set.contains_key(n))
        .collect();
    let kept = there.iter().filter(|n| set.contains_key(*n)).cloned().collect();
    // The instances kept whose env/ is not what the set says.
    let mut changed = Vec::new();
    for (name, env) in set.iter() {
        if let (Some(env), true) = (env, there.contains(name)) {
            let dir = service.instance_dir(name);
            if !dry_run {
                envdir::sweep(&dir);
            }
            // A killed sync may have swapped env/ in without telling the
            // service: its mark makes the instance changed again.
            if envdir::differs(&dir, &defaults, env)? || envdir::changed_by_dead_chain(&dir) {
                changed.push(name.clone());
            }
        }
    }
    Ok(Plan {
        missing,
        changed,
        extra,
        left,
        kept,
        there: there.len(),
        defaults,
    })
}

impl Plan {
    /// The `+name`, `~name` and `-name` lines of a dry run.
    pub fn print(&self) -> Result<(), Error> {
        diag::write_stdout(&lines(b'+', &self.missing))?;
        diag::write_stdout(&lines(b'~', &self.changed))?;
        diag::write_stdout(&lines(b'-', &self.extra))
    }

    /// Whether the extra instances must go before the missing ones are
    /// made: the nested scanner supervises so many services at most. A
    /// set that cannot fit at all is refused, before anything is done.
    pub fn delete_first(&self, service: &Service, set_len: usize) -> Result<bool, Error> {
        Ok(match service.capacity()? {
            Some(room) if room.services(set_len) > room.max => {
                return Err(room.refuse("sync", room.services(set_len)));
            }
            Some(room) => room.services(self.there + self.missing.len()) > room.max,
            None => false,
        })
    }

    /// What comes before the creates and deletes: what killed commands
    /// left in the kept instances (stale marks, unannounced links), and
    /// `instances/` made if there is something to create.
    pub fn prepare(&self, service: &Service) -> Result<(), Error> {
        crate::pending::tidy_kept(service, &refs(&self.kept));
        if !self.missing.is_empty() {
            service.make_instances_dir()?;
        }
        Ok(())
    }
}

/// Borrowed, as the library takes names.
pub fn refs(names: &[OsString]) -> Vec<&OsStr> {
    names.iter().map(|n| n.as_os_str()).collect()
}

/// `+name`, `~name` or `-name`, a line each.
pub fn lines(sign: u8, names: &[OsString]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        out.push(sign);
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The options of a sync, as s6i-plan and s6i-sync read them.
pub struct SyncOpts {
    /// `-d`/`-D` (s6i-sync only) and `-t`.
    pub shared: super::names::Shared,
    pub dry_run: bool,
    /// Instances started at a time; 0: all at once.
    pub parallel: usize,
    /// `-w U`: up and ready, not only up.
    pub ready: bool,
    /// `-p` or `-w` given: new instances are waited for too.
    pub wait_new: bool,
    /// `-R`, checked before anything is done.
    pub action: super::change::Action,
    /// `-e`: an empty set is meant, and deletes every instance.
    pub empty_ok: bool,
    pub source: SourceOpts,
}

impl SyncOpts {
    /// Read the options of `argv` that `optstring` names; return them
    /// and the operands.
    pub fn parse<'a>(argv: &'a [OsString], optstring: &'a str) -> Result<(SyncOpts, &'a [OsString]), Error> {
        let mut o = SyncOpts {
            shared: super::names::Shared::default(),
            dry_run: false,
            parallel: 0,
            ready: false,
            wait_new: false,
            action: super::change::Action::Restart,
            empty_ok: false,
            source: SourceOpts::default(),
        };
        let mut opts = Getopt::new(argv, optstring);
        for opt in opts.by_ref() {
            let (c, v) = opt?;
            // Not the steps' -e (an empty block is an empty list): here
            // the set itself may be empty.
            if c == b'e' {
                o.empty_ok = true;
                continue;
            }
            if o.shared.take(optstring, c, v)? {
                continue;
            }
            match (c, v) {
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
                (b'R', Some(v)) => o.action = super::change::action(v.as_bytes())?,
                (c, v) => {
                    if !o.source.take(c, v)? {
                        return Err(Error::Usage);
                    }
                }
            }
        }
        Ok((o, opts.rest()))
    }
}

pub fn run(argv: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    // -p, -w and -R are checked here, before anything is done; the
    // steps after act on them.
    let (o, rest) = SyncOpts::parse(&argv, "ent:p:w:R:f:E:N:")?;
    let (dry_run, wait_new, ready, shared, empty_ok) = (o.dry_run, o.wait_new, o.ready, o.shared, o.empty_ok);
    let (service, mut set, prog) = o.source.read(rest)?;
    service.check_live()?;
    refuse_empty(&service, &set, empty_ok)?;
    // What killed commands left is finished first: a restart's
    // instances are as they were before it, when this one looks at them.
    let unsettled = if dry_run {
        Vec::new()
    } else {
        crate::recover::finish(&service)
    };
    let plan = plan(&service, &mut set, dry_run)?;
    if dry_run {
        plan.print()?;
        return Ok(Vec::new());
    }
    let delete_first = plan.delete_first(&service, set.len())?;
    plan.prepare(&service)?;
    // What killed chains left unlinked goes now, unsaid: unlinked, it
    // takes no room in the scanner.
    if !plan.left.is_empty() {
        let left = refs(&plan.left);
        crate::delete::unlink(&service, &left, true, deadline(shared.timeout))?;
        crate::delete::remove(&service, &left)?;
    }
    // Told to wait: the kept instances that killed commands made and
    // never saw up are waited for too.
    if wait_new {
        let left: Vec<&OsStr> = unsettled
            .iter()
            .filter(|n| plan.kept.contains(n))
            .map(OsString::as_os_str)
            .collect();
        super::wait_supervise::settle(&service, &left, ready, deadline(shared.timeout))?;
    }
    // The managed environments, for s6i-env and s6i-change.
    let set_fd = super::saved::save(set.iter().filter_map(|(n, e)| Some((n, e.as_ref()?))))?;
    let none = Vec::new();
    let (first, delete) = if delete_first {
        (&plan.extra, &none)
    } else {
        (&none, &plan.extra)
    };
    let up: Vec<OsString> = match (wait_new, ready) {
        (false, _) => vec![],
        (true, false) => vec!["-w".into(), "u".into()],
        (true, true) => vec!["-w".into(), "U".into()],
    };
    let vars: Vec<crate::args::Var> = vec![
        (b"create".to_vec(), plan.missing.clone()),
        (b"change".to_vec(), plan.changed.clone()),
        (b"first".to_vec(), first.clone()),
        (b"delete".to_vec(), delete.clone()),
        (b"set".to_vec(), vec!["-S".into(), set_fd.to_string().into()]),
        (b"up".to_vec(), up),
    ];
    Ok(crate::args::substitute(prog, &vars))
}

/// An empty set deletes every instance: only with `-e`, which says that
/// it is meant. Without it, an empty set (an empty or truncated file, an
/// empty input, a count of 0, an empty directory) is refused before
/// anything is done (exit 100), saying how many instances it would
/// have deleted.
pub fn refuse_empty(service: &Service, set: &Set, empty_ok: bool) -> Result<(), Error> {
    if !set.is_empty() || empty_ok {
        return Ok(());
    }
    let there = service.instance_names()?.len();
    let s = if there == 1 { "" } else { "s" };
    Err(diag::msg(format!(
        "the set is empty: it would delete every instance ({there} instance{s}); -e says it is meant"
    ))
    .fatal(EXIT_USAGE))
}

/// Names on standard input (`-`), one a line, read as names given on the
/// command line are: checked, each once, no environment. A CR before a
/// newline is no part of a name (see `set_lines`); empty lines are
/// skipped. A line that holds anything but a name (a set line, say) is
/// refused with its number, before anything is done.
fn name_lines(input: &[u8]) -> Result<Set, Error> {
    let mut set = Set::new();
    for (i, line) in input.split(|&b| b == b'\n').enumerate() {
        let name = line.strip_suffix(b"\r").unwrap_or(line);
        if name.is_empty() {
            continue;
        }
        crate::name::check(name)
            .and_then(|()| crate::name::not_an_option(name))
            .and_then(|()| crate::name::fits(name))
            .map_err(|e| {
                diag::msg(format!("invalid name line {}: ", i + 1))
                    .text(reason_of(e))
                    .fatal(EXIT_USAGE)
            })?;
        set.insert(OsString::from_vec(name.to_vec()), None);
    }
    Ok(set)
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
        // A file written on another system ends its lines with CR LF:
        // the CR is no part of the last value (s6-envdir strips it too).
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut words = line.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty());
        let Some(name) = words.next() else { continue };
        if name.starts_with(b"#") {
            continue;
        }
        crate::name::check(name)
            .and_then(|()| crate::name::not_an_option(name))
            .and_then(|()| crate::name::fits(name))
            .map_err(|e| bad_line(n, reason_of(e)))?;
        let mut env = Env::new();
        for word in words {
            let (key, value) = envdir::parse_var(word).map_err(|why| bad_line(n, why))?;
            if env.contains_key(&key) {
                return Err(bad_line(n, diag::msg("key given twice: ").name(&key)));
            }
            env.insert(key, value);
        }
        let name = OsString::from_vec(name.to_vec());
        if set.contains_key(&name) {
            return Err(bad_line(n, diag::msg("name given twice: ").name(&name)));
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
        diag::msg("invalid set entry ")
            .path(&dir.join(OsStr::from_bytes(name)))
            .text(": ")
            .text(why)
            .fatal(EXIT_USAGE)
    };
    let top = crate::door::Loc::at(dir);
    let entries = top.entries().map_err(|e| Error::sys("read", dir, e))?;
    let mut set = Set::new();
    for name in entries {
        let b = name.as_bytes();
        if b.starts_with(b".") {
            continue;
        }
        crate::name::check(b)
            .and_then(|()| crate::name::not_an_option(b))
            .map_err(|e| bad(b, &reason_of(e)))?;
        let at = top.join(&name);
        if !at.is_real_dir() {
            return Err(bad(b, b"not a directory"));
        }
        let env = match envdir::read_dir(&at).map_err(|e| Error::sys("read", &at, e))? {
            envdir::Found::Env(env) => env,
            envdir::Found::NotRegular(file) => {
                let why = diag::msg("not a regular file: ").name(&file);
                return Err(bad(b, why.as_ref()));
            }
            envdir::Found::TooBig(file) => {
                let why = diag::msg(format!("over {} bytes: ", envdir::VALUE_MAX)).name(&file);
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

/// The most a set (a file, or standard input) may hold: a thousand
/// instances, each with a value at envdir::VALUE_MAX.
pub const SET_MAX: usize = 64 << 20;

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    crate::door::read_given(path, SET_MAX).map_err(|e| Error::sys("read", path, e))
}

fn read_stdin() -> Result<Vec<u8>, Error> {
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .take(SET_MAX as u64 + 1)
        .read_to_end(&mut input)
        .map_err(|e| {
            Error::new(
                EXIT_SYS,
                format!("unable to read stdin: {}", diag::reason(diag::errno_of(&e))),
            )
        })?;
    if input.len() > SET_MAX {
        let why = diag::reason(crate::door::TOO_BIG);
        return Err(Error::new(EXIT_SYS, format!("unable to read stdin: {why}")));
    }
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
            (b"a\nd\0x X=1", "invalid set line 2: invalid instance name: \"d\\x00x\""),
            (
                b"a .HID=1",
                "invalid set line 1: invalid key: .HID: it begins with a dot, which s6-envdir skips",
            ),
            (b"a\r\nb\r\n\r\nc K\r\n", "invalid set line 4: word without =: K"),
        ] {
            assert_eq!(said(set_lines(input).unwrap_err()), msg);
        }
        assert!(said(set_lines(b"-n").unwrap_err()).starts_with("invalid set line 1: invalid instance name: \"-n\""));
        let long = [b'n'; 256];
        let msg = said(set_lines(&[&b"a\n"[..], &long].concat()).unwrap_err());
        assert!(
            msg.starts_with("invalid set line 2: invalid instance name: \"nnn"),
            "{msg}"
        );
        assert!(msg.ends_with("\": longer than 255 bytes"), "{msg}");
        assert!(set_lines(&long[..255]).is_ok());
        // CR LF lines read as LF lines.
        let crlf = set_lines(b"a K=1\r\nb\r\n").unwrap();
        assert_eq!(crlf, set_lines(b"a K=1\nb\n").unwrap());
        // One CR only: a value that ends with CR before its CR LF keeps it.
        let cr = set_lines(b"a K=1\r\r\n").unwrap();
        assert_eq!(cr[OsStr::new("a")].as_ref().unwrap()[OsStr::new("K")], b"1\r\n");
    }
}

//! The instanced service directory `SV`:
//!
//! - `SV/template/`: the template (s6 2.11.2.0 kept it in
//!   `SV/instances/.template`, which we still read);
//! - `SV/instance/`: the nested scan directory, where an s6-svscan runs;
//! - `SV/instances/NAME/`: instance NAME, a copy of the template;
//! - `SV/instance/NAME`: a symlink to `../instances/NAME`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::diag::{msg, Error, EXIT_NOT_RUNNING, EXIT_USAGE};
use crate::door::Loc;
use crate::scandir;

/// The file that marks an instance as in the hands of one create or
/// delete chain, and holds that chain's pid. Create writes it into the
/// copy before the copy is renamed into place and removes it once the
/// link is made; delete writes it before the link goes. An instance that
/// has it, no link, and a dead chain was left by a create or a delete
/// that was killed between two steps: the next create of the name takes
/// it away instead of refusing (see `pending`).
pub const PENDING: &str = ".s6i-pending";

pub struct Service {
    root: Loc,
}

impl Service {
    /// The instanced service at `path` (refused when empty, as s6 does).
    pub fn new(path: &OsStr) -> Result<Service, Error> {
        if path.is_empty() {
            return Err(Error::new(EXIT_USAGE, "invalid service path"));
        }
        Ok(Service {
            root: Loc::at(Path::new(path)),
        })
    }

    /// The service directory as the caller named it, for messages.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The service directory, through which everything below is reached.
    pub fn loc(&self) -> &Loc {
        &self.root
    }

    /// The nested scan directory.
    pub fn scandir(&self) -> Loc {
        self.root.join("instance")
    }

    /// The names of the instances: the links in the nested scan
    /// directory, in its order, dotted names (the scanner's own
    /// `.s6-svscan`) left out.
    pub fn instance_names(&self) -> Result<Vec<OsString>, Error> {
        let scandir = self.scandir();
        let mut names = scandir
            .entries()
            .map_err(|e| Error::sys("readdir", scandir.path(), e))?;
        names.retain(|name| name.as_bytes().first() != Some(&b'.'));
        Ok(names)
    }

    /// Where the instances' real directories live.
    pub fn instances(&self) -> Loc {
        self.root.join("instances")
    }

    /// Hold `instances/` locked against our other steps while the caller
    /// looks at an instance's link and then makes or removes the other
    /// half (see `create::link` and `delete::remove`): a flock on our
    /// own `.s6i-work` (see `work`), which no other user can take.
    /// None when there is no `instances/`, hence nothing to guard.
    pub fn lock_instances(&self) -> Result<Option<crate::work::Lock>, Error> {
        let dir = self.instances();
        match crate::work::lock(&dir, true) {
            Ok(lock) => Ok(Some(lock)),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::sys("lock", &dir.path().join(crate::work::WORK), e)),
        }
    }

    /// The same lock, shared, held by a copy of the template, which a
    /// template swap takes exclusively (see copy::copy_template). None
    /// when it cannot be had (no `instances/` yet): the copy then checks
    /// the template's identity alone.
    pub fn template_lock(&self) -> Option<crate::work::Lock> {
        crate::work::lock(&self.instances(), false).ok()
    }

    pub fn instance_dir(&self, name: &OsStr) -> Loc {
        self.instances().join(name)
    }

    /// The link the nested scanner sees.
    pub fn link(&self, name: &OsStr) -> Loc {
        self.scandir().join(name)
    }

    /// Instance NAME as its supervisor knows it, `instance/NAME`, for the
    /// commands that reach instances by name (status, control, watch):
    /// through our link, which is read and checked, never followed: the
    /// directory it names, `instances/NAME`, is reached instead. Where
    /// the link is missing or is not ours, the place is the link itself,
    /// which the door does not go through (ENOENT, ELOOP).
    pub fn instance(&self, name: &OsStr) -> Loc {
        let link = self.link(name);
        if self.linked(name) {
            self.instance_dir(name).shown_as(link.path())
        } else {
            link
        }
    }

    /// Whether the link of NAME is ours, `../instances/NAME`: read, never
    /// followed. Anything else at its place (a link elsewhere, a
    /// directory) is not one we made, nor one we act through.
    pub fn linked(&self, name: &OsStr) -> bool {
        self.link(name)
            .readlink()
            .is_ok_and(|t| Path::new(&t) == Self::link_target(name))
    }

    /// What the link points to, relative to the scan directory.
    pub fn link_target(name: &OsStr) -> PathBuf {
        let mut t = b"../instances/".to_vec();
        t.extend_from_slice(name.as_bytes());
        PathBuf::from(OsString::from_vec(t))
    }

    /// The template directory: `template/`, or the old `instances/.template`.
    /// `template` may be a link to the template, in the service
    /// directory itself, which is the caller's: it is followed (each
    /// instance gets a copy of what it leads to). A link at the old place,
    /// in `instances/`, which may be another user's, is refused (ELOOP).
    pub fn template(&self) -> Result<Loc, Error> {
        let entry = self.template_entry()?;
        match entry.is_link() {
            true => Ok(Loc::at(entry.path())),
            false => Ok(entry),
        }
    }

    /// The template's own entry, `template` or `instances/.template`,
    /// not followed: what a swap renames.
    pub fn template_entry(&self) -> Result<Loc, Error> {
        use nix::sys::stat::SFlag;
        let current = self.root.join("template");
        let old = self.instances().join(".template");
        for t in [&current, &old] {
            let st = match t.stat() {
                Ok(st) => st,
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(e) => return Err(Error::sys("stat", t, e)),
            };
            match crate::door::kind(&st) {
                SFlag::S_IFDIR => return Ok(t.clone()),
                SFlag::S_IFLNK if t == &current => return Ok(t.clone()),
                SFlag::S_IFLNK => return Err(Error::sys("use template", t, nix::errno::Errno::ELOOP)),
                _ => return Err(Error::sys("use template", t, nix::errno::Errno::ENOTDIR)),
            }
        }
        Err(Error::sys("find template", &current, nix::errno::Errno::ENOENT))
    }

    /// The service is live when its nested s6-svscan holds its lock:
    /// exit 1 when it does not, 111 when the lock cannot be read. No lock
    /// file at all means the nested scanner never ran there: said in s6's
    /// words for an instanced service (it has a template), and as "not an
    /// instanced service" for anything else (a mistyped path, the scan
    /// directory above), with the same exit code.
    pub fn check_live(&self) -> Result<(), Error> {
        let lockfile = scandir::lockfile(&self.scandir());
        match crate::lock::held(&lockfile) {
            Ok(true) => Ok(()),
            Ok(false) => Err(msg("instanced service not running on ")
                .path(self.root())
                .fatal(EXIT_NOT_RUNNING)),
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) if self.template().is_err() => {
                Err(self.not_instanced(crate::diag::EXIT_SYS))
            }
            Err(e) => Err(Error::sys("open", lockfile.path(), e)),
        }
    }

    /// "not an instanced service: PATH", with exit code `code`.
    fn not_instanced(&self, code: i32) -> Error {
        msg("not an instanced service: ").path(self.root()).fatal(code)
    }

    /// For the commands that look at instances only (status, control),
    /// which do not check the service first, as s6's do not: an error
    /// they met is said as `not an instanced service` when the path is
    /// none (no scanner ever ran there, and no template), with the exit
    /// code the error had. A failure is rare; the look is made then only.
    pub fn explain(&self, e: Error) -> Error {
        let code = match &e {
            Error::Fatal { code, .. } | Error::Warned { code, .. } => *code,
            Error::Usage | Error::UsageLine(_) => return e,
        };
        let lockfile = scandir::lockfile(&self.scandir());
        match lockfile.stat() {
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) if self.template().is_err() => {
                self.not_instanced(code)
            }
            _ => e,
        }
    }
}

/// How many services the nested s6-svscan supervises at most, as its
/// run script (the maker's) says: `-c MAX` counts a service and its
/// logger as one, `-C MAX` (s6 2.12 on; the only one from 2.15) counts
/// each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub max: usize,
    /// Services per instance: 2 when loggers count and the template has
    /// one.
    pub per_instance: usize,
}

impl Capacity {
    /// The services that `instances` instances take.
    pub fn services(&self, instances: usize) -> usize {
        instances * self.per_instance
    }

    /// The error of a command that would need room for `services`.
    pub fn refuse(&self, verb: &str, services: usize) -> Error {
        let msg = format!(
            "unable to {verb}: it needs room for {services} services, and the nested s6-svscan supervises at most {} (s6-instance-maker -c)",
            self.max
        );
        Error::new(crate::diag::EXIT_SYS, msg)
    }
}

/// The `-c MAX` or `-C MAX` of the s6-svscan command line in a run
/// script, with whether it was `-C`.
fn svscan_max(script: &[u8]) -> Option<(usize, bool)> {
    let mut words = script.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
    words.find(|w| w.ends_with(b"s6-svscan"))?;
    let number = |w: &[u8]| std::str::from_utf8(w).ok()?.parse().ok();
    while let Some(w) = words.next() {
        let opts = w.strip_prefix(b"-").filter(|o| !o.is_empty() && *o != b"-")?;
        // Options cluster, and the one with a value takes the rest of the
        // word, or the next word.
        for (k, &c) in opts.iter().enumerate() {
            if matches!(c, b'c' | b'C' | b't' | b'd' | b'L' | b'X') {
                let value = if k + 1 < opts.len() {
                    Some(&opts[k + 1..])
                } else {
                    words.next()
                };
                if matches!(c, b'c' | b'C') {
                    return Some((number(value?)?, c == b'C'));
                }
                break;
            }
        }
    }
    None
}

impl Service {
    /// The room the nested scanner has, if its run script says (a
    /// service made by hand may not: then there is no known limit).
    pub fn capacity(&self) -> Result<Option<Capacity>, Error> {
        let Ok(script) = self.root.join("run").read(crate::door::SMALL) else {
            return Ok(None);
        };
        let Some((max, loggers_count)) = svscan_max(&script) else {
            return Ok(None);
        };
        let logged = self.template().is_ok_and(|t| t.join("log").is_real_dir());
        Ok(Some(Capacity {
            max,
            per_instance: if loggers_count && logged { 2 } else { 1 },
        }))
    }

    /// Make `instances/` if it is missing: mode 0755 whatever the umask,
    /// as s6 does, since the supervisors, which may run as another user
    /// (the maker's `-u`), must reach the instances in it.
    pub fn make_instances_dir(&self) -> Result<(), Error> {
        let dir = self.instances();
        match dir.mkdir(0o755) {
            Err(e) if e != nix::errno::Errno::EEXIST => Err(Error::sys("mkdir", dir.path(), e)),
            _ => Ok(()),
        }
    }
}

/// The operands of a step that reads a service and any number of its
/// instances (`service [ name... ]`: summary, watch): an empty service
/// is refused in words of its own, as s6-instance-status does, and every
/// name is checked, before the service is looked at.
pub fn service_then_names(rest: &[OsString]) -> Result<(Service, &[OsString]), Error> {
    let (service, named) = rest.split_first().ok_or(Error::Usage)?;
    if service.is_empty() {
        return Err(Error::new(EXIT_USAGE, "invalid service name"));
    }
    for name in named {
        crate::name::check(name.as_bytes())?;
    }
    Ok((Service::new(service)?, named))
}

/// The operands of the steps that act on instances already there
/// (signal, status): as `service_and_names`, but, as s6-instance-control
/// and s6-instance-status do, and unlike create and delete, an empty
/// service is refused first, in words of its own.
pub fn service_and_instances(rest: &[OsString]) -> Result<(Service, Vec<OsString>, &[OsString]), Error> {
    if rest.len() >= 2 && rest[0].is_empty() {
        return Err(Error::new(EXIT_USAGE, "invalid service name"));
    }
    service_and_names(rest)
}

/// The operands of a step that takes one instance or many: `service
/// name prog...`, or `service { name... } prog...` with the names in an
/// execline block (as execlineb hands it on: each word behind a space,
/// an empty word to close). No name starts with a space or is empty, so
/// the two forms cannot be mistaken. Every name is checked before the
/// service, as s6 does.
pub fn service_and_names(rest: &[OsString]) -> Result<(Service, Vec<OsString>, &[OsString]), Error> {
    let (service, after) = rest.split_first().ok_or(Error::Usage)?;
    let (first, after) = after.split_first().ok_or(Error::Usage)?;
    let first = first.as_bytes();
    // An empty word is an empty name, refused below (an empty block, which
    // execlineb also turns into one empty word, is refused with it).
    let (names, prog): (Vec<OsString>, &[OsString]) = if first.first() == Some(&b' ') {
        let mut block = std::iter::once(first).chain(after.iter().map(|w| w.as_bytes()));
        let mut names = Vec::new();
        loop {
            match block.next() {
                None => return Err(Error::Usage),
                Some(b"") => break,
                Some([b' ', name @ ..]) => names.push(OsString::from_vec(name.to_vec())),
                Some(_) => return Err(Error::Usage),
            }
        }
        // The block took `first`, every name but the first, and the closing word.
        let taken = names.len();
        (names, &after[taken..])
    } else {
        (vec![OsString::from_vec(first.to_vec())], after)
    };
    for name in &names {
        crate::name::check(name.as_bytes())?;
    }
    Ok((Service::new(service)?, names, prog))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_scanners_limit_from_its_run_script() {
        let ours = b"#!/usr/bin/execlineb -P\n/usr/bin/fdmove -c 2 1\n/usr/bin/s6-svscan -d3 -c500 -- instance\n";
        assert_eq!(svscan_max(ours), Some((500, false)));
        assert_eq!(
            svscan_max(b"s6-setuidgid u s6-svscan -d 3 -C 7 instance"),
            Some((7, true))
        );
        assert_eq!(svscan_max(b"fdmove -c 2 1 s6-svscan -d3 -- instance"), None);
        assert_eq!(svscan_max(b"s6-svscan -d3 -c12 instance"), Some((12, false)));
        assert_eq!(svscan_max(b"s6-svscan -c x instance"), None);
    }

    #[test]
    fn one_name_or_a_block_of_them() {
        let argv = v(&["svc", "a", "prog", "x"]);
        let (_, names, prog) = service_and_names(&argv).unwrap();
        assert_eq!((names, prog), (v(&["a"]), &v(&["prog", "x"])[..]));
        let argv = v(&["svc", " a", " b", "", "prog"]);
        let (_, names, prog) = service_and_names(&argv).unwrap();
        assert_eq!((names, prog), (v(&["a", "b"]), &v(&["prog"])[..]));
        let argv = v(&["svc", "", "prog"]);
        assert_eq!(service_and_names(&argv).err().map(|e| e.code()), Some(100));
        let argv = v(&["svc", " a", " b", ""]);
        assert_eq!(service_and_names(&argv).unwrap().1, v(&["a", "b"]));
        for bad in [&["svc"][..], &["svc", " a"], &["svc", " a", "b", ""], &[]] {
            assert_eq!(service_and_names(&v(bad)).err(), Some(Error::Usage), "{bad:?}");
        }
        let bad_name = v(&["svc", " a", " .b", ""]);
        assert_eq!(service_and_names(&bad_name).err().map(|e| e.code()), Some(100));
    }
}

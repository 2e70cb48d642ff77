//! What s6-instance-maker writes, offline, before any instance exists:
//!
//! - an instanced service directory `DIR`: `run`, an execline script
//!   that starts a nested s6-svscan on `instance/` (fd 3 tells its
//!   readiness: `notification-fd`), `template/`, a copy of the user's
//!   template, and empty `instance/` and `instances/`; with a log
//!   directory, a logger `DIR/log` that runs s6-log;
//! - with `-r`, s6-rc source definitions instead: `DIR/SERVICE` and,
//!   with a logger, `DIR/LOGGER`, tied by `producer-for`,
//!   `consumer-for` and `pipeline-name`.
//!
//! Each directory is built under a hidden name beside its final place
//! and renamed into place whole: a failure leaves nothing behind.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use bstr::ByteSlice;
use nix::errno::Errno;
use nix::sys::stat::{umask, Mode};

use crate::copy;
use crate::diag::{warn, Error, EXIT_USAGE};
use crate::door::Loc;
use crate::getopt::{number, number64};

/// Where the programs named in the generated run scripts live. They are
/// fixed when we are built (the Makefile finds them and passes them in
/// the environment of `cargo build`), since a run script must not depend
/// on the PATH its supervisor happens to have.
#[derive(Clone, Copy, Debug)]
pub struct Programs {
    /// The interpreter of the `#!` line: the execlineb users call, which
    /// on Debian is a wrapper that also puts execline's programs in PATH.
    pub execlineb: &'static str,
    /// The directory of execline's programs (`fdmove`).
    pub execline_bin: &'static str,
    /// The directory of s6's programs.
    pub s6_bin: &'static str,
    /// `c` for `s6-svscan -c MAX` (s6 up to 2.14), `C` for `-C MAX`
    /// (s6 2.15 dropped `-c`).
    pub max_option: u8,
}

const fn setting(value: Option<&'static str>, default: &'static str) -> &'static str {
    match value {
        Some(v) if !v.is_empty() => v,
        _ => default,
    }
}

const fn max_option(value: Option<&'static str>) -> u8 {
    match value {
        Some(v) => match v.as_bytes() {
            [b'C'] => b'C',
            _ => b'c',
        },
        None => b'c',
    }
}

/// The programs we were built for. The defaults are skarnet's own
/// install locations.
pub const PROGRAMS: Programs = Programs {
    execlineb: setting(option_env!("S6I_EXECLINEB"), "/bin/execlineb"),
    execline_bin: setting(option_env!("S6I_EXECLINE_BIN"), "/bin"),
    s6_bin: setting(option_env!("S6I_S6_BIN"), "/bin"),
    max_option: max_option(option_env!("S6I_SVSCAN_MAX")),
};

/// The command line of s6-instance-maker, as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub max: u32,
    pub user: OsString,
    pub loguser: Option<OsString>,
    pub logdir: Option<OsString>,
    pub stamptype: u32,
    pub nfiles: u32,
    pub filesize: u64,
    pub maxsize: u64,
    pub prefix: Option<OsString>,
    pub rc: Option<OsString>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max: 500,
            user: OsString::new(),
            loguser: None,
            logdir: None,
            stamptype: 1,
            nfiles: 10,
            filesize: 1_000_000,
            maxsize: 0,
            prefix: None,
            rc: None,
        }
    }
}

/// getopt's option string for the options above.
pub const OPTSTRING: &str = "c:u:l:L:t:n:s:S:P:r:";

/// The logger: an s6-log writing to `dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logger {
    pub user: Option<OsString>,
    pub dir: OsString,
    pub stamptype: u32,
    pub nfiles: u32,
    pub filesize: u64,
    pub maxsize: u64,
    pub prefix: Option<OsString>,
}

/// The s6-rc names of `-r service[/logger[/pipeline]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rc {
    pub service: OsString,
    pub logger: Option<OsString>,
    pub pipeline: Option<OsString>,
}

/// A checked command line: what to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Maker {
    pub max: u32,
    pub user: OsString,
    pub logger: Option<Logger>,
    pub rc: Option<Rc>,
}

fn bad(msg: &str) -> Error {
    Error::new(EXIT_USAGE, msg)
}

impl Options {
    /// Take one option from getopt. Numbers are read as s6 reads them:
    /// decimal digits, 32 bits, but 64 for the two sizes.
    pub fn set(&mut self, opt: u8, value: &OsStr) -> Result<(), Error> {
        let word = || value.to_os_string();
        match opt {
            b'c' => self.max = number(value)?,
            b'u' => self.user = word(),
            b'l' => self.loguser = Some(word()),
            b'L' => self.logdir = Some(word()),
            b't' => self.stamptype = number(value)?,
            b'n' => self.nfiles = number(value)?,
            b's' => self.filesize = number64(value)?,
            b'S' => self.maxsize = number64(value)?,
            b'P' => self.prefix = Some(word()),
            b'r' => self.rc = Some(word()),
            _ => return Err(Error::Usage),
        }
        Ok(())
    }

    /// The checks of s6-instance-maker, in its order, with its messages
    /// and exit code 100.
    pub fn check(self) -> Result<Maker, Error> {
        if let Some(dir) = &self.logdir {
            if dir.as_bytes().first() != Some(&b'/') {
                return Err(bad("logdir must be absolute"));
            }
        }
        if self.stamptype > 3 {
            return Err(bad("stamptype must be 0, 1, 2 or 3"));
        }
        if self.user.as_bytes().iter().any(|b| b" \t\n".contains(b)) {
            return Err(bad("invalid user"));
        }
        let rc = match &self.rc {
            Some(spec) => Some(rc_names(spec.as_bytes(), self.logdir.is_some())?),
            None => None,
        };
        let logger = self.logdir.map(|dir| Logger {
            user: self.loguser,
            dir,
            stamptype: self.stamptype,
            nfiles: self.nfiles,
            filesize: self.filesize,
            maxsize: self.maxsize,
            prefix: self.prefix,
        });
        Ok(Maker {
            max: self.max.clamp(1, 90000),
            user: self.user,
            logger,
            rc,
        })
    }
}

/// Split `service[/logger[/pipeline]]`; a logger needs a log directory
/// and a log directory needs a logger.
fn rc_names(spec: &[u8], logged: bool) -> Result<Rc, Error> {
    let os = |b: &[u8]| OsString::from_vec(b.to_vec());
    if spec.contains(&b'\n') {
        return Err(bad("newlines are forbidden in s6-rc names"));
    }
    if spec.first() == Some(&b'/') {
        return Err(bad("service name cannot be empty"));
    }
    let Some((service, after)) = spec.split_once_str("/") else {
        if logged {
            return Err(bad("logdir specified (-L) but logger name not specified (-r)"));
        }
        return Ok(Rc {
            service: os(spec),
            logger: None,
            pipeline: None,
        });
    };
    match after.first() {
        None => {
            return Err(bad(
                "argument to -r must be: service or service/logger or service/logger/pipeline",
            ))
        }
        Some(b'/') => return Err(bad("logger name cannot be empty")),
        _ => {}
    }
    if !logged {
        return Err(bad("logger specified (-r) but logdir not specified (-L)"));
    }
    let (logger, pipeline) = match after.split_once_str("/") {
        None => (after, None),
        Some((logger, pipeline)) => {
            if pipeline.is_empty() {
                return Err(bad("pipeline name cannot be empty"));
            }
            if pipeline.contains(&b'/') {
                return Err(bad("slashes are forbidden in s6-rc names"));
            }
            (logger, Some(os(pipeline)))
        }
    };
    Ok(Rc {
        service: os(service),
        logger: Some(os(logger)),
        pipeline,
    })
}

/// A word for an execline script, in double quotes, as skalibs's
/// string_quote writes it: `\` and `"` escaped, the usual control
/// characters as `\n` and the like, any other byte outside printable
/// ASCII as `\0xNN`.
pub fn quote(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &b in s {
        match b {
            7..=13 => out.extend_from_slice(&[b'\\', b"abtnvfr"[usize::from(b - 7)]]),
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\0x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// Whether execlineb would read `s` as more, or other, than one word:
/// it splits on control characters and spaces, and interprets `"` and `\`.
fn needs_quotes(s: &[u8]) -> bool {
    s.iter().any(|&b| b <= b' ' || b == b'"' || b == b'\\')
}

/// `dir/prog`, for a directory with or without a final slash.
fn program(dir: &str, prog: &str) -> String {
    format!("{}/{prog}", dir.trim_end_matches('/'))
}

fn push_line(script: &mut Vec<u8>, words: &[&[u8]]) {
    script.extend_from_slice(&words.join(&b' '));
    script.push(b'\n');
}

impl Maker {
    /// The number of services the nested s6-svscan makes room for. With
    /// `-C`, s6 2.15's maker counts loggers as services: twice as many
    /// when the instanced service is logged (not with -r).
    pub fn services_max(&self, p: &Programs) -> u32 {
        if p.max_option == b'C' && self.logger.is_some() && self.rc.is_none() {
            self.max << 1
        } else {
            self.max
        }
    }

    /// The run script of the instanced service.
    pub fn run_script(&self, p: &Programs) -> Vec<u8> {
        let mut s = format!("#!{} -P\n\n", p.execlineb).into_bytes();
        push_line(&mut s, &[program(p.execline_bin, "fdmove").as_bytes(), b"-c 2 1"]);
        if !self.user.is_empty() {
            let setuidgid = program(p.s6_bin, "s6-setuidgid");
            push_line(&mut s, &[setuidgid.as_bytes(), &quote(self.user.as_bytes())]);
        }
        let max = format!("-d3 -{}{} -- instance", p.max_option as char, self.services_max(p));
        push_line(&mut s, &[program(p.s6_bin, "s6-svscan").as_bytes(), max.as_bytes()]);
        s
    }
}

impl Logger {
    /// The run script of the logger: s6-log with the directives that
    /// the options say.
    pub fn run_script(&self, p: &Programs) -> Vec<u8> {
        let mut s = format!("#!{} -P\n", p.execlineb).into_bytes();
        if let Some(user) = &self.user {
            let setuidgid = program(p.s6_bin, "s6-setuidgid");
            push_line(&mut s, &[setuidgid.as_bytes(), &quote(user.as_bytes())]);
        }
        let mut words: Vec<Vec<u8>> = vec![
            program(p.s6_bin, "s6-log").into_bytes(),
            b"-bd3".to_vec(),
            b"--".to_vec(),
        ];
        if self.stamptype & 1 != 0 {
            words.push(b"t".to_vec());
        }
        if self.stamptype & 2 != 0 {
            words.push(b"T".to_vec());
        }
        words.push(format!("n{}", self.nfiles).into_bytes());
        words.push(format!("s{}", self.filesize).into_bytes());
        if self.maxsize != 0 {
            words.push(format!("S{}", self.maxsize).into_bytes());
        }
        if let Some(prefix) = &self.prefix {
            // s6's maker writes the prefix bare, which a space or a quote
            // would break: such a prefix is quoted here, as one word.
            let mut directive = b"p".to_vec();
            directive.extend_from_slice(prefix.as_bytes());
            if needs_quotes(prefix.as_bytes()) {
                directive = quote(&directive);
            }
            words.push(directive);
        }
        words.push(quote(self.dir.as_bytes()));
        let words: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        push_line(&mut s, &words);
        s
    }
}

/// A directory being built under a hidden name: its files are made
/// there, through the door (nothing below it followed), and messages
/// name them at their final place.
struct Build {
    tmp: Option<Loc>,
    dst: Loc,
}

impl Build {
    /// Start building `dir`, which must not exist.
    fn start(dir: &Path) -> Result<Build, Error> {
        let dst = Loc::of(dir);
        if dst.present() {
            return Err(Error::sys("mkdir", dir, Errno::EEXIST));
        }
        let tmp = crate::leftovers::hidden_sibling(&dst, "make");
        tmp.mkdir(0o700).map_err(|e| Error::sys("mkdir", dir, e))?;
        Ok(Build { tmp: Some(tmp), dst })
    }

    fn at(&self, name: &str) -> Loc {
        self.tmp.as_ref().expect("a build under way").join(name)
    }

    /// A directory inside, mode 0755 whatever the umask, as s6 makes it.
    fn mkdir(&self, name: &str) -> Result<(), Error> {
        self.at(name)
            .mkdir(0o755)
            .map_err(|e| Error::sys("mkdir", &self.dst.join(name), e))
    }

    /// A file inside, mode 0666 less the umask.
    fn write(&self, name: &str, content: &[u8]) -> Result<(), Error> {
        self.at(name)
            .write_new(content, 0o666 & !current_umask())
            .map_err(|e| Error::sys("write to", &self.dst.join(name), e))
    }

    /// A line file: `content` and a newline.
    fn write_line(&self, name: &str, content: &[u8]) -> Result<(), Error> {
        let mut line = content.to_vec();
        line.push(b'\n');
        self.write(name, &line)
    }

    /// Make a script executable by whoever may read it: the umask
    /// decides, as for s6's maker, and one that hides it from its owner
    /// earns a warning.
    fn executable(&self, name: &str) -> Result<(), Error> {
        let readable = 0o666 & !current_umask();
        let mode = readable | ((readable >> 2) & 0o111);
        chmod_ours(&self.at(name), mode).map_err(|e| Error::sys("chmod", &self.dst.join(name), e))?;
        if readable & 0o400 == 0 {
            warn(crate::diag::msg("weird umask, check permissions manually on ").path(&self.dst.join(name)));
        }
        Ok(())
    }

    fn copy_template(&self, template: &Path) -> Result<(), Error> {
        copy::copy_tree(&Loc::at(template), &self.at("template"))
            .map(copy::Private::publish)
            .map_err(|e| Error::new(crate::diag::EXIT_SYS, e.message(template, &self.dst.join("template"))))
    }

    /// Rename the whole into place, unless something got there first.
    fn finish(mut self) -> Result<(), Error> {
        let tmp = self.tmp.take().expect("a build under way");
        let made = chmod_ours(&tmp, 0o755)
            .map_err(|e| Error::sys("chmod", &self.dst, e))
            .and_then(|()| {
                crate::rename::rename_noreplace(&tmp, &self.dst).map_err(|e| Error::sys("mkdir", &self.dst, e))
            });
        if made.is_err() {
            let _ = tmp.remove_tree();
        }
        made
    }
}

/// A build that does not finish leaves nothing.
impl Drop for Build {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = tmp.remove_tree();
        }
    }
}

/// Refuse to copy `template` into itself: `place`, the directory where
/// its copy would be made (shown as `shown`), must not be the template,
/// nor lie below it, told by device and inode (see `Loc::is_within`).
/// A copy into itself would go on copying its own copy. Exit 100, and
/// nothing is made. Where either is not a directory, there is no
/// verdict to give: the copy, or the mkdir, says what is wrong.
pub fn refuse_copy_into_itself(template: &Path, place: &Loc, shown: &Path) -> Result<(), Error> {
    let tpl = Loc::at(template);
    if !tpl.is_real_dir() || !place.is_real_dir() {
        return Ok(());
    }
    match place.is_within(&tpl) {
        Ok(false) => Ok(()),
        Ok(true) => Err(crate::diag::msg("invalid template: ")
            .path(template)
            .text(" is ")
            .path(shown)
            .text(" or holds it: a template cannot be copied into itself")
            .fatal(EXIT_USAGE)),
        Err(e) => Err(Error::sys("walk up from", shown, e)),
    }
}

/// Where the maker's copy of the template goes: in `dir`, when it is a
/// directory already (`-r`'s source directory; without `-r`, a `dir`
/// that exists is refused anyway, but being the template is said
/// first), else beside it.
fn copy_place(dir: &Path) -> Loc {
    let here = Loc::at(dir);
    if here.is_real_dir() {
        return here;
    }
    Loc::of(dir).parent().unwrap_or(here)
}

/// The umask can only be read by setting it: set it back at once.
fn current_umask() -> u32 {
    let old = umask(Mode::from_bits_truncate(0o077));
    umask(old);
    old.bits() as u32
}

/// Refuse a template whose instances could never run: one without a
/// `run` file, or (for a service directory, not s6-rc definitions, which
/// s6-rc makes executable itself) with one that is not executable. Its
/// instances would loop on "unable to exec run", visible only in a log.
/// A template that is not there at all is left to the copy to report.
/// A `run` that is a link is left to the run time to judge: it is
/// copied as a link, and not followed here.
pub fn check_template(template: &Path, executable: bool) -> Result<(), Error> {
    use nix::sys::stat::SFlag;
    let top = Loc::at(template);
    if !top.stat().is_ok_and(|st| crate::door::kind(&st) == SFlag::S_IFDIR) {
        return Ok(());
    }
    let run = top.join("run");
    let refuse = |what: &[u8]| {
        Err(crate::diag::msg("invalid template: ")
            .path(&run)
            .text(what)
            .fatal(EXIT_USAGE))
    };
    match run.stat() {
        Ok(st) if crate::door::kind(&st) == SFlag::S_IFLNK => Ok(()),
        Ok(st) if crate::door::kind(&st) != SFlag::S_IFREG => refuse(b" is not a regular file"),
        Ok(st) if executable && st.st_mode & 0o111 == 0 => refuse(b" is not executable"),
        Ok(_) => Ok(()),
        Err(Errno::ENOENT) => refuse(b" does not exist"),
        Err(e) => Err(Error::sys("stat", &run, e)),
    }
}

/// The most of /etc/passwd that is read.
const PASSWD_MAX: usize = 16 << 20;

/// A user the run scripts switch to must exist where the service runs,
/// which need not be here (the maker may run on a build host): unknown
/// here is a warning only. The steps are static binaries, which must not
/// load NSS modules: /etc/passwd is what is looked at, and a numeric
/// `uid:gid` is taken as it is.
fn warn_unknown_user(user: &OsStr) {
    let name = user.as_bytes();
    if name.is_empty() || name.contains(&b':') || name.iter().all(u8::is_ascii_digit) {
        return;
    }
    let passwd = crate::door::read_given(Path::new("/etc/passwd"), PASSWD_MAX).unwrap_or_default();
    let known = passwd
        .split(|&b| b == b'\n')
        .any(|line| line.split(|&b| b == b':').next() == Some(name));
    if !known {
        warn(
            crate::diag::msg("user ")
                .text(name)
                .text(" is not in /etc/passwd here: the run scripts need it where they run"),
        );
    }
}

impl Maker {
    /// Write the instanced service made from `template` at `dir` (with
    /// `-r`, the source definitions in `dir`).
    pub fn make(&self, p: &Programs, template: &Path, dir: &Path) -> Result<(), Error> {
        check_template(template, self.rc.is_none())?;
        refuse_copy_into_itself(template, &copy_place(dir), dir)?;
        for user in [Some(&self.user), self.logger.as_ref().and_then(|l| l.user.as_ref())]
            .into_iter()
            .flatten()
        {
            warn_unknown_user(user);
        }
        match &self.rc {
            None => self.make_service(p, template, dir),
            Some(rc) => self.make_rc(p, rc, template, dir),
        }
    }

    fn make_service(&self, p: &Programs, template: &Path, dir: &Path) -> Result<(), Error> {
        let b = Build::start(dir)?;
        b.write_line("notification-fd", b"3")?;
        b.write("run", &self.run_script(p))?;
        b.executable("run")?;
        b.mkdir("instance")?;
        b.mkdir("instances")?;
        b.copy_template(template)?;
        if let Some(logger) = &self.logger {
            b.mkdir("log")?;
            b.write_line("log/notification-fd", b"3")?;
            b.write("log/run", &logger.run_script(p))?;
            b.executable("log/run")?;
        }
        b.finish()
    }

    /// s6-rc compiles these definitions into service directories of its
    /// own: scripts need not be executable, and, as with s6's maker,
    /// there is no `instance/` or `instances/` to copy.
    fn make_rc(&self, p: &Programs, rc: &Rc, template: &Path, dir: &Path) -> Result<(), Error> {
        let at = Loc::of(dir);
        let created = match at.mkdir(0o755) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(Error::sys("mkdir", dir, e)),
        };
        let made = self.make_rc_services(p, rc, template, dir);
        if made.is_err() && created {
            let _ = at.rmdir();
        }
        made
    }

    fn make_rc_services(&self, p: &Programs, rc: &Rc, template: &Path, dir: &Path) -> Result<(), Error> {
        let service_dir = dir.join(&rc.service);
        let service = Build::start(&service_dir)?;
        service.write_line("notification-fd", b"3")?;
        service.write("run", &self.run_script(p))?;
        service.write_line("type", b"longrun")?;
        if let Some(name) = &rc.logger {
            service.write_line("producer-for", name.as_bytes())?;
        }
        service.copy_template(template)?;
        let logger = match (&self.logger, &rc.logger) {
            (Some(logger), Some(name)) => {
                let b = Build::start(&dir.join(name))?;
                b.write_line("notification-fd", b"3")?;
                b.write("run", &logger.run_script(p))?;
                b.write_line("type", b"longrun")?;
                b.write_line("consumer-for", rc.service.as_bytes())?;
                if let Some(pipeline) = &rc.pipeline {
                    b.write_line("pipeline-name", pipeline.as_bytes())?;
                }
                Some(b)
            }
            _ => None,
        };
        service.finish()?;
        if let Some(b) = logger {
            // The service alone is half the pair: take it back.
            if let Err(e) = b.finish() {
                let _ = copy::remove_tree(&Loc::of(&service_dir));
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Give `at`, which we made in a directory of ours, mode `mode`, by
/// name from that directory's descriptor (a link is not followed: the
/// call fails on one rather than change what it leads to).
fn chmod_ours(at: &Loc, mode: u32) -> Result<(), Errno> {
    use nix::sys::stat::{fchmod, fchmodat, FchmodatFlags};
    let mode = Mode::from_bits_retain(mode);
    if at.is_real_dir() {
        return fchmod(&at.open_dir()?, mode);
    }
    let (dir, name) = at.parent_fd()?;
    if at
        .stat()
        .is_ok_and(|st| crate::door::kind(&st) == nix::sys::stat::SFlag::S_IFLNK)
    {
        return Err(Errno::ELOOP);
    }
    fchmodat(&dir, name, mode, FchmodatFlags::FollowSymlink)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: Programs = Programs {
        execlineb: "/usr/bin/execlineb",
        execline_bin: "/usr/lib/execline/bin",
        s6_bin: "/usr/bin/",
        max_option: b'c',
    };

    fn options(args: &[&str]) -> Result<Maker, Error> {
        let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        let mut o = Options::default();
        let mut g = crate::getopt::Getopt::new(&argv, OPTSTRING);
        for opt in g.by_ref() {
            let (c, v) = opt?;
            o.set(c, v.unwrap())?;
        }
        o.check()
    }

    fn message(r: Result<Maker, Error>) -> String {
        match r {
            Err(Error::Fatal { code: 100, msg }) => String::from_utf8(msg).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_scripts_as_s6_writes_them() {
        let m = options(&["-u", "daemon", "-c", "0"]).unwrap();
        assert_eq!(
            String::from_utf8(m.run_script(&DEBIAN)).unwrap(),
            "#!/usr/bin/execlineb -P\n\n/usr/lib/execline/bin/fdmove -c 2 1\n\
             /usr/bin/s6-setuidgid \"daemon\"\n/usr/bin/s6-svscan -d3 -c1 -- instance\n"
        );
        let m = options(&[
            "-l",
            "",
            "-L",
            "/var/log/x",
            "-t3",
            "-n5",
            "-s4096",
            "-S100000",
            "-Pfoo:",
        ])
        .unwrap();
        assert_eq!(
            String::from_utf8(m.logger.unwrap().run_script(&DEBIAN)).unwrap(),
            "#!/usr/bin/execlineb -P\n/usr/bin/s6-setuidgid \"\"\n\
             /usr/bin/s6-log -bd3 -- t T n5 s4096 S100000 pfoo: \"/var/log/x\"\n"
        );
        let m = options(&["-L/l", "-t0", "-S0"]).unwrap();
        assert_eq!(
            String::from_utf8(m.logger.unwrap().run_script(&DEBIAN)).unwrap(),
            "#!/usr/bin/execlineb -P\n/usr/bin/s6-log -bd3 -- n10 s1000000 \"/l\"\n"
        );
    }

    #[test]
    fn s6_2_15_counts_loggers() {
        let upper = Programs {
            max_option: b'C',
            ..DEBIAN
        };
        let logged = options(&["-c", "90001", "-L", "/l"]).unwrap();
        assert!(String::from_utf8(logged.run_script(&upper))
            .unwrap()
            .contains(" -d3 -C180000 -- "));
        assert!(String::from_utf8(logged.run_script(&DEBIAN))
            .unwrap()
            .contains(" -d3 -c90000 -- "));
        let rc = options(&["-L", "/l", "-r", "a/b"]).unwrap();
        assert!(String::from_utf8(rc.run_script(&upper)).unwrap().contains(" -C500 "));
        let plain = options(&[]).unwrap();
        assert!(String::from_utf8(plain.run_script(&upper)).unwrap().contains(" -C500 "));
    }

    #[test]
    fn quoting_like_skalibs() {
        assert_eq!(quote(b"a\"b\\c"), b"\"a\\\"b\\\\c\"");
        assert_eq!(
            quote(b"\x07\r\n\t\x01\x7f\xe9 #$"),
            b"\"\\a\\r\\n\\t\\0x01\\0x7f\\0xe9 #$\""
        );
        let m = options(&["-L/l", "-P", "my app:"]).unwrap();
        let script = String::from_utf8(m.logger.unwrap().run_script(&DEBIAN)).unwrap();
        assert!(script.ends_with(" \"pmy app:\" \"/l\"\n"), "{script}");
    }

    #[test]
    fn checks_in_s6s_order() {
        assert_eq!(
            message(options(&["-L", "rel", "-t", "9", "-u", "a b"])),
            "logdir must be absolute"
        );
        assert_eq!(message(options(&["-L", ""])), "logdir must be absolute");
        assert_eq!(
            message(options(&["-t4", "-u", "a\tb"])),
            "stamptype must be 0, 1, 2 or 3"
        );
        assert_eq!(message(options(&["-u", "a\nb"])), "invalid user");
        assert_eq!(options(&["-c", "x"]), Err(Error::Usage));
        assert_eq!(options(&["-S", "18446744073709551616"]), Err(Error::Usage));
        assert_eq!(options(&["-s", "18446744073709551615"]).unwrap().logger, None);
        assert_eq!(options(&["-c", "4294967296"]), Err(Error::Usage));
        assert_eq!(options(&["-c", "4294967295"]).unwrap().max, 90000);
    }

    #[test]
    fn rc_forms() {
        let rc = |a: &[&str]| options(a).map(|m| m.rc.unwrap());
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            rc(&["-r", "a"]).unwrap(),
            Rc {
                service: "a".into(),
                logger: None,
                pipeline: None
            }
        );
        assert_eq!(rc(&["-r", ""]).unwrap().service, OsString::new());
        assert_eq!(
            rc(&["-L/l", "-r", "a/b/c"]).unwrap(),
            Rc {
                service: "a".into(),
                logger: os("b"),
                pipeline: os("c")
            }
        );
        for (args, msg) in [
            (&["-r", "a\n/b"][..], "newlines are forbidden in s6-rc names"),
            (&["-r", "/a"], "service name cannot be empty"),
            (
                &["-r", "a/"],
                "argument to -r must be: service or service/logger or service/logger/pipeline",
            ),
            (&["-r", "a//b"], "logger name cannot be empty"),
            (&["-r", "a/b"], "logger specified (-r) but logdir not specified (-L)"),
            (
                &["-L/l", "-r", "a"],
                "logdir specified (-L) but logger name not specified (-r)",
            ),
            (&["-L/l", "-r", "a/b/"], "pipeline name cannot be empty"),
            (&["-L/l", "-r", "a/b/c/d"], "slashes are forbidden in s6-rc names"),
        ] {
            assert_eq!(message(options(args)), msg, "{args:?}");
        }
    }
}

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

use crate::diag::{Error, EXIT_NOT_RUNNING, EXIT_USAGE};
use crate::scandir;

pub struct Service {
    root: PathBuf,
}

impl Service {
    /// The instanced service at `path` (refused when empty, as s6 does).
    pub fn new(path: &OsStr) -> Result<Service, Error> {
        if path.is_empty() {
            return Err(Error::new(EXIT_USAGE, "invalid service path"));
        }
        Ok(Service {
            root: PathBuf::from(path),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The nested scan directory.
    pub fn scandir(&self) -> PathBuf {
        self.root.join("instance")
    }

    /// Where the instances' real directories live.
    pub fn instances(&self) -> PathBuf {
        self.root.join("instances")
    }

    pub fn instance_dir(&self, name: &OsStr) -> PathBuf {
        self.instances().join(name)
    }

    /// The link the nested scanner sees.
    pub fn link(&self, name: &OsStr) -> PathBuf {
        self.scandir().join(name)
    }

    /// What the link points to, relative to the scan directory.
    pub fn link_target(name: &OsStr) -> PathBuf {
        let mut t = b"../instances/".to_vec();
        t.extend_from_slice(name.as_bytes());
        PathBuf::from(OsString::from_vec(t))
    }

    /// The template directory: `template/`, or the old `instances/.template`.
    pub fn template(&self) -> Result<PathBuf, Error> {
        let current = self.root.join("template");
        let old = self.instances().join(".template");
        for t in [&current, &old] {
            match std::fs::metadata(t) {
                Ok(md) if md.is_dir() => return Ok(t.clone()),
                Ok(_) => return Err(Error::sys("use template", t, nix::errno::Errno::ENOTDIR)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::sys("stat", t, crate::diag::errno_of(&e))),
            }
        }
        Err(Error::sys(
            "find template",
            &current,
            nix::errno::Errno::ENOENT,
        ))
    }

    /// The service is live when its nested s6-svscan holds its lock:
    /// exit 1 when it does not, 111 when the lock cannot be read.
    pub fn check_live(&self) -> Result<(), Error> {
        if scandir::is_running(&self.scandir())? {
            return Ok(());
        }
        let mut msg = b"instanced service not running on ".to_vec();
        msg.extend_from_slice(self.root.as_os_str().as_bytes());
        Err(Error::new(EXIT_NOT_RUNNING, msg))
    }
}

impl Service {
    /// Make `instances/` if it is missing (mode 0755, as s6 does).
    pub fn make_instances_dir(&self) -> Result<(), Error> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.instances();
        match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                Err(Error::sys("mkdir", &dir, crate::diag::errno_of(&e)))
            }
            _ => Ok(()),
        }
    }
}

/// The `service name` operands of a step, the name checked first (as s6
/// does) against the name rules.
pub fn service_and_name(ops: &[OsString]) -> Result<(Service, &OsStr), Error> {
    crate::name::check(ops[1].as_bytes())?;
    Ok((Service::new(&ops[0])?, ops[1].as_os_str()))
}

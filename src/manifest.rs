//! What of an instance came from its template: `.s6i-template`, a file
//! in the instance directory listing the relative path of every entry
//! copied from the template, each ended by a NUL byte. It is written
//! right after the copy is made (by create's clone, by upgrade for the
//! new copy), before anything else is added, so that an upgrade can tell
//! the template's entries (which the new template may drop) from the
//! instance's own (which it keeps). An instance without one (made by
//! s6's own s6-instance-create, or before the manifest existed) keeps
//! every entry the new template does not have.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode, SFlag};

use crate::door::Loc;

/// The manifest's name in an instance directory.
pub const NAME: &str = ".s6i-template";

/// The most a manifest is read of: a template of some hundred thousand
/// entries. An instance's manifest is its user's to change: one larger
/// is not read, and the instance is then taken as having none.
pub const MAX: usize = 16 << 20;

/// Write the manifest of the fresh copy `dir` (reached through its own
/// descriptor): every entry below it, as lstat sees it (a symlink is
/// listed, never followed). Mode 0644, made anew (a manifest already
/// there, from the template itself, is replaced, and is not listed).
pub fn write(dir: &Loc) -> Result<(), Errno> {
    let list = list(dir.open_dir()?)?;
    let at = dir.join(NAME);
    at.remove_tree()?;
    at.write_new(&list, 0o644)
}

/// Every entry below the directory `top`, sorted within each directory,
/// walked with one descriptor open at a time (down by name, back up by
/// `..`: the copy is private, nobody moves its entries), so that no
/// depth runs out of descriptors or stack.
fn list(top: OwnedFd) -> Result<Vec<u8>, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut list = Vec::new();
    let sorted = |fd: &OwnedFd| -> Result<Vec<OsString>, Errno> {
        let mut names = crate::door::entries_of(fd.try_clone().map_err(|e| crate::diag::errno_of(&e))?)?;
        names.sort();
        names.reverse();
        Ok(names)
    };
    let mut names = sorted(&top)?;
    names.retain(|n| n != NAME);
    // Each level below the top: the names still to list there.
    let mut levels: Vec<Vec<OsString>> = vec![names];
    let mut rel = PathBuf::new();
    let mut cur = top;
    while let Some(level) = levels.last_mut() {
        let Some(name) = level.pop() else {
            levels.pop();
            if !levels.is_empty() {
                cur = openat(&cur, "..", flags, Mode::empty())?;
                rel.pop();
            }
            continue;
        };
        let r = rel.join(&name);
        list.extend_from_slice(r.as_os_str().as_bytes());
        list.push(0);
        let st = fstatat(cur.as_fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if crate::door::kind(&st) == SFlag::S_IFDIR {
            cur = openat(&cur, name.as_os_str(), flags, Mode::empty())?;
            rel = r;
            levels.push(sorted(&cur)?);
        }
    }
    Ok(list)
}

/// The entries of `dir` that came from its template, as relative paths;
/// None when it has no manifest (or not a readable one: a link, a FIFO,
/// one over `MAX`): then nothing is known to come from the template.
pub fn read(dir: &Loc) -> Option<HashSet<PathBuf>> {
    let b = dir.join(NAME).read(MAX).ok()?;
    Some(
        b.split(|&c| c == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(OsString::from_vec(p.to_vec())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_what_is_there_without_following_links() {
        let t = std::env::temp_dir().join(format!("s6i-manifest-test.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(t.join("log/sub")).unwrap();
        std::fs::write(t.join("run"), "x").unwrap();
        std::fs::write(t.join("log/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", t.join("link")).unwrap();
        let at = crate::door::Loc::at(&t);
        super::write(&at).unwrap();
        let got = super::read(&at).unwrap();
        let mut got: Vec<_> = got.into_iter().map(|p| p.display().to_string()).collect();
        got.sort();
        assert_eq!(got, ["link", "log", "log/sub", "log/sub/f", "run"]);
        assert!(std::fs::read(t.join(super::NAME)).unwrap().ends_with(b"run\0"));
        std::fs::remove_dir_all(&t).unwrap();
    }
}

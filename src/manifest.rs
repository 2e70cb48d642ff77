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
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::diag::errno_of;

/// The manifest's name in an instance directory.
pub const NAME: &str = ".s6i-template";

/// Write the manifest of the fresh copy `dir`: every entry below it, as
/// lstat sees it (a symlink is listed, never followed). Mode 0644, made
/// anew (a manifest already there, from the template itself, is
/// replaced, and is not listed).
pub fn write(dir: &Path) -> Result<(), Errno> {
    let mut list = Vec::new();
    walk(dir, Path::new(""), &mut list).map_err(|e| errno_of(&e))?;
    let path = dir.join(NAME);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(errno_of(&e)),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| errno_of(&e))?;
    f.write_all(&list).map_err(|e| errno_of(&e))
}

fn walk(dir: &Path, rel: &Path, list: &mut Vec<u8>) -> std::io::Result<()> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        if rel.as_os_str().is_empty() && name == NAME {
            continue;
        }
        let r = rel.join(&name);
        list.extend_from_slice(r.as_os_str().as_bytes());
        list.push(0);
        if std::fs::symlink_metadata(dir.join(&r))?.is_dir() {
            walk(dir, &r, list)?;
        }
    }
    Ok(())
}

/// The entries of `dir` that came from its template, as relative paths;
/// None when it has no manifest (or not a readable one): then nothing is
/// known to come from the template.
pub fn read(dir: &Path) -> Option<HashSet<PathBuf>> {
    use std::io::Read;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(NAME))
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut b = Vec::new();
    f.read_to_end(&mut b).ok()?;
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
        super::write(&t).unwrap();
        let got = super::read(&t).unwrap();
        let mut got: Vec<_> = got.into_iter().map(|p| p.display().to_string()).collect();
        got.sort();
        assert_eq!(got, ["link", "log", "log/sub", "log/sub/f", "run"]);
        assert!(std::fs::read(t.join(super::NAME)).unwrap().ends_with(b"run\0"));
        std::fs::remove_dir_all(&t).unwrap();
    }
}

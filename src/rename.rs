//! Renames that must happen in one step, so that a reader of
//! `instances/` (a scanner, another command) sees the old tree or the
//! new, whole, never half of either: a tree swapped for another
//! (`exchange`), a name claimed only if free (`rename_noreplace`), a tree
//! moved out of the way before it is deleted (`move_aside`). Linux's
//! renameat2 is called raw, so that musl gets it too, with a fallback
//! where a file system lacks it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::Mode;

use crate::diag::errno_of;
use crate::leftovers::hidden_sibling;

/// Rename the tree at `path` to a hidden name beside it, for
/// `remove_all` to delete: the path is free at once. None if there was
/// nothing there.
pub fn move_aside(path: &Path) -> Result<Option<PathBuf>, Errno> {
    let aside = hidden_sibling(path, "remove");
    match fs::rename(path, &aside) {
        Ok(()) => Ok(Some(aside)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(errno_of(&e)),
    }
}

/// renameat2(2) through the raw system call, which works with any libc.
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> Result<(), Errno> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cfrom = CString::new(from.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let cto = CString::new(to.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both strings are valid NUL-terminated paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Swap the trees at `a` and `b`, both of which must exist, at once:
/// renameat2(RENAME_EXCHANGE). Where the system or the filesystem lacks
/// it, `b` goes aside to `a`'s hidden sibling, then `a` into `b`'s place:
/// `b` is missing for that moment, but never half there.
pub fn exchange(a: &Path, b: &Path) -> Result<(), Errno> {
    match renameat2(a, b, libc::RENAME_EXCHANGE) {
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            let aside = hidden_sibling(b, "exchange");
            fs::rename(b, &aside).map_err(|e| errno_of(&e))?;
            if let Err(e) = fs::rename(a, b) {
                let _ = fs::rename(&aside, b);
                return Err(errno_of(&e));
            }
            fs::rename(&aside, a).map_err(|e| errno_of(&e))
        }
        r => r,
    }
}

/// Rename `from` to `to` unless `to` exists (EEXIST then), with
/// renameat2(RENAME_NOREPLACE); filesystems without it get
/// mkdir-then-rename, where the empty directory made first is what
/// claims the name.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<(), Errno> {
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            nix::unistd::mkdir(to, Mode::S_IRWXU)?;
            fs::rename(from, to).map_err(|e| {
                let _ = fs::remove_dir(to);
                errno_of(&e)
            })
        }
        r => r,
    }
}

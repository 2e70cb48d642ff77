//! Renames that must happen in one step, so that a reader of
//! `instances/` (a scanner, another command) sees the old tree or the
//! new, whole, never half of either: a tree swapped for another
//! (`exchange`), a name claimed only if free (`rename_noreplace`), a tree
//! moved out of the way before it is deleted (`move_aside`). Linux's
//! renameat2 is called raw (door::renameat2), so that musl gets it too,
//! with a fallback where a file system lacks it.

use nix::errno::Errno;

use crate::door::Loc;
use crate::leftovers::hidden_sibling;

/// Rename the tree at `at` to a hidden name beside it, for
/// `remove_tree` to delete: the name is free at once. None if there was
/// nothing there.
pub fn move_aside(at: &Loc) -> Result<Option<Loc>, Errno> {
    let aside = hidden_sibling(at, "remove");
    match at.rename(&aside) {
        Ok(()) => Ok(Some(aside)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Swap the trees at `a` and `b`, both of which must exist, at once:
/// renameat2(RENAME_EXCHANGE). Where the system or the filesystem lacks
/// it, `b` goes aside to `a`'s hidden sibling, then `a` into `b`'s place:
/// `b` is missing for that moment, but never half there.
pub fn exchange(a: &Loc, b: &Loc) -> Result<(), Errno> {
    match a.rename_flags(b, libc::RENAME_EXCHANGE) {
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            let aside = hidden_sibling(b, "exchange");
            b.rename(&aside)?;
            if let Err(e) = a.rename(b) {
                let _ = aside.rename(b);
                return Err(e);
            }
            aside.rename(a)
        }
        r => r,
    }
}

/// Rename `from` to `to` unless `to` exists (EEXIST then), with
/// renameat2(RENAME_NOREPLACE); filesystems without it get
/// mkdir-then-rename, where the empty directory made first is what
/// claims the name.
pub fn rename_noreplace(from: &Loc, to: &Loc) -> Result<(), Errno> {
    match from.rename_flags(to, libc::RENAME_NOREPLACE) {
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            to.mkdir(0o700)?;
            from.rename(to).inspect_err(|_| {
                let _ = to.rmdir();
            })
        }
        r => r,
    }
}

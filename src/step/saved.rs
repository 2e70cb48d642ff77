//! The environments of a set, handed from s6i-plan to the steps after it
//! (s6i-env, s6i-change) on a descriptor left open across exec: a memory
//! file of netstrings (`LEN:BYTES,`), written once and read whole from
//! its start by each step that needs it.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::diag::{self, Error, EXIT_SYS, EXIT_USAGE};
use crate::envdir::Env;
use crate::getopt::number;

/// Write the environments of `set` into a memory file, left
/// open across exec (it is what the chain reads them from), and return
/// its descriptor. Each instance: its name, its number of variables,
/// then each key and value, every one a netstring (`LEN:BYTES,`).
pub fn save<'a>(set: impl IntoIterator<Item = (&'a OsString, &'a Env)>) -> Result<i32, Error> {
    let mut out = Vec::new();
    for (name, env) in set {
        netstring(&mut out, name.as_bytes());
        netstring(&mut out, env.len().to_string().as_bytes());
        for (k, v) in env {
            netstring(&mut out, k.as_bytes());
            netstring(&mut out, v);
        }
    }
    let fail = |e| Error::new(EXIT_SYS, diag::unable("create", Path::new("memfd:s6i-set"), e));
    // SAFETY: a NUL-terminated name, and flags.
    let fd = unsafe { libc::memfd_create(c"s6i-set".as_ptr(), 0) };
    if fd < 0 {
        return Err(fail(nix::errno::Errno::last()));
    }
    // SAFETY: a descriptor just made, ours alone, kept open on purpose.
    let file = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    crate::door::write_all(&file, &out).map_err(fail)?;
    Ok(std::os::fd::IntoRawFd::into_raw_fd(file))
}

fn netstring(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
    out.push(b',');
}

/// The environments s6i-plan saved, from the descriptor `fd` (the word
/// after `-S`): read whole from its start, however often.
pub fn load(fd: &OsStr) -> Result<BTreeMap<OsString, Env>, Error> {
    let n = number(fd)?;
    let path = Path::new("/proc/self/fd").join(fd);
    let fail = |e| Error::sys("read", &path, e);
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    // SAFETY: borrowed for the reads only; the descriptor stays open.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(n as i32) };
    loop {
        // SAFETY: a buffer of ours, its length.
        let k = unsafe {
            libc::pread(
                bfd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                data.len() as libc::off_t,
            )
        };
        match if k < 0 {
            Err(nix::errno::Errno::last())
        } else {
            Ok(k as usize)
        } {
            Ok(0) => break,
            Ok(k) => data.extend_from_slice(&buf[..k]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    let bad = || {
        Error::new(
            EXIT_USAGE,
            b"invalid set in descriptor "
                .iter()
                .chain(fd.as_bytes())
                .copied()
                .collect::<Vec<u8>>(),
        )
    };
    let mut rest = &data[..];
    let mut next = || -> Option<Vec<u8>> {
        let colon = rest.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
        let body = rest.get(colon + 1..colon + 1 + len)?.to_vec();
        (rest.get(colon + 1 + len) == Some(&b',')).then_some(())?;
        rest = &rest[colon + 2 + len..];
        Some(body)
    };
    let mut sets = BTreeMap::new();
    while let Some(name) = next() {
        let count: usize = std::str::from_utf8(&next().ok_or_else(bad)?)
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or_else(bad)?;
        let mut env = Env::new();
        for _ in 0..count {
            let k = next().ok_or_else(bad)?;
            let v = next().ok_or_else(bad)?;
            env.insert(OsString::from_vec(k), v);
        }
        sets.insert(OsString::from_vec(name), env);
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_saved_and_loaded() {
        let mut env = Env::new();
        env.insert("A".into(), b"x\0y\n".to_vec());
        env.insert("B".into(), b"".to_vec());
        let a = OsString::from("a");
        let fd = save([(&a, &env)]).unwrap();
        let word = OsString::from(fd.to_string());
        for _ in 0..2 {
            let loaded = load(&word).unwrap();
            assert_eq!(loaded.len(), 1);
            assert_eq!(loaded[OsStr::new("a")], env);
        }
        let _ = nix::unistd::close(fd);
    }
}

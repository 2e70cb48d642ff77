//! The s6 release our commands behave as, fixed when they are built
//! (`make` finds the installed s6 and passes `S6I_S6_VERSION`), and what
//! changed from one release to the next in what our commands print and
//! take. Everything that depends on the release asks here.

/// An s6 release: four numbers, as skarnet numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release(pub [u32; 4]);

/// What we were built for; without a setting, the last release whose
/// commands s6 Debian 12 has (2.11.3.2).
pub const BUILT_FOR: Release = match option_env!("S6I_S6_VERSION") {
    Some(v) => match Release::parse(v.as_bytes()) {
        Some(r) => r,
        None => panic!("S6I_S6_VERSION is not an s6 release such as 2.13.1.0"),
    },
    None => Release([2, 11, 3, 2]),
};

/// The s6-svc commands every release knows (the signals, then the
/// state commands).
const SVC_COMMANDS: &str = "abqhkti12pcyroduDUxOQ";

impl Release {
    /// `2.13.1.0`, or fewer numbers (the missing ones are 0).
    pub const fn parse(s: &[u8]) -> Option<Release> {
        let mut v = [0u32; 4];
        let (mut i, mut k, mut digits) = (0, 0, 0);
        while i < s.len() {
            let c = s[i];
            if c == b'.' {
                if digits == 0 || k == 3 {
                    return None;
                }
                k += 1;
                digits = 0;
            } else if c.is_ascii_digit() && digits < 9 {
                v[k] = v[k] * 10 + (c - b'0') as u32;
                digits += 1;
            } else {
                return None;
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        Some(Release(v))
    }

    const fn at_least(self, a: u32, b: u32, c: u32) -> bool {
        let v = self.0;
        v[0] > a || (v[0] == a && (v[1] > b || (v[1] == b && v[2] >= c)))
    }

    /// 2.13.0: s6-svstat knows the process group (`pgid`, `-g`, and
    /// `up (pid P pgid G)`), and wants `-o` fields spelled whole.
    pub const fn svstat_pgid(self) -> bool {
        self.at_least(2, 13, 0)
    }

    /// 2.13 and 2.14 keep the process group in the status record (43
    /// bytes); the releases before and after write 35.
    pub const fn status_size(self) -> usize {
        if self.svstat_pgid() && !self.at_least(2, 14, 0) {
            43
        } else {
            35
        }
    }

    /// 2.13.2: a supervisor that has not started its service yet says
    /// `down (not started yet)`.
    pub const fn svstat_not_started(self) -> bool {
        self.at_least(2, 13, 2)
    }

    /// 2.14: a pgid is the pid (the service leads its own session).
    pub const fn pgid_is_pid(self) -> bool {
        self.at_least(2, 14, 0)
    }

    /// 2.15 needs skalibs 2.15, whose table of signal names gives a
    /// number with two names the second one: `SIGIOT`, `SIGCLD`, `SIGIO`
    /// where older ones print `SIGABRT`, `SIGCHLD`, `SIGPOLL`.
    pub const fn signal_aliases(self) -> bool {
        self.at_least(2, 15, 0)
    }

    /// 2.12: s6-svc takes `-s signal`.
    pub const fn svc_signal_names(self) -> bool {
        self.at_least(2, 12, 0)
    }

    /// 2.13: s6-svc takes the process group signals `-P`, `-C`, `-K`.
    pub const fn svc_group_signals(self) -> bool {
        self.at_least(2, 13, 0)
    }

    /// 2.15.1: s6-svc takes `-l` (the signal named in `reload-signal`).
    pub const fn svc_reload(self) -> bool {
        self.at_least(2, 15, 1)
    }

    /// 2.14: s6-svc takes several service directories, so a supervisor
    /// that cannot be told is a warning, and the exit code says why:
    /// 102 not listening, 1 a broken `supervise/`, 111 anything else.
    pub const fn svc_warns(self) -> bool {
        self.at_least(2, 14, 0)
    }

    /// Whether s6-svc knows command letter `c` (`s` being `-s signal`).
    pub fn svc_knows(self, c: u8) -> bool {
        match c {
            b's' => self.svc_signal_names(),
            b'P' | b'C' | b'K' => self.svc_group_signals(),
            b'l' => self.svc_reload(),
            _ => SVC_COMMANDS.as_bytes().contains(&c),
        }
    }

    /// The release that brought command letter `c`, for a refusal.
    pub fn svc_since(c: u8) -> &'static str {
        match c {
            b's' => "2.12.0.0",
            b'P' | b'C' | b'K' => "2.13.0.0",
            b'l' => "2.15.1.0",
            _ => "2.11.0.0",
        }
    }
}

/// The refusal of option `-c`, which came with s6 release `since`, by a
/// build for an older release.
pub fn too_new(c: u8, since: &str) -> crate::diag::Error {
    let msg = format!(
        "option -{} needs s6 {since} or later; this build is for s6 {BUILT_FOR}",
        c as char
    );
    crate::diag::Error::new(crate::diag::EXIT_USAGE, msg)
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_releases() {
        assert_eq!(Release::parse(b"2.13.1.0"), Some(Release([2, 13, 1, 0])));
        assert_eq!(Release::parse(b"2.15"), Some(Release([2, 15, 0, 0])));
        for bad in [
            &b""[..],
            b"2..1",
            b"2.13.",
            b"x",
            b"1.2.3.4.5",
            b"2.13.1.0-1",
            b"9999999999",
        ] {
            assert_eq!(Release::parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(Release([2, 13, 1, 0]).to_string(), "2.13.1.0");
    }

    #[test]
    fn what_each_release_changed() {
        let r = |s: &str| Release::parse(s.as_bytes()).unwrap();
        assert_eq!(
            ["2.11.3.2", "2.12.0.4", "2.13.1.0", "2.13.2.0", "2.14.0.1", "2.15.1.0"].map(|v| r(v).status_size()),
            [35, 35, 43, 43, 35, 35]
        );
        assert!(!r("2.12.0.4").svstat_pgid() && r("2.13.0.0").svstat_pgid());
        assert!(!r("2.13.1.0").svstat_not_started() && r("2.13.2.0").svstat_not_started());
        assert!(!r("2.13.2.0").svc_warns() && r("2.14.0.0").svc_warns());
        assert!(!r("2.15.0.0").svc_knows(b'l') && r("2.15.1.0").svc_knows(b'l'));
        assert!(!r("2.11.3.2").svc_knows(b's') && r("2.12.0.0").svc_knows(b's'));
        assert!(!r("2.12.0.4").svc_knows(b'K') && r("2.13.0.0").svc_knows(b'K'));
        assert!(r("2.11.3.2").svc_knows(b'Q') && !r("3.0.0.0").svc_knows(b'z'));
    }
}

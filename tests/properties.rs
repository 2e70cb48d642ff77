//! Property tests for the parts that take arbitrary bytes: option
//! parsing, argument substitution, name rules, operand blocks, status
//! records.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use proptest::prelude::*;
use s6i::args;
use s6i::getopt::Getopt;
use s6i::svstatus::{Status, View, FIELDS};

fn words() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let word = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8),
        prop::sample::select(vec![
            b"-".to_vec(),
            b"--".to_vec(),
            b"-dD".to_vec(),
            b"-t".to_vec(),
            b"-t5".to_vec(),
            b"x".to_vec()
        ]),
    ];
    prop::collection::vec(word, 0..10)
}

fn os(v: &[Vec<u8>]) -> Vec<OsString> {
    v.iter().map(|w| OsString::from_vec(w.clone())).collect()
}

proptest! {
    /// getopt never permutes: what follows the options is the input's tail,
    /// and every option it returns comes from the words before it.
    #[test]
    fn getopt_stops_at_the_first_operand(argv in words()) {
        let argv = os(&argv);
        let mut g = Getopt::new(&argv, "dDt:");
        let mut ok = true;
        for r in g.by_ref() {
            if r.is_err() { ok = false; break; }
        }
        if ok {
            let i = g.index();
            prop_assert!(i <= argv.len());
            prop_assert_eq!(g.rest(), &argv[i..]);
            // Options are words before it, each starting with '-'.
            prop_assert!(argv[..i].iter().all(|w| w.as_bytes().first() == Some(&b'-') || (i > 0 && argv[..i].iter().any(|o| o == "-t"))));
            // The first operand, if any, is not an option word, unless "--" or
            // a lone "-" ended the options.
            if let Some(first) = argv.get(i) {
                let b = first.as_bytes();
                let ended = i > 0 && argv[i - 1] == "--";
                prop_assert!(ended || b.len() < 2 || b[0] != b'-' || (i > 0 && argv[i - 1] == "-t"));
            }
        }
    }

    /// Going on after an error (an unknown option, a missing argument)
    /// ends too, within bounds: found by the getopt fuzz target.
    #[test]
    fn getopt_survives_being_driven_past_errors(argv in words()) {
        let argv = os(&argv);
        let mut g = Getopt::new(&argv, "dDt:");
        let n = g.by_ref().take(64).count();
        prop_assert!(n <= 64 && g.rest().len() <= argv.len());
    }

    /// Substitution replaces exactly the $var words, keeps every other word
    /// as it is and in order, and never splits or joins a value.
    #[test]
    fn substitution_is_word_for_word(script in words(), value in prop::collection::vec(any::<u8>(), 0..6)) {
        let mut script = os(&script);
        script.push("$v".into());
        let vars = vec![(b"v".to_vec(), vec![OsString::from_vec(value.clone())]), (b"none".to_vec(), vec![])];
        let out = args::substitute(&script, &vars);
        prop_assert_eq!(out.len(), script.len());
        prop_assert_eq!(out.last().unwrap().as_bytes(), &value[..]);
        for (a, b) in script.iter().zip(&out) {
            if !a.as_bytes().windows(2).any(|w| w == b"${") && a.as_bytes().first() != Some(&b'$') && a.as_bytes().trim_ascii_start().first() != Some(&b'$') {
                prop_assert_eq!(a, b);
            }
        }
    }

    /// Parsed options come back as option words, each argument its own word.
    #[test]
    fn parsed_options_are_option_words(argv in words()) {
        let groups = args::parse_spec(b"dD,t#,list=xo:+").unwrap();
        if let Ok(vars) = args::parse(&groups, &[], None, &os(&argv)) {
            for (_, w) in &vars {
                let mut i = 0;
                while i < w.len() {
                    let b = w[i].as_bytes();
                    prop_assert!(b.len() == 2 && b[0] == b'-');
                    i += if b[1] == b't' || b[1] == b'o' { 2 } else { 1 };
                }
            }
        }
    }

    /// The name rules, against their plain statement.
    #[test]
    fn name_rules(name in prop::collection::vec(any::<u8>(), 0..12)) {
        let expect = !name.is_empty() && name[0] != b'.' && !name.iter().any(|b| b" \t\x0c\r\n/".contains(b));
        prop_assert_eq!(s6i::name::valid(&name), expect);
    }

    /// Operand blocks never panic, and give back the names they were given.
    #[test]
    fn operand_blocks(names in prop::collection::vec("[a-z]{1,5}", 1..6), prog in words()) {
        let mut argv: Vec<OsString> = vec!["svc".into()];
        argv.extend(names.iter().map(|n| OsString::from(format!(" {n}"))));
        argv.push("".into());
        argv.extend(os(&prog));
        let (_, got, rest) = s6i::layout::service_and_names(&argv).unwrap();
        prop_assert_eq!(got, names.iter().map(OsString::from).collect::<Vec<_>>());
        prop_assert_eq!(rest, &os(&prog)[..]);
    }

    #[test]
    fn operands_never_panic(argv in words()) {
        let _ = s6i::layout::service_and_names(&os(&argv));
    }

    /// Any 35 bytes decode, and print without panicking.
    #[test]
    fn status_records(bytes in prop::collection::vec(any::<u8>(), 0..48), normallyup in any::<bool>(), numeric in any::<bool>()) {
        match Status::decode(&bytes) {
            None => prop_assert!(bytes.len() < 35),
            Some(st) => {
                prop_assert!(bytes.len() >= 35);
                let v = View::new(st, normallyup);
                let line = v.summary(numeric);
                prop_assert!(line.starts_with("up (pid ") || line.starts_with("down ("));
                for &(_, f) in &FIELDS {
                    prop_assert!(!v.field(f).is_empty());
                }
            }
        }
    }
}

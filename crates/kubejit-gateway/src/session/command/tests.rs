//! The grammar's table: what parses, and what each malformed or hostile line is refused as.

#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn ok(line: &str) -> Command {
    parse(line).unwrap()
}

#[test]
fn commands_parse() {
    assert_eq!(ok("help"), Command::Help);
    assert!(
        matches!(ok("pods -n payments"), Command::Pods { namespace } if namespace.as_str() == "payments")
    );
    match ok("logs -n payments checkout-api -c app -f --tail 20") {
        Command::Logs {
            namespace,
            pod,
            container,
            follow,
            tail,
        } => {
            assert_eq!(namespace.as_str(), "payments");
            assert_eq!(pod.as_str(), "checkout-api");
            assert_eq!(container.unwrap().as_str(), "app");
            assert!(follow);
            assert_eq!(tail, Some(20));
        }
        other => panic!("{other:?}"),
    }
    match ok("exec -n payments api -- sh -c 'echo \"hi there\"; exit 3'") {
        Command::Exec {
            command, container, ..
        } => {
            assert_eq!(command, ["sh", "-c", "echo \"hi there\"; exit 3"]);
            assert!(container.is_none());
        }
        other => panic!("{other:?}"),
    }
    // Flags after the pod and `--` inside the command are the command's.
    match ok("exec api -n payments -- ls -n --") {
        Command::Exec { command, .. } => assert_eq!(command, ["ls", "-n", "--"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_and_hostile_lines_are_refused() {
    let cases: &[(&str, &str)] = &[
        ("", "Empty"),
        ("   ", "Empty"),
        ("sh", "Unknown"),
        ("shell", "Unknown"),
        ("help me", "Usage"),
        ("pods", "Usage"),
        ("pods -n", "Usage"),
        ("pods -n a -n b", "Usage"),
        ("pods -n payments extra", "Usage"),
        ("pods -n ../kube-system", "Name"),
        ("pods -n Payments", "Name"),
        ("pods -n 'pay ments'", "Name"),
        ("pods -n payments?watch=1", "Name"),
        ("logs -n payments", "Usage"),
        ("logs -n payments a b", "Usage"),
        ("logs -n payments ../../secrets", "Name"),
        ("logs -n payments api --tail -1", "Tail"),
        ("logs -n payments api --tail x", "Tail"),
        ("logs -n payments api --since 1h", "Usage"),
        ("logs -n payments api -c 'a/b'", "Name"),
        ("exec -n payments api", "Usage"),
        ("exec -n payments api --", "Usage"),
        ("exec -n payments api -f -- sh", "Usage"),
        ("exec -n payments api%2f -- sh", "Name"),
        ("exec -n payments api -- 'sh", "Quote"),
        ("exec -n payments api -- sh\\", "Quote"),
        ("pods -n payments --as=admin", "Usage"),
        ("pods -n payments --as admin", "Usage"),
    ];
    for (line, want) in cases {
        let got = parse(line).unwrap_err();
        let name = format!("{got:?}");
        assert!(name.starts_with(want), "{line:?}: {name}");
    }
}

#[test]
fn word_splitting() {
    let cases: &[(&str, &[&str])] = &[
        ("a b  c", &["a", "b", "c"]),
        ("'a b' c", &["a b", "c"]),
        ("a\\ b", &["a b"]),
        ("\"a\\\"b\"", &["a\"b"]),
        ("''", &[""]),
        ("x'y'z", &["xyz"]),
    ];
    for (line, want) in cases {
        assert_eq!(split_words(line).unwrap(), *want, "{line:?}");
    }
}

proptest! {
    #[test]
    fn parse_never_panics(line in ".{0,120}") {
        let _ = parse(&line);
    }

    #[test]
    fn single_quoted_words_round_trip(words in proptest::collection::vec("[^']{0,12}", 1..5)) {
        let line: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        prop_assert_eq!(split_words(&line.join(" ")).unwrap(), words);
    }
}

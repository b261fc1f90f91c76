//! Property tests for the notification URL parser: no input makes it panic, and a password
//! given in a URL never shows up in what is printed about it (the parsed configuration's
//! `Display` and `Debug`, or the error). The cargo-fuzz target `notify_url` (in `fuzz/`)
//! checks the unstructured-input side for longer runs.

use notify::{SUPPORTED_SCHEMES, parse_url, parse_urls, split_urls, strip_quotes};
use proptest::prelude::*;

/// A URL in shoutrrr's shape: `scheme://[user[:password]@]host[:port][/path][?query]`, with
/// parts drawn from what the services expect and from junk.
fn url_with_password() -> impl Strategy<Value = (String, String)> {
    let scheme = prop_oneof![
        4 => prop::sample::select(SUPPORTED_SCHEMES).prop_map(str::to_owned),
        1 => "[a-z+]{1,12}",
    ];
    let user = prop_oneof![
        Just(String::new()),
        Just("hook".to_owned()),
        "[a-z0-9._-]{1,10}"
    ];
    // Distinctive enough never to occur by chance elsewhere in the URL.
    let password = "[A-Za-z0-9]{12,20}".prop_map(|p| format!("Pw{p}"));
    let host = prop_oneof![
        Just("webhook".to_owned()),
        Just("telegram".to_owned()),
        "[a-z0-9.-]{1,20}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
    ];
    let port = prop::option::of(any::<u16>());
    let path = prop::collection::vec("[A-Za-z0-9_-]{0,12}", 0..4);
    let query = prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(
                    &[
                        "fromAddress",
                        "toAddresses",
                        "channel",
                        "chats",
                        "host",
                        "topic",
                        "devices",
                        "disabletls",
                        "encryption",
                        "auth",
                        "title",
                        "priority",
                        "template",
                        "@Authorization",
                        "$extra",
                        "token",
                        "key",
                    ][..]
                )
                .prop_map(str::to_owned),
                "[a-zA-Z]{1,8}",
            ],
            prop_oneof![
                Just("a@example.com".to_owned()),
                Just("a@example.com,b@example.org".to_owned()),
                Just("yes".to_owned()),
                Just("-1001234".to_owned()),
                "[A-Za-z0-9@.,%:_-]{0,16}",
            ],
        ),
        0..4,
    );
    (scheme, user, password, host, port, path, query).prop_map(
        |(scheme, user, password, host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let path: String = path.iter().flat_map(|s| ["/", s.as_str()]).collect();
            let query = if query.is_empty() {
                String::new()
            } else {
                let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("?{}", pairs.join("&"))
            };
            (
                format!("{scheme}://{user}:{password}@{host}{port}{path}{query}"),
                password,
            )
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = split_urls(&text);
        let _ = strip_quotes(&text);
        if let Ok(c) = parse_url(&text) {
            let _ = c.to_string();
        }
        let _ = parse_urls(&text);
    }

    #[test]
    fn passwords_never_printed((url, password) in url_with_password()) {
        match parse_url(&url) {
            Ok(config) => {
                let shown = config.to_string();
                prop_assert!(!shown.contains(&password), "Display of {} shows the password: {}", url, shown);
                let debug = format!("{config:?}");
                prop_assert!(!debug.contains(&password), "Debug of {} shows the password: {}", url, debug);
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.contains(&password), "error for {} shows the password: {}", url, message);
            }
        }
    }

    #[test]
    fn a_list_is_its_urls((a, _) in url_with_password(), (b, _) in url_with_password()) {
        // Each URL alone decides the list: a list parses iff both URLs do, one config each.
        let list = format!("{a} {b}");
        // A trailing comma is trimmed by the splitter; such pairs test the splitter, not this.
        prop_assume!(split_urls(&list) == vec![a.clone(), b.clone()]);
        match (parse_url(&a), parse_url(&b), parse_urls(&list)) {
            (Ok(x), Ok(y), Ok(both)) => prop_assert_eq!(both, vec![x, y]),
            (Ok(_), Ok(_), Err(e)) => prop_assert!(false, "{} and {} parse alone, not together: {}", a, b, e),
            (Err(_), _, Ok(_)) | (_, Err(_), Ok(_)) => prop_assert!(false, "list {} parsed with a bad URL", list),
            (Err(_), _, Err(e)) => prop_assert_eq!(e.position, 1),
            (Ok(_), Err(_), Err(e)) => prop_assert_eq!(e.position, 2),
        }
    }
}

/// The property above only means something if URLs with a password do parse: one per
/// service that takes a password in the userinfo, with the password checked the same way.
#[test]
fn known_good_urls_with_passwords_parse_and_hide_them() {
    let password = "PwKnownGood1234abcd";
    for url in [
        format!(
            "smtp://kured:{password}@mail.example:587/?fromAddress=a@example.com&toAddresses=b@example.com"
        ),
        format!("ntfy://kured:{password}@ntfy.example/reboots"),
        format!("generic+https://kured:{password}@hooks.example/reboot"),
        format!("pushover://shoutrrr:{password}@uQiRzpo4DXghDmr9QzzfQu27cmVRsG/"),
    ] {
        let config = parse_url(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(!config.to_string().contains(password), "{config}");
        assert!(!format!("{config:?}").contains(password), "{config:?}");
    }
}

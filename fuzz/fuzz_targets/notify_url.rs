//! `notify`: `parse_url`, `parse_urls`, `split_urls`, `notify_urls_from_kured_flags`.
//!
//! Properties: no panic; every parsed configuration prints (`Display`, `Debug`); the error
//! text of a URL that fails never contains the URL's password (userinfo after `:`), when the
//! password is long enough to be recognisable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = notify::split_urls(text);
    match notify::parse_url(text) {
        Ok(config) => {
            let _ = config.to_string();
            let _ = format!("{config:?}");
            let _ = config.service();
        }
        Err(e) => {
            let message = e.to_string();
            if let Some(password) = password_of(text) {
                assert!(
                    !message.contains(&password),
                    "{message:?} leaks {password:?}"
                );
            }
        }
    }
    if let Ok(configs) = notify::parse_urls(text) {
        for c in configs {
            let _ = c.to_string();
        }
    }
});

/// The password of `text` as a URL (`scheme://user:password@host`), if it is at least 8
/// alphanumeric characters and occurs only once in `text` (so that finding it in a message
/// means the password was echoed, not some other part of the URL that happens to be equal).
fn password_of(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    let password = url.password()?;
    (password.len() >= 8
        && password.chars().all(|c| c.is_ascii_alphanumeric())
        && text.matches(password).count() == 1)
        .then(|| password.to_owned())
}

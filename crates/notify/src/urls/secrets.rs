//! The secret parts of a URL that is itself a secret (workflow and generic webhooks).

use url::Url;

use crate::secret::Secret;

/// The whole URL, its longer path segments, its query values and its password, each as a
/// secret (used to scrub third-party error texts that may quote a part of it).
pub(crate) fn url_secrets(raw: &str) -> Vec<Secret> {
    let mut v = vec![Secret::new(raw)];
    if let Ok(u) = Url::parse(raw) {
        if let Some(segments) = u.path_segments() {
            v.extend(segments.filter(|s| s.len() > 3).map(Secret::new));
        }
        v.extend(
            u.query_pairs()
                .map(|(_, value)| Secret::new(value.into_owned())),
        );
        if let Some(p) = u.password() {
            v.push(Secret::new(p));
        }
    }
    v
}

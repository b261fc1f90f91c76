//! Query parameters of a notification URL, matched case-insensitively, each to be consumed once.

use url::Url;

use crate::error::{UrlProblem, UrlResult};

use super::parts::nonempty;

/// Query parameters, matched case-insensitively; a service takes the ones it knows and
/// [`Query::finish`] fails on any left over.
pub(crate) struct Query {
    /// (lowercase key, original key, value)
    pairs: Vec<(String, String, String)>,
}

impl Query {
    /// The query of `url`.
    pub(crate) fn new(url: &Url) -> Self {
        Self {
            pairs: url
                .query_pairs()
                .map(|(k, v)| (k.to_ascii_lowercase(), k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Removes and returns the value of the first of `names` (lowercase aliases) present; two
    /// of them present is an error.
    pub(crate) fn take(&mut self, names: &[&str]) -> UrlResult<Option<String>> {
        let found: Vec<usize> = (0..self.pairs.len())
            .filter(|i| names.contains(&self.pairs[*i].0.as_str()))
            .collect();
        if found.len() > 1 {
            return Err(UrlProblem::DuplicateQueryParameter(
                self.pairs[found[1]].1.clone(),
            ));
        }
        Ok(found.first().map(|i| self.pairs.remove(*i).2))
    }

    /// A text value; empty counts as absent.
    pub(crate) fn string(&mut self, names: &[&str]) -> UrlResult<Option<String>> {
        Ok(nonempty(self.take(names)?))
    }

    /// A value read by `read` from its lowercase form; `read` returning `None` is an
    /// [`UrlProblem::InvalidQueryValue`] for `names[0]` saying it must be `expected`.
    pub(crate) fn value<T>(
        &mut self,
        names: &[&str],
        expected: &'static str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> UrlResult<Option<T>> {
        let Some(v) = self.take(names)? else {
            return Ok(None);
        };
        read(&v.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| UrlProblem::InvalidQueryValue {
                key: names.first().copied().unwrap_or_default().to_owned(),
                expected,
            })
    }

    /// A yes/no value (`yes`, `true`, `1`, `on` or `no`, `false`, `0`, `off`).
    pub(crate) fn bool(&mut self, name: &str, default: bool) -> UrlResult<bool> {
        let value = self.value(&[name], "yes or no", |v| match v {
            "yes" | "true" | "1" | "on" => Some(true),
            "no" | "false" | "0" | "off" => Some(false),
            _ => None,
        })?;
        Ok(value.unwrap_or(default))
    }

    /// A comma-separated list; empty items are dropped.
    pub(crate) fn list(&mut self, names: &[&str]) -> UrlResult<Vec<String>> {
        Ok(self
            .take(names)?
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Fails on the first parameter nobody consumed.
    pub(crate) fn finish(self) -> UrlResult<()> {
        match self.pairs.into_iter().next() {
            Some((_, key, _)) => Err(UrlProblem::UnknownQueryParameter(key)),
            None => Ok(()),
        }
    }

    /// The parameters nobody consumed, in order, with their original keys.
    pub(crate) fn rest(self) -> Vec<(String, String)> {
        self.pairs.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

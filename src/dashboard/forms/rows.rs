//! A submitted `application/x-www-form-urlencoded` body, and the rows of repeated fields in it
//! (`variant-0-key`, `variant-0-name`, `variant-1-key`, ...).

use crate::domain::MAX_VARIANTS;
use std::collections::BTreeMap;

/// Most rows a form may carry; indices beyond are ignored (a form is typed by a person).
const MAX_ROWS: usize = MAX_VARIANTS + 10;

/// The fields of a form, in order, repeated names kept.
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Result<FormData, String> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(FormData)
            .map_err(|e| format!("the form could not be read: {e}"))
    }

    /// The first value of `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (the boxes of a checkbox list that are ticked).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The rows named `{prefix}-{index}-{column}` by index, each built by `set` from its
    /// columns (unknown columns are for `set` to ignore).
    pub fn rows<T: Default>(
        &self,
        prefix: &str,
        set: impl Fn(&mut T, &str, &str),
    ) -> BTreeMap<usize, T> {
        let mut rows: BTreeMap<usize, T> = BTreeMap::new();
        for (k, value) in &self.0 {
            let Some((index, column)) = k
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.split_once('-'))
            else {
                continue;
            };
            if let Ok(index) = index.parse::<usize>()
                && index < MAX_ROWS
            {
                set(rows.entry(index).or_default(), column, value);
            }
        }
        rows
    }
}

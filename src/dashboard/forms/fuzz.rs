//! Property tests: form bodies of arbitrary bytes, or of request-like values url-encoded,
//! are read, checked and validated without a panic.

use super::{FormData, experiment};
use crate::fuzzing::request_like;
use proptest::prelude::*;
use serde_json::Value;

proptest! {
    #[test]
    fn form_bodies(bytes in proptest::collection::vec(any::<u8>(), 0..300), value in request_like()) {
        let encoded = match &value {
            Value::Object(map) => serde_urlencoded::to_string(
                map.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<Vec<_>>(),
            )
            .unwrap_or_default(),
            _ => String::new(),
        };
        for body in [bytes.as_slice(), encoded.as_bytes()] {
            if let Ok(data) = FormData::parse(body) {
                let mut form = experiment::read(&data);
                form.compact();
                if let Ok(draft) = experiment::to_draft(&form) {
                    let _ = draft.validate();
                }
            }
        }
    }
}

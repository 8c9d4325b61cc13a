//! Segments (named targeting rules): create, read, replace, delete. Experiments reference
//! them by key; the hot path reads them compiled (`audience`).

use super::audit::{self, Actor, Change};
use super::error::OrMissing;
use super::{Engine, EngineError};
use crate::domain::{Segment, SegmentDraft, SegmentKey};
use crate::store;

impl Engine {
    pub async fn create_segment(
        &self,
        actor: &Actor,
        draft: SegmentDraft,
    ) -> Result<Segment, EngineError> {
        self.limits().check_name("name", &draft.name)?;
        let spec = draft.validate(None)?;
        self.inner
            .settings
            .behavior_check()
            .check("rule", std::slice::from_ref(&spec.rule))?;
        self.write_audited(actor, "segment.create", move |conn| {
            let created = store::insert_segment(conn, &spec)?;
            Ok(Change {
                target: spec.key.to_string(),
                before: None,
                after: Some(audit::json(&created)),
                value: created,
            })
        })
        .await
    }

    pub async fn list_segments(&self) -> Result<Vec<Segment>, EngineError> {
        Ok(self.store().run(store::list_segments).await?)
    }

    pub async fn segment(&self, key: &str) -> Result<Segment, EngineError> {
        let k = key.to_string();
        self.store()
            .run(move |conn| store::get_segment(conn, &k))
            .await
            .or_missing(EngineError::unknown_segment(key))
    }

    /// Replaces a segment's name, description and rule; every experiment using it follows
    /// with the next refresh (this instance at once).
    pub async fn update_segment(
        &self,
        actor: &Actor,
        key: &str,
        draft: SegmentDraft,
    ) -> Result<Segment, EngineError> {
        let path_key =
            SegmentKey::parse(key).map_err(|_| EngineError::UnknownSegment(key.to_string()))?;
        self.limits().check_name("name", &draft.name)?;
        let spec = draft.validate(Some(&path_key))?;
        self.inner
            .settings
            .behavior_check()
            .check("rule", std::slice::from_ref(&spec.rule))?;
        self.write_audited(actor, "segment.replace", move |conn| {
            let key = spec.key.as_str();
            let before =
                store::get_segment(conn, key).or_missing(EngineError::unknown_segment(key))?;
            let updated =
                store::update_segment(conn, &spec).or_missing(EngineError::unknown_segment(key))?;
            Ok(Change {
                target: key.to_string(),
                before: Some(audit::json(&before)),
                after: Some(audit::json(&updated)),
                value: updated,
            })
        })
        .await
    }

    /// Deletes a segment; refused (409) while a non-stopped experiment references it.
    pub async fn delete_segment(&self, actor: &Actor, key: &str) -> Result<(), EngineError> {
        let k = key.to_string();
        self.write_audited(actor, "segment.delete", move |conn| {
            let before =
                store::get_segment(conn, &k).or_missing(EngineError::unknown_segment(&k))?;
            store::delete_segment(conn, &k).or_missing(EngineError::unknown_segment(&k))?;
            Ok(Change {
                target: k,
                before: Some(audit::json(&before)),
                after: None,
                value: (),
            })
        })
        .await
    }
}
